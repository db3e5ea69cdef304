// The CUDA entry points check their arguments on the main thread before they ask for a device,
// with the CPU's checks and messages: a bad argument is the same TypeError or RangeError, with
// the same code, from cudaDapoLoss, cudaDapoLossAsync, cudaDapoLossFromHidden(Async) and
// cudaGroupAdvantages as from their CPU twins, on a machine with a GPU or without one. Faults in
// the values, which the kernels find, are compared only where a device is usable (skipped with
// the reason elsewhere; test/cuda/loss-logits.test.ts compares more of them).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { cudaDapoLoss, cudaDapoLossAsync, cudaGroupAdvantages, DeviceTensor, numberToBf16 } from '../src/index.js';
import { native, type NativeLossArgs } from '../src/native.js';
import type { HiddenLossArgs } from '../src/loss/hidden.js';
import { skipReason } from './cuda/device.js';
import { LOSS_BAD_CASES } from './helpers/loss-bad-cases.js';
import { randomLossArgs } from './helpers/loss-inputs.js';
import { Rng, testSeed } from './helpers/random.js';

const seed = testSeed();
console.log(`cuda-bad-input tests: DAPO_TEST_SEED=${seed}`);
const rng = new Rng(seed);

type Coded = Error & { code?: string };

function thrownBy(fn: () => unknown): Coded {
  try {
    fn();
  } catch (e) {
    return e as Coded;
  }
  assert.fail('the CPU twin accepted the arguments');
}

/** The CUDA error is the CPU's: same class and code, and its message starts with the CPU's (CUDA may add ", or a DeviceTensor of that dtype"). */
function sameError(cpu: Coded): (e: unknown) => boolean {
  return (e: unknown) => {
    const got = e as Coded;
    assert.equal(got.constructor.name, cpu.constructor.name, got.message);
    assert.equal(got.code, cpu.code, got.message);
    assert.ok(got.message.startsWith(cpu.message), `CUDA: '${got.message}'\nCPU:  '${cpu.message}'`);
    return true;
  };
}

async function expectSameSyncAndAsync(cpu: Coded, sync: () => unknown, async: () => Promise<unknown>): Promise<void> {
  assert.throws(sync, sameError(cpu));
  await assert.rejects(async(), sameError(cpu));
}

/** args with a getter on `key` that transfers `array`'s buffer away (read after the arrays): a fresh copy per call. */
function detachingOn<T extends object>(args: T, key: string, array: (a: T) => ArrayBufferView): () => T {
  return () => {
    const copy = { ...args } as Record<string, unknown>;
    for (const [k, v] of Object.entries(copy)) if (ArrayBuffer.isView(v)) copy[k] = (v as Uint8Array).slice();
    const victim = array(copy as T);
    const value = copy[key];
    Object.defineProperty(copy, key, {
      enumerable: true,
      get() {
        structuredClone(victim.buffer, { transfer: [victim.buffer as ArrayBuffer] });
        return value;
      },
    });
    return copy as T;
  };
}

describe('cudaDapoLoss checks its arguments as dapoLoss does, before the device', () => {
  const valid = (): NativeLossArgs => randomLossArgs(rng, { n: 6, v: 11, dtype: 'f32', aggregation: 'token-mean' });
  for (const [name, mutate, kind, message, foundBy = 'args'] of LOSS_BAD_CASES) {
    if (foundBy === 'api') continue; // the TypeScript wrapper's check, before either backend
    // A fault in the values is found by the kernels, so it needs a device.
    const skip = foundBy === 'data' && skipReason ? `found by the kernels: ${skipReason}` : false;
    test(name, { skip }, async () => {
      const args = mutate(valid()) as NativeLossArgs;
      const cpu = thrownBy(() => native.dapoLoss(args));
      assert.ok(cpu instanceof kind && message.test(cpu.message), cpu.message);
      await expectSameSyncAndAsync(cpu, () => cudaDapoLoss(args), () => cudaDapoLossAsync(args));
    });
  }

  test('arrays over a SharedArrayBuffer are read like the others', async () => {
    const args = valid();
    const shared = (a: Float32Array) => {
      const s = new Float32Array(new SharedArrayBuffer(a.byteLength));
      s.set(a);
      return s;
    };
    const bad = { ...args, oldLogprobs: shared(args.oldLogprobs), advantages: shared(args.advantages).subarray(2) };
    await expectSameSyncAndAsync(thrownBy(() => native.dapoLoss(bad)), () => cudaDapoLoss(bad), () => cudaDapoLossAsync(bad));
  });

  // The arrays are handed over (copied, in an async call) after the options are read.
  test('a getter that detaches an array read before it', async () => {
    const fresh = detachingOn({ ...valid(), clipLow: 0.2 }, 'clipLow', (a) => a.oldLogprobs);
    const cpu = thrownBy(() => native.dapoLoss(fresh()));
    assert.equal(cpu.code, 'ERR_DAPO_DETACHED');
    assert.equal(cpu.message, 'oldLogprobs was detached or resized while the arguments were read');
    await expectSameSyncAndAsync(cpu, () => cudaDapoLoss(fresh()), () => cudaDapoLossAsync(fresh()));
  });

  test('inPlace without a DeviceTensor of logits', async () => {
    const args = { ...valid(), inPlace: true };
    assert.throws(() => cudaDapoLoss(args), { name: 'TypeError', code: 'ERR_DAPO_TYPE', message: 'inPlace needs logits as a DeviceTensor' });
    await assert.rejects(cudaDapoLossAsync(args), { name: 'TypeError', code: 'ERR_DAPO_TYPE' });
  });
});

