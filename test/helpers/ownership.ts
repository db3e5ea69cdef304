// Ways a caller can pull memory out from under a native call, and inputs large enough that
// freed memory is unmapped, for the tests that check the addon owns what it uses
// (test/helpers/crash-cases.ts, test/cuda/loss-ownership.test.ts). Run with --expose-gc.
import { pbkdf2 } from 'node:crypto';

import type { NativeLossArgs } from '../../src/native.js';
import { Rng } from './random.js';

function gc(): void {
  const collectGarbage = (globalThis as { gc?: () => void }).gc;
  if (!collectGarbage) throw new Error('run with --expose-gc');
  collectGarbage();
}

/** Frees what nothing references any more, the backing stores of detached buffers included. */
export async function collect(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Detaches buf (as a postMessage transfer does) and drops the new owner, so GC can free it. */
export function transferAway(buf: ArrayBufferLike): void {
  structuredClone(buf, { transfer: [buf as ArrayBuffer] });
}

/** Starts a call, then transfers `buffer` away and frees it while the call runs; settles as the call does. */
export async function transferWhileRunning<T>(start: () => Promise<T>, buffer: ArrayBufferLike): Promise<T> {
  const call = start();
  call.catch(() => undefined); // handled here too: it may settle while memory is collected
  transferAway(buffer);
  await collect();
  return call;
}

/**
 * Defines obj[key] as a getter that first transfers `buffer` away and frees it, then returns
 * `value`: the options object of a call whose arrays were read before that option.
 */
export function detachOnGet(obj: Record<string, unknown>, key: string, buffer: ArrayBufferLike, value: unknown): void {
  Object.defineProperty(obj, key, {
    enumerable: true,
    get() {
      transferAway(buffer);
      gc();
      return value;
    },
  });
}

/** Detaches buf and zeroes the memory it had (now the new owner's), which the call must not see. */
export function transferAndZero(buf: ArrayBufferLike): void {
  new Uint8Array(structuredClone(buf, { transfer: [buf as ArrayBuffer] })).fill(0);
}

/** Keeps each of libuv's worker threads busy for a while (pbkdf2), so async work queued now waits. */
export function occupyThreadPool(): Promise<unknown> {
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  return Promise.all(Array.from({ length: threads }, () => new Promise((done) => pbkdf2('dapo', 'salt', 200_000, 32, 'sha256', done))));
}

/** Starts `start` with the thread pool busy, so its worker runs only after `arrays` were transferred and their memory zeroed. */
export async function withInputsZeroed<T>(start: () => Promise<T>, arrays: ArrayBufferView[]): Promise<T> {
  const busy = occupyThreadPool();
  const call = start();
  call.catch(() => undefined); // handled here too: it may settle while the pool is busy
  for (const a of arrays) transferAndZero(a.buffer);
  await busy;
  return call;
}

/** Loss inputs over logits large enough (n x v x 4 bytes, 64 MiB by default) that the allocator unmaps them when freed. */
export function bigLogitsArgs(seed: number, n = 256, v = 65536): NativeLossArgs {
  const rng = new Rng(seed);
  const logits = new Float32Array(n * v);
  for (let i = 0; i < logits.length; i += 97) logits[i] = rng.normal();
  return {
    logits,
    vocabSize: v,
    tokens: Int32Array.from({ length: n }, () => rng.int(v)),
    oldLogprobs: Float32Array.from({ length: n }, () => -11 - rng.next()),
    advantages: Float32Array.from({ length: n }, () => rng.normal()),
    mask: new Uint8Array(n).fill(1),
  };
}

type LossResult = { loss: number; grad: unknown };

/** Bitwise the same loss and gradient (the kernels reduce in a fixed order). */
export function sameLoss(got: LossResult, want: LossResult): boolean {
  const a = got.grad as Float32Array, b = want.grad as Float32Array;
  return Object.is(got.loss, want.loss) && a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
}

/**
 * An async loss over typed arrays against its synchronous twin (either backend): the logits
 * transferred and freed while the worker runs (the result must be the synchronous one), gradOut
 * transferred (ERR_DAPO_DETACHED), gradOut kept (it receives the gradient).
 */
export function asyncLossCases<R extends LossResult>(
  run: (args: NativeLossArgs) => Promise<R>,
  runSync: (args: NativeLossArgs) => R,
): Record<string, () => Promise<unknown>> {
  return {
    async 'async-logits-transfer'() {
      const args = bigLogitsArgs(1);
      const want = runSync(args);
      const got = await transferWhileRunning(() => run(args), args.logits!.buffer);
      return { same: sameLoss(got, want), detached: args.logits!.length === 0 };
    },
    async 'async-gradout-transfer'() {
      const args = bigLogitsArgs(2);
      const gradOut = new Float32Array(args.logits!.length);
      await transferWhileRunning(() => run({ ...args, gradOut }), gradOut.buffer);
      return 'resolved';
    },
    async 'async-gradout-kept'() {
      const args = bigLogitsArgs(3);
      const want = runSync(args);
      const gradOut = new Float32Array(args.logits!.length);
      const got = await run({ ...args, gradOut });
      return { same: got.grad === gradOut && sameLoss(got, want) };
    },
  };
}

export { gc };
