// The fused CUDA loss from logits against the CPU kernel, over shapes that exercise every path:
// N=1, odd V, V not a multiple of the vector width, V past the register-resident limit
// (streaming kernel), all-masked rows, bf16 and fp32, every aggregation, dual clip.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { cudaDapoLoss, DeviceTensor } from '../../src/loss/device.js';
import { dapoLoss, dapoLossAsync } from '../../src/loss/index.js';
import { numberToBf16 } from '../../src/loss/reference.js';
import type { Aggregation, NativeLossArgs } from '../../src/native.js';
import { Rng, testSeed } from '../helpers/random.js';
import { checkErrors, maxRelError, randomLogprobArgs, randomLossArgs, skipReason, TOLERANCE } from './device.js';

const seed = testSeed();
console.log(`cuda loss tests: DAPO_TEST_SEED=${seed}`);
const skip = skipReason;

const AGGREGATIONS: Aggregation[] = ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum'];
const SHAPES: Array<[number, number]> = [
  [1, 1], [1, 5], [3, 4], [7, 33], [5, 1000], [4, 1001], [3, 4099], [2, 32768], [2, 32771], [2, 151936], [1, 151943],
  [2, 300007], // beyond 8 x 512 x 16 x 4 fp32 values per row: the streaming kernel
  [64, 129],
];

function compare(label: string, args: NativeLossArgs, dtype: 'f32' | 'bf16') {
  const want = dapoLoss(args);
  const got = dapoLoss({ ...args, device: 'cuda' });
  const errors: Record<string, number> = {
    loss: Math.abs(got.loss - want.loss) / Math.max(Math.abs(want.loss), 1),
    grad: maxRelError(got.grad, want.grad),
    logprobs: maxRelError(got.logprobs, want.logprobs),
    approxKl: Math.abs(got.stats.approxKl - want.stats.approxKl) / Math.max(Math.abs(want.stats.approxKl), 1),
  };
  if (want.entropy) errors.entropy = maxRelError(got.entropy!, want.entropy);
  checkErrors(label, errors, TOLERANCE[dtype]);
  assert.equal(got.stats.tokens, want.stats.tokens);
  // Clip counts may differ only where a ratio sits on a clip edge to the last bit; on random data they agree.
  assert.equal(got.stats.clipFracLow, want.stats.clipFracLow);
  assert.equal(got.stats.clipFracHigh, want.stats.clipFracHigh);
  assert.equal(got.stats.clipFracDual, want.stats.clipFracDual);
  return got;
}

