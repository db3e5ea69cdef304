// The N-API boundary under random calls, run in a child process by test/fuzz.test.ts so that a
// native crash is caught: dapoLoss, dapoLossAsync, groupAdvantages and the Policy API, with
// valid arguments mutated into weird ones (wrong types and lengths, NaN, 2^63, 1e-300, detached,
// shared and offset buffers, buffers transferred while a call runs, getters...).
//   node --import tsx --expose-gc test/helpers/fuzz-child.ts <seed> <calls> <progress-file>
// Before each call it writes "<index> <what>" to the progress file, so a crash names its call;
// at the end it prints one JSON line: { calls, outcomes: { ok, <error code>: count }, violations }.
// A violation is an error without a string `code`, or a non-finite number in the result of a
// call whose inputs were all finite.
import { closeSync, openSync, writeSync } from 'node:fs';

import { dapoLoss, dapoLossAsync, groupAdvantages } from '../../src/loss/index.js';
import type { NativeLossArgs } from '../../src/native.js';
import { builtinConfig, packBatch, Policy } from '../../src/policy/index.js';
import { Rng } from './random.js';

const [seedArg, callsArg, progressFile] = process.argv.slice(2);
const rng = new Rng(Number(seedArg));
const calls = Number(callsArg);
const progress = openSync(progressFile, 'w');
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];
const chance = (p: number) => rng.next() < p;

// Values that are wrong for most options; none is valid and expensive (no n = 1e6).
const WEIRD: ReadonlyArray<() => unknown> = [
  () => undefined, () => null, () => 0, () => -1, () => 2.5, () => NaN, () => Infinity, () => -Infinity,
  () => 2 ** 31, () => 2 ** 32, () => 2 ** 53, () => 2 ** 63, () => 2 ** 64, () => 1e300, () => -1e300, () => 1e-300,
  () => -0, () => '3', () => '', () => true, () => ({}), () => [], () => [1, 2, 3], () => Symbol('s'), () => 10n,
  () => () => 1, () => new Float32Array(3), () => new Int32Array(2), () => new Uint8Array(0), () => new Float64Array(2),
  () => detached(new Float32Array(4)),
];
const weird = () => pick(WEIRD)();
// Extreme values inside otherwise valid arrays.
const EXTREME = [NaN, Infinity, -Infinity, 3e38, -3e38, 1e30, -1e30, 1e-45, 0, -0];

function detached<T extends ArrayBufferView>(a: T): T {
  structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });
  return a;
}

type Typed = Float32Array | Int32Array | Uint8Array | Uint16Array;

/** The same values over a SharedArrayBuffer, or at an offset into a larger buffer. */
function rehome<T extends Typed>(a: T): T {
  const Ctor = a.constructor as { new (b: ArrayBufferLike, offset: number, length: number): T; BYTES_PER_ELEMENT: number };
  const offset = chance(0.5) ? 0 : Ctor.BYTES_PER_ELEMENT * (1 + rng.int(3));
  const buffer = chance(0.5) ? new SharedArrayBuffer(offset + a.byteLength + 8) : new ArrayBuffer(offset + a.byteLength + 8);
  const out = new Ctor(buffer, offset, a.length);
  out.set(a as never);
  return out;
}

function lengthened<T extends Typed>(a: T): T {
  const Ctor = a.constructor as new (n: number) => T;
  const out = new Ctor(Math.max(0, a.length + pick([-1, 1, 5])));
  out.set(a.subarray(0, Math.min(a.length, out.length)) as never);
  return out;
}

/** Sets a property, replacing a getter a mutation put there. */
function set(args: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(args, key, { value, writable: true, enumerable: true, configurable: true });
}

/** Mutates one key of an argument object; returns what it did. */
function mutate(args: Record<string, unknown>, keys: readonly string[]): string {
  try {
    return mutateOnce(args, keys);
  } catch {
    // An earlier mutation left a value no array operation takes (a detached buffer, ...).
    const key = pick(keys);
    set(args, key, weird());
    return `${key}:weird`;
  }
}

