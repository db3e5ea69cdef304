// The CUDA loss calls own what they use while they run, as the CPU's do (test/robust-native.test.ts):
// host arrays over an ArrayBuffer are copied when an async call is made, a gradOut is written
// from the call's own buffer and copied at the end (ERR_DAPO_DETACHED when it was transferred
// away), and a DeviceTensor is used in place and held: dispose() during a call marks it disposed
// at once and frees its memory when the call ends. The cases run in a child process (this file,
// started again with DAPO_CUDA_OWNERSHIP_CHILD=1), so a crash or a kernel on freed device memory
// fails this test instead of ending the suite.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { cudaDapoLoss, cudaDapoLossAsync, DeviceTensor } from '../../src/loss/device.js';
import type { CudaLossArgs, CudaLossResult } from '../../src/loss/cuda-types.js';
import { numberToBf16 } from '../../src/loss/reference.js';
import { native, type NativeLossArgs } from '../../src/native.js';
import { asyncLossCases, bigLogitsArgs, collect, detachOnGet, occupyThreadPool, sameLoss, transferWhileRunning, withInputsZeroed } from '../helpers/ownership.js';
import { Rng } from '../helpers/random.js';
import { skipReason } from './device.js';

type Outcome = { case: string; start?: boolean; ok?: boolean; value?: unknown; error?: { name: string; code?: string; message: string } };
type Tensor = ReturnType<typeof DeviceTensor.upload>;

const MiB = 2 ** 20;

function gradOf(r: CudaLossResult): Float32Array {
  return r.grad instanceof Float32Array ? r.grad : ((r.grad as Tensor).download() as Float32Array);
}

/** Bitwise the same loss and gradient, which may be on the device. */
function same(got: CudaLossResult, want: CudaLossResult): boolean {
  return sameLoss({ loss: got.loss, grad: gradOf(got) }, { loss: want.loss, grad: gradOf(want) });
}

/** Host token arrays beside logits on the device. */
function mixedArgs(seed: number): { args: CudaLossArgs; logits: Tensor; host: NativeLossArgs } {
  const host = bigLogitsArgs(seed, 64, 4096);
  const logits = DeviceTensor.upload(host.logits!);
  return { args: { ...host, logits }, logits, host };
}

function hiddenArgs(seed: number) {
  const rng = new Rng(seed);
  const n = 96, h = 64, v = 3000;
  const bits = (count: number, scale: number) => Uint16Array.from({ length: count }, () => numberToBf16(rng.normal() * scale));
  return {
    hidden: bits(n * h, 1), weight: bits(v * h, 0.1), hiddenSize: h, vocabSize: v,
    tokens: Int32Array.from({ length: n }, () => rng.int(v)),
    oldLogprobs: Float32Array.from({ length: n }, () => -8 - rng.next()),
    advantages: Float32Array.from({ length: n }, () => rng.normal()),
    mask: new Uint8Array(n).fill(1),
  };
}

