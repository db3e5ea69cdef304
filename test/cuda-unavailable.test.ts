// Without a usable GPU every CUDA entry point fails with an error that says why, the 'auto'
// device falls back to the CPU, and the process goes on. (With a GPU, test/cuda/ covers them.)
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { cudaDapoLoss, cudaDapoLossAsync, cudaGroupAdvantages, cudaInfo, dapoLoss, dapoLossFromHidden, DeviceTensor } from '../src/index.js';
import { native } from '../src/native.js';
import { randomLossArgs } from './helpers/loss-inputs.js';
import { Rng, testSeed } from './helpers/random.js';

const info = cudaInfo();
const skip = info.loaded && info.devices > 0 ? 'a CUDA device is present: test/cuda/ checks the CUDA paths' : false;
const unavailable = (e: unknown) => e instanceof Error && (e as { code?: string }).code === 'ERR_DAPO_CUDA_UNAVAILABLE' && /CUDA is not available: \S/.test(e.message);

test('cudaInfo says why CUDA is unusable', { skip }, () => {
  assert.equal(info.devices, 0);
  assert.equal(typeof info.reason, 'string');
  assert.ok(info.reason!.length > 0);
});

test('CUDA calls, sync and async, fail with the reason; auto falls back to the CPU', { skip }, async () => {
  const args = randomLossArgs(new Rng(testSeed()), { n: 6, v: 40, dtype: 'f32', aggregation: 'token-mean', clipC: 3 });
  assert.throws(() => dapoLoss({ ...args, device: 'cuda' }), /device 'cuda' is not available: \S/);
  const auto = dapoLoss({ ...args, device: 'auto' });
  assert.deepEqual(auto, dapoLoss(args));
  assert.throws(() => cudaDapoLoss(args), unavailable);
  await assert.rejects(cudaDapoLossAsync(args), unavailable);
  const hiddenArgs = {
    tokens: args.tokens!,
    oldLogprobs: args.oldLogprobs,
    advantages: args.advantages,
    mask: args.mask,
    hidden: new Uint16Array(6 * 4).fill(0x3f80), weight: new Uint16Array(40 * 4).fill(0x3f00), hiddenSize: 4, vocabSize: 40 };
  assert.throws(() => dapoLossFromHidden({ ...hiddenArgs, device: 'cuda' }), /device 'cuda' is not available/);
  await assert.rejects(native.cudaDapoLossFromHiddenAsync(hiddenArgs), unavailable);
  assert.throws(() => cudaGroupAdvantages(Float32Array.from([1, 0, 1, 1]), 2), unavailable);
  assert.throws(() => DeviceTensor.empty('float32', 4), unavailable);
  // Still alive and computing.
  assert.ok(Number.isFinite(dapoLoss(args).loss));
});