function mutateOnce(args: Record<string, unknown>, keys: readonly string[]): string {
  const key = pick(keys);
  const value = args[key];
  const isTyped = ArrayBuffer.isView(value) && !(value instanceof DataView);
  const kind = pick(isTyped ? ['weird', 'delete', 'extreme', 'rehome', 'length', 'detach', 'getter'] : ['weird', 'delete', 'getter']);
  if (kind === 'weird') set(args, key, weird());
  else if (kind === 'delete') delete args[key];
  else if (kind === 'extreme') {
    const a = (value as Typed).slice();
    if (a.length > 0) a[rng.int(a.length)] = a instanceof Float32Array ? pick(EXTREME) : pick([-1, 2 ** 31 - 1, 65535, 255, 7]);
    set(args, key, a);
  } else if (kind === 'rehome') set(args, key, rehome(value as Typed));
  else if (kind === 'length') set(args, key, lengthened(value as Typed));
  else if (kind === 'detach') set(args, key, detached((value as Typed).slice()));
  else {
    // A getter that detaches another array of the call when read.
    const other = pick(keys);
    const target = other === key ? undefined : Object.getOwnPropertyDescriptor(args, other)?.value;
    Object.defineProperty(args, key, {
      enumerable: true,
      configurable: true,
      get() {
        if (ArrayBuffer.isView(target) && !(target.buffer instanceof SharedArrayBuffer) && target.buffer.byteLength > 0) detached(target);
        return value;
      },
    });
  }
  return `${key}:${kind}`;
}

/** The elements of a typed array; none when it was detached (whose methods throw). */
function elements(v: Float32Array | Float64Array | Uint16Array): number[] {
  return v.buffer.byteLength === 0 ? [] : Array.from(v);
}

/** Every number in these inputs is finite (typed arrays of floats and numeric options). */
function allFinite(values: unknown[]): boolean {
  return values.every((v) => {
    if (typeof v === 'number') return Number.isFinite(v);
    if (v instanceof Float32Array) return elements(v).every((x) => Number.isFinite(x));
    if (v instanceof Uint16Array) return elements(v).every((x) => (x & 0x7f80) !== 0x7f80);  // bf16 exponent all ones: Inf or NaN
    if (Array.isArray(v)) return allFinite(v);
    return true;
  });
}

/** The data values of an object's own properties, without running its getters. */
function dataValues(o: Record<string, unknown>): unknown[] {
  return Object.values(Object.getOwnPropertyDescriptors(o)).map((d) => d.value);
}