const CASES: Record<string, () => Promise<unknown>> = {
  // Typed arrays only: the same cases as the CPU's (test/helpers/crash-cases.ts).
  ...asyncLossCases(cudaDapoLossAsync, cudaDapoLoss),
  // A DeviceTensor beside host arrays: the host arrays are copied too (they were read in place).
  async 'mixed-inputs-overwritten'() {
    const { args, logits, host } = mixedArgs(4);
    const want = cudaDapoLoss(args);
    const got = await withInputsZeroed(() => cudaDapoLossAsync(args), [host.tokens!, host.oldLogprobs, host.advantages, host.mask]);
    const result = { same: same(got, want) };
    logits.dispose();
    return result;
  },
  async 'mixed-gradout-transfer'() {
    const { args, logits } = mixedArgs(5);
    const gradOut = new Float32Array(logits.length);
    try {
      await transferWhileRunning(() => cudaDapoLossAsync({ ...args, gradOut }), gradOut.buffer);
      return 'resolved';
    } finally {
      logits.dispose();
    }
  },
  async 'mixed-gradout-kept'() {
    const { args, logits } = mixedArgs(6);
    const want = cudaDapoLoss(args);
    const gradOut = new Float32Array(logits.length);
    const got = await cudaDapoLossAsync({ ...args, gradOut });
    logits.dispose();
    return { same: got.grad === gradOut && same(got, want) };
  },
  // dispose() of a tensor an async call uses: disposed at once, freed when the call ends. The
  // pool is kept busy so that the call has not started when dispose() runs.
  async 'dispose-during-async'() {
    const host = bigLogitsArgs(7, 1024, 65536); // 256 MiB of logits
    const bytes = host.logits!.byteLength;
    const want = cudaDapoLoss(host);
    const freeBefore = native.cudaMemInfo().free;
    const logits = DeviceTensor.upload(host.logits!);
    const gradOut = DeviceTensor.empty('float32', logits.length);
    const busy = occupyThreadPool();
    const pending = cudaDapoLossAsync({ ...host, logits, gradOut });
    pending.catch(() => undefined);
    logits.dispose();
    const disposedAtOnce = logits.disposed;
    let refused = '';
    try {
      cudaDapoLoss({ ...host, logits });
    } catch (e) {
      refused = `${(e as { code?: string }).code}: ${(e as Error).message}`;
    }
    const freeDuring = native.cudaMemInfo().free;
    await busy;
    const got = await pending;
    const freeAfter = native.cudaMemInfo().free;
    const result = {
      same: same(got, want),
      disposedAtOnce,
      refused,
      heldWhileQueued: freeBefore - freeDuring >= 1.9 * bytes, // the logits and gradOut
      freedAtTheEnd: freeAfter - freeDuring >= 0.75 * bytes,
    };
    if (!result.heldWhileQueued || !result.freedAtTheEnd)
      console.error(`free MiB: before ${freeBefore / MiB}, during ${freeDuring / MiB}, after ${freeAfter / MiB}`);
    gradOut.dispose();
    return result;
  },
  // The same for a tensor written in place.
  async 'dispose-in-place-during-async'() {
    const { args, logits } = mixedArgs(8);
    const busy = occupyThreadPool();
    const pending = cudaDapoLossAsync({ ...args, inPlace: true });
    pending.catch(() => undefined);
    logits.dispose();
    await busy;
    const got = await pending;
    return { gradIsLogits: got.grad === logits, finite: Number.isFinite(got.loss), disposed: logits.disposed };
  },
  // A getter that disposes a tensor read before it, in a synchronous call: the call still runs
  // on live memory, which goes when it returns. (clipLow is read once, after every array.)
  async 'dispose-in-getter'() {
    const { args, logits } = mixedArgs(9);
    const want = cudaDapoLoss(args);
    const withGetter: Record<string, unknown> = { ...args };
    Object.defineProperty(withGetter, 'clipLow', {
      enumerable: true,
      get() {
        logits.dispose();
        return 0.2;
      },
    });
    const got = cudaDapoLoss(withGetter as unknown as CudaLossArgs);
    return { same: same(got, want), disposed: logits.disposed };
  },
  // A getter that detaches a host array read before it, beside a DeviceTensor.
  async 'sync-getter-detach'() {
    const { args, logits } = mixedArgs(10);
    const big = new Float32Array(1 << 24).fill(-1); // 64 MiB: unmapped when freed
    const withGetter: Record<string, unknown> = { ...args, oldLogprobs: big.subarray(0, args.oldLogprobs.length) };
    detachOnGet(withGetter, 'clipLow', big.buffer, 0.2);
    try {
      return cudaDapoLoss(withGetter as unknown as CudaLossArgs);
    } finally {
      logits.dispose();
    }
  },
  async 'hidden-inputs-overwritten'() {
    const args = hiddenArgs(11);
    const want = native.cudaDapoLossFromHidden(args);
    const got = await withInputsZeroed(() => native.cudaDapoLossFromHiddenAsync(args), [args.hidden, args.weight, args.tokens, args.oldLogprobs, args.advantages, args.mask]);
    const gradHidden = got.gradHidden as Float32Array, wantHidden = want.gradHidden as Float32Array;
    return { same: Object.is(got.loss, want.loss) && gradHidden.every((x, i) => Object.is(x, wantHidden[i])) };
  },
  async 'hidden-dispose-during-async'() {
    const args = hiddenArgs(12);
    const want = native.cudaDapoLossFromHidden(args);
    const hidden = DeviceTensor.upload(args.hidden), weight = DeviceTensor.upload(args.weight);
    const busy = occupyThreadPool();
    const pending = native.cudaDapoLossFromHiddenAsync({ ...args, hidden, weight });
    pending.catch(() => undefined);
    hidden.dispose();
    weight.dispose();
    await busy;
    const got = await pending;
    const gradWeight = got.gradWeight as Tensor;
    const g = gradWeight.download() as Float32Array, w = want.gradWeight as Float32Array;
    gradWeight.dispose();
    (got.gradHidden as Tensor).dispose();
    return { same: Object.is(got.loss, want.loss) && g.every((x, i) => Object.is(x, w[i])), disposed: hidden.disposed && weight.disposed };
  },
};