describe('CUDA dapoLoss from logits vs the CPU kernel', () => {
  const rng = new Rng(seed);
  let k = 0;
  for (const [n, v] of SHAPES) {
    for (const dtype of ['f32', 'bf16'] as const) {
      const aggregation = AGGREGATIONS[k++ % 3];
      const clipC = k % 2 ? 3 : undefined;
      test(`N=${n} V=${v} ${dtype} ${aggregation}${clipC ? ' clipC' : ''}`, { skip }, () => {
        compare(`N=${n} V=${v} ${dtype}`, randomLossArgs(rng, { n, v, dtype, aggregation, clipC, entropy: true }), dtype);
      });
    }
  }

  test('all-masked rows and an all-masked batch', { skip }, () => {
    const args = randomLossArgs(rng, { n: 6, v: 517, dtype: 'f32', aggregation: 'token-mean', entropy: true });
    args.mask = Uint8Array.from([1, 0, 0, 1, 0, 1]);
    const got = compare('some rows masked', args, 'f32');
    for (const i of [1, 2, 4]) assert.ok(got.grad.subarray(i * 517, (i + 1) * 517).every((g) => g === 0));
    const none = dapoLoss({ ...args, mask: new Uint8Array(6), device: 'cuda' });
    assert.equal(none.loss, 0);
    assert.ok(none.grad.every((g) => g === 0));
    assert.equal(none.stats.tokens, 0);
  });

  test('log-probs mode', { skip }, () => {
    compare('log-probs', { ...randomLogprobArgs(rng, 1000), clipC: 3 }, 'f32');
  });

  test('results do not change from run to run (fixed-order reductions)', { skip }, () => {
    const args = randomLossArgs(rng, { n: 33, v: 32768, dtype: 'bf16', aggregation: 'token-mean', entropy: true });
    const a = dapoLoss({ ...args, device: 'cuda' });
    const b = dapoLoss({ ...args, device: 'cuda' });
    assert.equal(a.loss, b.loss);
    assert.deepEqual(a.grad, b.grad);
  });

  test('dapoLossAsync on CUDA', { skip }, async () => {
    const args = randomLossArgs(rng, { n: 8, v: 4097, dtype: 'f32', aggregation: 'token-mean' });
    const got = await dapoLossAsync({ ...args, device: 'cuda' });
    checkErrors('async', { grad: maxRelError(got.grad, dapoLoss(args).grad) }, TOLERANCE.f32);
  });

  test('DeviceTensor inputs, a DeviceTensor gradient, and in place over fp32 and bf16 logits', { skip }, () => {
    for (const dtype of ['f32', 'bf16'] as const) {
      const args = randomLossArgs(rng, { n: 5, v: 2053, dtype, aggregation: 'token-mean', entropy: true });
      const want = dapoLoss(args);
      const logits = DeviceTensor.upload(args.logits!);
      const tokens = DeviceTensor.upload(args.tokens!);
      const r = cudaDapoLoss({ ...args, logits, tokens });
      const grad = r.grad as ReturnType<typeof DeviceTensor.upload>;
      assert.equal(grad.dtype, 'float32');
      checkErrors(`device ${dtype}`, { grad: maxRelError(grad.download() as Float32Array, want.grad) }, TOLERANCE[dtype]);
      grad.dispose();
      const inPlace = cudaDapoLoss({ ...args, logits, tokens, inPlace: true });
      assert.equal(inPlace.grad, logits);
      const written = logits.download();
      const asNumbers = dtype === 'f32' ? (written as Float32Array) : Float32Array.from(written as Uint16Array, (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]);
      checkErrors(`in place ${dtype}`, { grad: maxRelError(asNumbers, want.grad) }, dtype === 'f32' ? TOLERANCE.f32 : TOLERANCE.bf16);
      logits.dispose();
      tokens.dispose();
      assert.equal(logits.disposed, true);
      assert.throws(() => logits.download(), TypeError);
    }
  });

  test('bad input gives the CPU kernel errors', { skip }, () => {
    const args = randomLossArgs(rng, { n: 4, v: 50, dtype: 'f32', aggregation: 'token-mean' });
    const expectSame = (bad: NativeLossArgs) => {
      let cpu: Error | undefined;
      try { dapoLoss(bad); } catch (e) { cpu = e as Error; }
      assert.ok(cpu, 'the CPU kernel should throw');
      assert.throws(() => dapoLoss({ ...bad, device: 'cuda' }), { name: cpu!.name, message: cpu!.message });
    };
    expectSame({ ...args, tokens: Int32Array.from([0, 1, 50, 2]) });
    expectSame({ ...args, oldLogprobs: Float32Array.from([0, NaN, 0, 0]) });
    const logits = Float32Array.from(args.logits as Float32Array);
    logits[2 * 50 + 7] = Infinity;
    expectSame({ ...args, logits });
    expectSame({ ...args, aggregation: 'seq-mean-token-mean', seqIds: Int32Array.from([0, 0, 9, 1]) });
    expectSame({ ...args, vocabSize: 49 });
    const bf = Uint16Array.from(args.logits as Float32Array, numberToBf16);
    bf[3 * 50] = 0x7fc0;
    expectSame({ ...args, logits: bf });
  });
});