/** Numbers in a result that are not finite, by path. */
function nonFinite(value: unknown, path = 'result', out: string[] = []): string[] {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) out.push(`${path} = ${value}`);
  } else if (value instanceof Float32Array || value instanceof Float64Array) {
    const i = elements(value).findIndex((x) => !Number.isFinite(x));
    if (i >= 0) out.push(`${path}[${i}] = ${value[i]}`);
  } else if (Array.isArray(value)) value.forEach((x, i) => nonFinite(x, `${path}[${i}]`, out));
  else if (value && typeof value === 'object' && !ArrayBuffer.isView(value))
    for (const [k, x] of Object.entries(value)) nonFinite(x, `${path}.${k}`, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Calls

interface Call {
  what: string;
  run: () => unknown;
  /** Inputs whose finiteness makes a non-finite result a violation; undefined: not checked. */
  finiteInputs?: unknown[];
  /** Runs right after the call started (an async call is then in flight). */
  during?: () => void;
}

const LOSS_KEYS = ['logits', 'vocabSize', 'tokens', 'logprobs', 'oldLogprobs', 'advantages', 'mask', 'seqIds', 'refLogprobs', 'klCoef',
  'clipLow', 'clipHigh', 'clipC', 'aggregation', 'tokenCount', 'seqCount', 'entropy', 'gradOut', 'device'] as const;

function lossArgs(): Record<string, unknown> {
  const n = pick([0, 1, 2, 3, 5, 8]), v = pick([1, 2, 3, 7, 16]);
  const scale = pick([1, 10, 1000]);
  const args: Record<string, unknown> = {
    oldLogprobs: Float32Array.from({ length: n }, () => -rng.uniform(0, 5)),
    advantages: Float32Array.from({ length: n }, () => rng.normal() * pick([1, 10])),
    mask: Uint8Array.from({ length: n }, () => (chance(0.8) ? 1 : 0)),
    clipLow: 0.2,
    clipHigh: 0.28,
  };
  if (chance(0.7)) {
    args.logits = chance(0.8) ? Float32Array.from({ length: n * v }, () => rng.normal() * scale) : Uint16Array.from({ length: n * v }, () => 0x3f80 + rng.int(0x80));
    args.vocabSize = v;
    args.tokens = Int32Array.from({ length: n }, () => rng.int(v));
    if (chance(0.3)) args.entropy = true;
    if (chance(0.2)) args.gradOut = new Float32Array(n * v);
  } else {
    args.logprobs = Float32Array.from({ length: n }, () => -rng.uniform(0, 5));
  }
  if (chance(0.3)) {
    args.aggregation = pick(['seq-mean-token-mean', 'seq-mean-token-sum']);
    args.seqIds = Int32Array.from({ length: n }, (_, i) => Math.floor(i / 2));
  }
  if (chance(0.2)) args.clipC = 3;
  if (chance(0.2)) {
    args.klCoef = 0.1;
    args.refLogprobs = Float32Array.from({ length: n }, () => -rng.uniform(0, 5));
  }
  if (chance(0.2)) args.tokenCount = 1 + rng.int(20);
  return args;
}

function lossCall(): Call {
  const args = lossArgs();
  const changes = Array.from({ length: rng.int(4) }, () => mutate(args, LOSS_KEYS));
  const wholeArgs: unknown = chance(0.03) ? weird() : args;
  const finiteInputs = dataValues(args).filter((x) => typeof x === 'number' || x instanceof Float32Array || x instanceof Uint16Array);
  const async = chance(0.4);
  const what = `${async ? 'dapoLossAsync' : 'dapoLoss'} ${changes.join(' ')}${wholeArgs !== args ? ' (args replaced)' : ''}`;
  const call: Call = { what, finiteInputs, run: () => (async ? dapoLossAsync(wholeArgs as NativeLossArgs) : dapoLoss(wholeArgs as NativeLossArgs)) };
  if (async && chance(0.3)) {
    // Transfer an input or output away while the worker runs.
    call.during = () => {
      const views = dataValues(args).filter((x): x is Typed => ArrayBuffer.isView(x) && !(x.buffer instanceof SharedArrayBuffer));
      if (views.length > 0) detached(pick(views));
      if (chance(0.2)) gc();
    };
  }
  return call;
}

function advantagesCall(): Call {
  const g = pick([1, 2, 4]);
  let rewards: unknown = Float32Array.from({ length: g * pick([0, 1, 3]) }, () => pick([1, -1, 0.5]));
  let groupSize: unknown = g;
  let opts: unknown = chance(0.5) ? { std: chance(0.5), eps: 1e-6 } : undefined;
  const change = pick(['none', 'rewards', 'groupSize', 'opts', 'rehome', 'extreme']);
  if (change === 'rewards') rewards = weird();
  else if (change === 'groupSize') groupSize = weird();
  else if (change === 'opts') opts = chance(0.5) ? weird() : { std: weird(), eps: weird() };
  else if (change === 'rehome') rewards = rehome(rewards as Float32Array);
  else if (change === 'extreme' && (rewards as Float32Array).length > 0) (rewards as Float32Array)[0] = pick(EXTREME);
  return { what: `groupAdvantages ${change}`, finiteInputs: [rewards], run: () => groupAdvantages(rewards as Float32Array, groupSize as number, opts as never) };
}

let policy: Policy;
let vocab = 0;

function prompt(): Int32Array {
  return Int32Array.from({ length: 1 + rng.int(6) }, () => rng.int(vocab));
}

function generateCall(): Call {
  let prompts: unknown = Array.from({ length: 1 + rng.int(3) }, prompt);
  const options: Record<string, unknown> = {
    n: pick([1, 2, 3]), maxNewTokens: pick([0, 1, 2, 5]), temperature: pick([0, 0.01, 0.5, 1, 2]), topP: pick([1, 0.9, 0.5]),
    topK: pick([0, 0, 5]), seed: rng.int(1000),
  };
  const keys = ['n', 'maxNewTokens', 'temperature', 'topP', 'topK', 'seed', 'stop', 'promptIds'] as const;
  const changes = Array.from({ length: rng.int(3) }, () => mutate(options, keys));
  if (chance(0.15)) {
    const p = (prompts as Int32Array[]).slice();
    const i = rng.int(p.length);
    p[i] = pick([() => new Int32Array(0), () => Int32Array.from([vocab]), () => Int32Array.from([-1]), () => new Int32Array(400), () => weird() as Int32Array])();
    prompts = p;
    changes.push('prompt');
  }
  if (chance(0.03)) {
    prompts = weird();
    changes.push('prompts replaced');
  }
  return { what: `generate ${changes.join(' ')}`, finiteInputs: [options.temperature, options.topP], run: () => policy.generate(prompts as Int32Array[], options as never) };
}

function trainBatch(): Record<string, unknown> {
  const pairs = Array.from({ length: 1 + rng.int(3) }, () => ({ prompt: prompt(), response: Int32Array.from({ length: rng.int(5) }, () => rng.int(vocab)) }));
  const batch: Record<string, unknown> = { ...packBatch(pairs) };
  const targets = pairs.reduce((s, p) => s + p.response.length, 0);
  batch.oldLogprobs = Float32Array.from({ length: targets }, () => -rng.uniform(3, 5));
  batch.advantages = Float32Array.from({ length: targets }, () => rng.normal());
  if (chance(0.3)) batch.mask = Uint8Array.from({ length: targets }, () => (chance(0.8) ? 1 : 0));
  if (chance(0.2)) batch.refLogprobs = Float32Array.from({ length: targets }, () => -rng.uniform(3, 5));
  return batch;
}

const BATCH_KEYS = ['tokens', 'offsets', 'promptLengths', 'oldLogprobs', 'advantages', 'mask', 'refLogprobs'] as const;

function logprobsCall(): Call {
  const batch = trainBatch();
  const opts: Record<string, unknown> = { temperature: pick([undefined, 1, 0.7, 0.01]) };
  const changes = Array.from({ length: rng.int(3) }, () => (chance(0.7) ? mutate(batch, BATCH_KEYS) : mutate(opts, ['temperature'])));
  const call: Call = { what: `logprobs ${changes.join(' ')}`, finiteInputs: [opts.temperature], run: () => policy.logprobs(batch as never, opts) };
  if (chance(0.2) && batch.tokens instanceof Int32Array) call.during = () => detached(batch.tokens as Int32Array);
  return call;
}

function accumulateCall(): Call {
  const batch = trainBatch();
  const loss: Record<string, unknown> = chance(0.7)
    ? { kind: 'dapo', clipLow: 0.2, clipHigh: 0.28, temperature: pick([1, 0.8]), entropy: chance(0.5), ...(batch.refLogprobs ? { klCoef: 0.05 } : {}) }
    : { kind: 'nll' };
  const keys = ['kind', 'clipLow', 'clipHigh', 'clipC', 'aggregation', 'tokenCount', 'seqCount', 'temperature', 'klCoef', 'entropy'] as const;
  const changes = Array.from({ length: rng.int(3) }, () => (chance(0.5) ? mutate(batch, BATCH_KEYS) : mutate(loss, keys)));
  const finiteInputs = [...dataValues(batch), ...dataValues(loss)];
  return {
    what: `accumulate ${changes.join(' ')}`,
    finiteInputs,
    run: async () => {
      try {
        return await policy.accumulate(batch as never, loss as never);
      } finally {
        policy.zeroGrad();  // each call starts from zero gradients, so none can pile up
      }
    },
  };
}

function stepCall(): Call {
  const opts: Record<string, unknown> = { lr: pick([1e-4, 1e-3, 0]), clipGradNorm: pick([undefined, 1]) };
  // Finite learning rates stay sane: an lr of 1e300 overflows the weights by design of AdamW.
  const keys = ['lr', 'weightDecay', 'betas', 'eps', 'clipGradNorm'] as const;
  const changes = chance(0.5) ? [mutate(opts, keys)] : [];
  const sane = (x: unknown) => typeof x !== 'number' || !Number.isFinite(x) || x < 0 || x <= 1;
  if (!sane(opts.lr) || !sane(opts.weightDecay)) opts.lr = -1;
  return { what: `step ${changes.join(' ')}`, finiteInputs: [], run: () => policy.step(opts as never) };
}

function forwardCall(): Call {
  const ids: unknown = chance(0.8) ? prompt() : weird();
  return { what: 'forwardLogits', finiteInputs: [], run: () => policy.forwardLogits(ids as Int32Array) };
}

function parameterCall(): Call {
  const names = policy.parameterNames();
  const name: unknown = chance(0.8) ? pick(names) : weird();
  if (chance(0.5)) return { what: 'getParameter', run: () => policy.getParameter(name as string) };
  const size = typeof name === 'string' && names.includes(name) ? policy.parameterShape(name).reduce((a, d) => a * d, 1) : 4;
  const fill = Float32Array.from({ length: size }, () => rng.normal() * 0.02);
  if (chance(0.5) && size > 0) fill[rng.int(size)] = pick(EXTREME);
  const values: unknown = chance(0.8) ? rehome(fill) : weird();
  return {
    what: 'setParameter',
    run: () => {
      const before = typeof name === 'string' && names.includes(name) ? policy.getParameter(name) : undefined;
      try {
        policy.setParameter(name as string, values as Float32Array);
      } finally {
        if (before) policy.setParameter(name as string, before);  // keep the policy usable
      }
    },
  };
}

function createCall(): Call {
  const base = builtinConfig('tiny').config as unknown as Record<string, unknown>;
  const config: Record<string, unknown> = { ...base };
  const keys = ['vocabSize', 'hiddenSize', 'intermediateSize', 'numLayers', 'numHeads', 'numKvHeads', 'headDim', 'maxPositions', 'ropeTheta',
    'rmsNormEps', 'qkvBias', 'qkNorm', 'tieWordEmbeddings', 'ropeScaling'] as const;
  const changes = Array.from({ length: 1 + rng.int(2) }, () => mutate(config, keys));
  const options: unknown = chance(0.8) ? { seed: pick([0, 1, weird()]), initStd: pick([0.02, 0.02, weird()]), device: pick(['cpu', 'auto', weird()]) } : weird();
  if (chance(0.3))
    return { what: 'Policy.load', run: async () => (await Policy.load(pick(['builtin:tiny', 'builtin:nope', '/nonexistent/model', '', weird()]) as string, options as never)).dispose() };
  return { what: `Policy.fromConfig ${changes.join(' ')}`, run: () => Policy.fromConfig(config as never, options as never).dispose() };
}

const MAKERS: Array<[number, () => Call]> = [
  [35, lossCall], [5, advantagesCall], [14, generateCall], [10, logprobsCall], [14, accumulateCall], [4, stepCall], [5, forwardCall],
  [5, parameterCall], [8, createCall],
];
const TOTAL = MAKERS.reduce((s, [w]) => s + w, 0);

function nextCall(): Call {
  let r = rng.int(TOTAL);
  for (const [w, make] of MAKERS) {
    if (r < w) return make();
    r -= w;
  }
  throw new Error('unreachable');
}

// ---------------------------------------------------------------------------------------------

const HANG_MS = 60_000;

async function main(): Promise<void> {
  policy = await Policy.load('builtin:tiny', { seed: 1 });
  vocab = policy.config.vocabSize;
  const outcomes: Record<string, number> = {};
  const byCall: Record<string, number> = {};
  const violations: string[] = [];
  for (let i = 0; i < calls; i++) {
    const call = nextCall();
    writeSync(progress, `${i} ${call.what}\n`);
    let result: unknown;
    let outcome = 'ok';
    try {
      const value = call.run();
      try {
        call.during?.();
      } catch {
        // The harness's own transfer can fail (a buffer already detached): not the API's error.
      }
      let timer: NodeJS.Timeout | undefined;
      const hang = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('HANG')), HANG_MS)));
      result = await Promise.race([Promise.resolve(value), hang]).finally(() => clearTimeout(timer));
    } catch (e) {
      if ((e as Error)?.message === 'HANG') {
        violations.push(`#${i} ${call.what}: no answer after ${HANG_MS / 1000} s`);
        break;
      }
      const code = (e as { code?: unknown })?.code;
      if (!(e instanceof Error) || typeof code !== 'string' || code === '') {
        violations.push(`#${i} ${call.what}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)} has no code`);
        outcome = 'no code';
      } else outcome = code;
    }
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    const kind = `${call.what.split(' ')[0]} ${outcome}`;
    byCall[kind] = (byCall[kind] ?? 0) + 1;
    if (outcome === 'ok' && call.finiteInputs && allFinite(call.finiteInputs)) {
      const bad = nonFinite(result);
      if (bad.length > 0) violations.push(`#${i} ${call.what}: finite inputs, non-finite ${bad.slice(0, 3).join(', ')}`);
    }
    if (i % 200 === 199) gc();
  }
  // The policy still works after everything thrown at it.
  try {
    const [[r]] = await policy.generate([Int32Array.from([1, 2, 3])], { maxNewTokens: 4, seed: 1 });
    if (nonFinite(r.logprobs).length > 0) violations.push('after the run: generate gives non-finite log-probs');
  } catch (e) {
    violations.push(`after the run: the policy no longer generates (${(e as Error).message})`);
  }
  policy.dispose();
  closeSync(progress);
  process.stdout.write(JSON.stringify({ calls, outcomes, byCall, violations: violations.slice(0, 30), violationCount: violations.length }) + '\n');
  process.exit(0);
}

await main();