async function runChild(): Promise<void> {
  for (const name of Object.keys(CASES)) {
    process.stdout.write(JSON.stringify({ case: name, start: true }) + '\n');
    let line: Record<string, unknown>;
    try {
      const value = await CASES[name]();
      const plain = typeof value !== 'object' || (value !== null && Object.values(value).every((x) => typeof x !== 'object'));
      line = { ok: true, value: plain ? value : 'result' };
    } catch (e) {
      const err = e as Error & { code?: unknown };
      line = { error: { name: err.name, code: err.code, message: err.message } };
    }
    process.stdout.write(JSON.stringify({ case: name, ...line }) + '\n');
    await collect();
  }
}

if (process.env.DAPO_CUDA_OWNERSHIP_CHILD === '1') {
  await runChild();
  process.exit(0);
}

const outcomes = new Map<string, Outcome>();
let died = '';

describe('CUDA loss calls own their inputs while they run', { skip: skipReason, timeout: 300_000 }, () => {
  before(() => {
    const self = fileURLToPath(import.meta.url);
    const loader = self.endsWith('.ts') ? ['--import', 'tsx'] : []; // the bundle (dist/*.mjs) needs none
    const env: NodeJS.ProcessEnv = { ...process.env, DAPO_CUDA_OWNERSHIP_CHILD: '1' };
    delete env.NODE_TEST_CONTEXT; // the child is not a test file of this run
    const child = spawnSync(process.execPath, [...loader, '--expose-gc', self], { encoding: 'utf8', env, timeout: 240_000 });
    const lines = child.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Outcome);
    for (const line of lines) if (!line.start) outcomes.set(line.case, line);
    if (child.status !== 0 || child.signal) {
      const started = lines.filter((l) => l.start).map((l) => l.case);
      died = `the child process ended with ${child.signal ?? `exit ${child.status}`} during '${started[started.length - 1]}'\n${child.stderr.slice(-2000)}`;
    }
  });

  const outcome = (name: string): Outcome => {
    assert.equal(died, '', died);
    const o = outcomes.get(name);
    assert.ok(o, `no outcome for ${name}`);
    assert.ok(!o.error || o.error.code === 'ERR_DAPO_DETACHED', `${name}: ${JSON.stringify(o.error)}`);
    return o;
  };
  const detached = (name: string, message: RegExp) => {
    const o = outcome(name);
    assert.ok(o.error, `${name}: expected ERR_DAPO_DETACHED, got ${JSON.stringify(o)}`);
    assert.equal(o.error.name, 'TypeError');
    assert.match(o.error.message, message);
  };

  test('typed arrays only: logits transferred and collected while the worker runs; the result is the synchronous one', () =>
    assert.deepEqual(outcome('async-logits-transfer').value, { same: true, detached: true }));
  test('typed arrays only: gradOut transferred while the worker runs is ERR_DAPO_DETACHED', () =>
    detached('async-gradout-transfer', /^gradOut was detached or resized while the call ran; its result is lost$/));
  test('typed arrays only: a gradOut kept receives the gradient', () => assert.deepEqual(outcome('async-gradout-kept').value, { same: true }));
  test('beside a DeviceTensor: host inputs transferred and zeroed right after the call; the result is unchanged', () =>
    assert.deepEqual(outcome('mixed-inputs-overwritten').value, { same: true }));
  test('beside a DeviceTensor: a host gradOut transferred while the worker runs is ERR_DAPO_DETACHED', () =>
    detached('mixed-gradout-transfer', /^gradOut was detached or resized while the call ran; its result is lost$/));
  test('beside a DeviceTensor: a host gradOut kept receives the gradient', () => assert.deepEqual(outcome('mixed-gradout-kept').value, { same: true }));
  test('dispose() during an async call: disposed at once, no new call can use it, memory freed when the call ends', () =>
    assert.deepEqual(outcome('dispose-during-async').value, {
      same: true,
      disposedAtOnce: true,
      refused: 'ERR_DAPO_TYPE: logits is a disposed DeviceTensor',
      heldWhileQueued: true,
      freedAtTheEnd: true,
    }));
  test('dispose() during an async call that writes the gradient in place', () =>
    assert.deepEqual(outcome('dispose-in-place-during-async').value, { gradIsLogits: true, finite: true, disposed: true }));
  test('a getter that disposes a DeviceTensor read before it: the synchronous call runs on live memory', () =>
    assert.deepEqual(outcome('dispose-in-getter').value, { same: true, disposed: true }));
  test('a getter that detaches a host array read before it, beside a DeviceTensor', () =>
    detached('sync-getter-detach', /^oldLogprobs was detached or resized while the arguments were read$/));
  test('LM-head loss: host inputs transferred and zeroed right after the async call; the result is unchanged', () =>
    assert.deepEqual(outcome('hidden-inputs-overwritten').value, { same: true }));
  test('LM-head loss: hidden and weight disposed during the async call', () =>
    assert.deepEqual(outcome('hidden-dispose-during-async').value, { same: true, disposed: true }));
});