describe('cudaDapoLossFromHidden checks its arguments as dapoLossFromHidden does, before the device', () => {
  const n = 4, h = 3, v = 5;
  const valid = (): HiddenLossArgs => ({
    hidden: Uint16Array.from(rng.floats(n * h, 1), numberToBf16),
    weight: Uint16Array.from(rng.floats(v * h, 1), numberToBf16),
    hiddenSize: h,
    vocabSize: v,
    tokens: Int32Array.from({ length: n }, () => rng.int(v)),
    oldLogprobs: Float32Array.from({ length: n }, () => -rng.uniform(0.5, 3)),
    advantages: Float32Array.from({ length: n }, () => rng.uniform(-1, 1)),
    mask: new Uint8Array(n).fill(1),
  });
  const detached = (a: Uint8Array) => {
    const copy = a.slice();
    structuredClone(copy.buffer, { transfer: [copy.buffer] });
    return copy;
  };
  const cases: Array<[string, (a: HiddenLossArgs) => unknown, RegExp]> = [
    ['options not an object', () => 'x', /^dapoLossFromHidden options must be an object$/],
    ['hidden missing', (a) => ({ ...a, hidden: undefined }), /^hidden is required and must be a Uint16Array/],
    ['hidden as Float64Array', (a) => ({ ...a, hidden: new Float64Array(n * h) }), /^hidden must be a Uint16Array \(bfloat16 bits\) or a Float32Array/],
    ['weight of another dtype', (a) => ({ ...a, weight: new Float32Array(v * h) }), /^hidden and weight must have the same dtype$/],
    ['hiddenSize missing', (a) => ({ ...a, hiddenSize: undefined }), /^hiddenSize is required$/],
    ['hiddenSize fractional', (a) => ({ ...a, hiddenSize: 1.5 }), /^hiddenSize must be a positive integer below 2\^53, got 1.5$/],
    ['vocabSize 0', (a) => ({ ...a, vocabSize: 0 }), /^vocabSize must be a positive integer/],
    ['hidden of the wrong length', (a) => ({ ...a, hiddenSize: 2 }), /^hidden has length 12, expected N \* hiddenSize = 4 \* 2$/],
    ['weight of the wrong length', (a) => ({ ...a, vocabSize: 6 }), /^weight has length 15, expected vocabSize \* hiddenSize = 6 \* 3$/],
    ['N x hiddenSize past 64 bits', (a) => ({ ...a, hiddenSize: 2 ** 52, oldLogprobs: new Float32Array(4096), advantages: new Float32Array(4096), mask: new Uint8Array(4096), tokens: new Int32Array(4096) }),
      /^N \* hiddenSize \(4096 x 4503599627370496\) is too large to address$/],
    ['chunkSize 0', (a) => ({ ...a, chunkSize: 0 }), /^chunkSize must be a positive integer/],
    ['maxChunkBytes fractional', (a) => ({ ...a, maxChunkBytes: 1.5 }), /^maxChunkBytes must be a positive integer/],
    ['tokens missing', (a) => ({ ...a, tokens: undefined }), /^tokens \(Int32Array\) is required with logits$/],
    ['mask too long', (a) => ({ ...a, mask: new Uint8Array(n + 1) }), /^mask has length 5 but oldLogprobs has N = 4$/],
    ['mask over a detached buffer', (a) => ({ ...a, mask: detached(a.mask as Uint8Array) }), /^mask refers to a detached buffer$/],
    ['tokenCount 1e-300', (a) => ({ ...a, tokenCount: 1e-300 }), /^tokenCount must be a positive integer below 2\^53, got 1e-300$/],
    ['seqCount fractional', (a) => ({ ...a, aggregation: 'seq-mean-token-sum', seqIds: new Int32Array(n), seqCount: 0.5 }), /^seqCount must be a positive integer/],
    ['seq-mean without seqIds', (a) => ({ ...a, aggregation: 'seq-mean-token-mean' }), /^seqIds \(Int32Array\) is required by the seq-mean aggregations$/],
    ['clipLow of 1', (a) => ({ ...a, clipLow: 1 }), /^clipLow must be in \[0, 1\)/],
    ['klCoef without refLogprobs', (a) => ({ ...a, klCoef: 0.1 }), /^refLogprobs \(Float32Array\) is required when klCoef > 0$/],
  ];
  for (const [name, mutate, message] of cases) {
    test(name, async () => {
      const args = mutate(valid()) as HiddenLossArgs;
      const cpu = thrownBy(() => native.dapoLossFromHidden(args));
      assert.match(cpu.message, message);
      assert.ok(cpu.code === 'ERR_DAPO_TYPE' || cpu.code === 'ERR_DAPO_RANGE', `${cpu.code}: ${cpu.message}`);
      await expectSameSyncAndAsync(cpu, () => native.cudaDapoLossFromHidden(args), () => native.cudaDapoLossFromHiddenAsync(args));
    });
  }

  // A synchronous call uses the arrays in place, so it checks them again after the last getter;
  // an async call copied each one as it was read, before the getter ran.
  test('a getter that detaches an array read before it', async () => {
    const fresh = detachingOn({ ...valid(), clipLow: 0.2 }, 'clipLow', (a) => a.hidden as Uint16Array);
    const cpu = thrownBy(() => native.dapoLossFromHidden(fresh()));
    assert.equal(cpu.code, 'ERR_DAPO_DETACHED');
    assert.equal(cpu.message, 'hidden was detached or resized while the arguments were read');
    assert.throws(() => native.cudaDapoLossFromHidden(fresh()), sameError(cpu));
    const pending = native.cudaDapoLossFromHiddenAsync(fresh());
    if (skipReason) await assert.rejects(pending, { code: 'ERR_DAPO_CUDA_UNAVAILABLE' });
    else assert.ok(Number.isFinite((await pending).loss));
  });

  test('float32 hidden states, which only the CPU takes, are a TypeError on CUDA', async () => {
    const args = { ...valid(), hidden: new Float32Array(n * h), weight: new Float32Array(v * h) };
    assert.ok(Number.isFinite(native.dapoLossFromHidden(args).loss));
    const error = { name: 'TypeError', code: 'ERR_DAPO_TYPE', message: /^on CUDA, hidden and weight must be bfloat16/ };
    assert.throws(() => native.cudaDapoLossFromHidden(args), error);
    await assert.rejects(native.cudaDapoLossFromHiddenAsync(args), error);
  });
});

