// The CUDA LM-head loss (cuBLASLt bf16 GEMMs per token chunk) against its CPU twin.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { DeviceTensor } from '../../src/loss/device.js';
import { dapoLossFromHidden, type HiddenLossArgs } from '../../src/loss/hidden.js';
import { dapoLoss } from '../../src/loss/index.js';
import { bf16ToNumber, numberToBf16 } from '../../src/loss/reference.js';
import type { Aggregation } from '../../src/native.js';
import { Rng, testSeed } from '../helpers/random.js';
import { checkErrors, maxRelError, randomSeqIds, skipReason, TOLERANCE } from './device.js';

const seed = testSeed();
console.log(`cuda hidden tests: DAPO_TEST_SEED=${seed}`);
const skip = skipReason;

function randomHidden(rng: Rng, n: number, h: number, v: number, aggregation: Aggregation): HiddenLossArgs {
  const hidden = Uint16Array.from(rng.floats(n * h, 1), numberToBf16);
  const weight = Uint16Array.from(rng.floats(v * h, 2 / Math.sqrt(h)), numberToBf16);
  const tokens = Int32Array.from({ length: n }, () => rng.int(v));
  const advantages = Float32Array.from({ length: n }, () => (rng.next() < 0.5 ? -1 : 1) * rng.uniform(0.1, 2));
  const mask = Uint8Array.from({ length: n }, () => (rng.next() < 0.8 ? 1 : 0));
  const base = { hidden, weight, hiddenSize: h, vocabSize: v, tokens, advantages, mask, oldLogprobs: new Float32Array(n) };
  const current = dapoLossFromHidden({ ...base, chunkSize: 8192 }).logprobs;
  const oldLogprobs = Float32Array.from(current, (lp) => lp - Math.log(rng.uniform(0.55, 1.7)));
  return { ...base, oldLogprobs, seqIds: randomSeqIds(rng, n), aggregation, entropy: true, clipC: 3 };
}

describe('CUDA dapoLossFromHidden vs the CPU twin', () => {
  const rng = new Rng(seed);
  const cases: Array<{ n: number; h: number; v: number; chunk?: number; aggregation: Aggregation }> = [
    { n: 1, h: 8, v: 5, aggregation: 'token-mean' },
    { n: 17, h: 64, v: 1001, aggregation: 'seq-mean-token-mean' },
    { n: 100, h: 96, v: 4099, chunk: 7, aggregation: 'token-mean' },
    { n: 64, h: 72, v: 3000, chunk: 64, aggregation: 'seq-mean-token-sum' },
  ];
  for (const c of cases) {
    test(`N=${c.n} H=${c.h} V=${c.v} chunk=${c.chunk ?? 'auto'} ${c.aggregation}`, { skip }, () => {
      const args = randomHidden(rng, c.n, c.h, c.v, c.aggregation);
      const want = dapoLossFromHidden(args);
      const got = dapoLossFromHidden({ ...args, chunkSize: c.chunk, device: 'cuda' });
      checkErrors(`N=${c.n} V=${c.v}`, {
        loss: Math.abs(got.loss - want.loss) / Math.max(Math.abs(want.loss), 1),
        logprobs: maxRelError(got.logprobs, want.logprobs),
        entropy: maxRelError(got.entropy!, want.entropy!),
        gradHidden: maxRelError(got.gradHidden as Float32Array, want.gradHidden as Float32Array),
        gradWeight: maxRelError(got.gradWeight as Float32Array, want.gradWeight as Float32Array),
      }, TOLERANCE.bf16);
      assert.equal(got.stats.tokens, want.stats.tokens);
      console.log(`  peak extra device memory ${((got.peakExtraBytes ?? 0) / 2 ** 20).toFixed(1)} MiB, ${got.kernelMs?.toFixed(3)} ms`);
    });
  }

  test('agrees with the fused logits kernel on the same logits', { skip }, () => {
    const args = randomHidden(rng, 9, 32, 777, 'token-mean');
    const got = dapoLossFromHidden({ ...args, device: 'cuda' });
    const x = Float64Array.from(args.hidden as Uint16Array, bf16ToNumber);
    const w = Float64Array.from(args.weight as Uint16Array, bf16ToNumber);
    const logits = new Float32Array(9 * 777);
    for (let i = 0; i < 9; i++) for (let j = 0; j < 777; j++) {
      let s = 0;
      for (let k = 0; k < 32; k++) s += x[i * 32 + k] * w[j * 32 + k];
      logits[i * 777 + j] = s;
    }
    const ref = dapoLoss({ ...args, logits, vocabSize: 777, tokens: args.tokens as Int32Array, oldLogprobs: args.oldLogprobs as Float32Array, advantages: args.advantages as Float32Array, mask: args.mask as Uint8Array, seqIds: args.seqIds as Int32Array, refLogprobs: undefined, device: 'cuda' });
    checkErrors('vs logits kernel', { logprobs: maxRelError(got.logprobs, ref.logprobs) }, TOLERANCE.bf16);
  });

  test('DeviceTensor inputs give DeviceTensor gradients', { skip }, () => {
    const args = randomHidden(rng, 12, 40, 500, 'token-mean');
    const want = dapoLossFromHidden(args);
    const hidden = DeviceTensor.upload(args.hidden as Uint16Array);
    const weight = DeviceTensor.upload(args.weight as Uint16Array);
    const got = dapoLossFromHidden({ ...args, hidden, weight, device: 'cuda' });
    const gh = got.gradHidden as ReturnType<typeof DeviceTensor.upload>;
    const gw = got.gradWeight as ReturnType<typeof DeviceTensor.upload>;
    checkErrors('device tensors', {
      gradHidden: maxRelError(gh.download() as Float32Array, want.gradHidden as Float32Array),
      gradWeight: maxRelError(gw.download() as Float32Array, want.gradWeight as Float32Array),
    }, TOLERANCE.bf16);
    for (const t of [hidden, weight, gh, gw]) t.dispose();
  });

  test('fp32 inputs are refused on CUDA with a TypeError', { skip }, () => {
    const args = randomHidden(rng, 2, 4, 6, 'token-mean');
    const hidden = Float32Array.from(args.hidden as Uint16Array, bf16ToNumber);
    const weight = Float32Array.from(args.weight as Uint16Array, bf16ToNumber);
    assert.throws(() => dapoLossFromHidden({ ...args, hidden, weight, device: 'cuda' }), TypeError);
  });
});