describe('cudaGroupAdvantages checks its arguments as groupAdvantages does, before the device', () => {
  const rewards = Float32Array.from([1, 0, 1, 1, 0, 0]);
  const cases: Array<[string, unknown[]]> = [
    ['rewards missing', []],
    ['rewards as Float64Array', [Float64Array.from(rewards), 2]],
    ['groupSize missing', [rewards]],
    ['groupSize fractional', [rewards, 1.5]],
    ['groupSize 0', [rewards, 0]],
    ['groupSize past 2^53', [rewards, 2 ** 60]],
    ['rewards not a multiple of groupSize', [rewards, 4]],
    ['options not an object', [rewards, 2, 3]],
    ['eps negative', [rewards, 2, { eps: -1 }]],
    ['std not a boolean', [rewards, 2, { std: 'yes' }]],
  ];
  for (const [name, args] of cases) {
    test(name, () => {
      const cpu = thrownBy(() => (native.groupAdvantages as (...a: unknown[]) => unknown)(...args));
      assert.throws(() => (cudaGroupAdvantages as (...a: unknown[]) => unknown)(...args), sameError(cpu));
    });
  }
});

describe('DeviceTensor factories check their arguments before the device', () => {
  const cases: Array<[string, () => unknown, typeof TypeError | typeof RangeError, RegExp]> = [
    ['an unknown dtype', () => DeviceTensor.empty('float64' as never, 1), RangeError, /^dtype must be 'float32', 'bfloat16', 'int32' or 'uint8', got 'float64'$/],
    ['a fractional length', () => DeviceTensor.empty('float32', 1.5), RangeError, /^length must be a non-negative integer below 2\^53, got 1.5$/],
    ['a negative length', () => DeviceTensor.empty('uint8', -1), RangeError, /^length must be a non-negative integer/],
    ['a length that is not a number', () => DeviceTensor.empty('int32', '4' as never), TypeError, /^DeviceTensor.empty\(dtype, length\)/],
    ['a Float64Array', () => DeviceTensor.upload(new Float64Array(2) as never), TypeError, /^DeviceTensor.upload takes a Float32Array/],
    ['a detached array', () => {
      const a = new Float32Array(4);
      structuredClone(a.buffer, { transfer: [a.buffer] });
      return DeviceTensor.upload(a);
    }, TypeError, /^array refers to a detached buffer$/],
  ];
  for (const [name, call, kind, message] of cases) {
    test(name, () => {
      assert.throws(call, (e: Coded) => {
        assert.ok(e instanceof kind, `${e.constructor.name}: ${e.message}`);
        assert.match(e.message, message);
        assert.equal(e.code, kind === TypeError ? 'ERR_DAPO_TYPE' : 'ERR_DAPO_RANGE');
        return true;
      });
    });
  }
});
