// User reward modules: `--reward ./my-reward.js`, a JS (or .mjs/.cjs) file whose default
// export (or named export `reward`) is `(response, sample) => number | { score, acc? }`,
// sync or async. Each call has a time limit (--reward-timeout): a promise that never settles
// or a call that takes too long is an E_REWARD_TIMEOUT error, not a run that hangs or exits
// without a word.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { rangeError, shown } from '../errors.js';
import { foreignRewardFunction } from './signatures.js';

export type RewardErrorCode =
  | 'E_REWARD_NOT_FOUND'
  | 'E_REWARD_IMPORT'
  | 'E_REWARD_NO_FUNCTION'
  | 'E_REWARD_THREW'
  | 'E_REWARD_BAD_RESULT'
  | 'E_REWARD_TIMEOUT';

/** Seconds one call of a reward module may take unless --reward-timeout says otherwise. */
export const DEFAULT_REWARD_TIMEOUT = 60;

export interface RewardCallOptions {
  /** Seconds one call may take (default DEFAULT_REWARD_TIMEOUT); 0: no limit. */
  timeoutSeconds?: number;
}

export class RewardError extends Error {
  readonly code: RewardErrorCode;
  /** The reward module's path, when one is involved. */
  readonly file?: string;
  constructor(code: RewardErrorCode, message: string, options: { file?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RewardError';
    this.code = code;
    this.file = options.file;
  }
}

/** What a reward function sees besides the response: the dataset row. */
export interface RewardSample {
  /** Ground truth answer (the dataset's answer column). */
  answer: string;
  /** The prompt messages as given to the chat template. */
  messages?: ReadonlyArray<{ role: string; content: string }>;
  /** Every column of the row, as plain JS values. */
  row?: Readonly<Record<string, unknown>>;
  [key: string]: unknown;
}

export interface RewardOutput {
  score: number;
  /** Correctness for dynamic sampling and accuracy metrics; defaults to score > 0. */
  acc: boolean;
  pred?: string;
}

export type UserRewardFn = (response: string, sample: RewardSample) => unknown;
export type RewardFn = (response: string, sample: RewardSample) => Promise<RewardOutput>;

/**
 * Turn whatever a reward function returned into { score, acc }; throws RewardError
 * naming the module when it is not a finite number or a { score } object.
 */
export function coerceRewardOutput(value: unknown, file = '<reward>'): RewardOutput {
  if (typeof value === 'number' || typeof value === 'boolean') {
    const score = Number(value);
    if (!Number.isFinite(score)) throw new RewardError('E_REWARD_BAD_RESULT', `${file}: reward function returned ${value}, expected a finite number`, { file });
    return { score, acc: score > 0 };
  }
  if (value !== null && typeof value === 'object' && 'score' in value) {
    const v = value as { score: unknown; acc?: unknown; pred?: unknown };
    const score = typeof v.score === 'boolean' ? Number(v.score) : v.score;
    if (typeof score !== 'number' || !Number.isFinite(score)) {
      throw new RewardError('E_REWARD_BAD_RESULT', `${file}: reward function returned { score: ${String(v.score)} }, expected a finite number`, { file });
    }
    if (v.acc !== undefined && typeof v.acc !== 'boolean') {
      throw new RewardError('E_REWARD_BAD_RESULT', `${file}: reward function returned acc of type ${typeof v.acc}, expected a boolean`, { file });
    }
    const out: RewardOutput = { score, acc: v.acc === undefined ? score > 0 : v.acc };
    if (v.pred !== undefined) out.pred = String(v.pred);
    return out;
  }
  const shown = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
  throw new RewardError('E_REWARD_BAD_RESULT', `${file}: reward function returned ${shown}, expected a number or { score, acc }`, { file });
}

// setTimeout's longest delay (about 24.8 days); a longer limit is no limit.
const MAX_TIMER_MS = 2 ** 31 - 1;

function timeoutError(file: string, seconds: number, what: string): RewardError {
  return new RewardError(
    'E_REWARD_TIMEOUT',
    `${file}: reward function ${what} within ${seconds} s (--reward-timeout) for one response; make it faster or raise --reward-timeout`,
    { file },
  );
}

/** The value of a promise, or a timeout error once `ms` have passed. */
function settleWithin<T>(promise: PromiseLike<T>, ms: number, onTimeout: () => Error): Promise<T> {
  if (!(ms <= MAX_TIMER_MS)) return Promise.resolve(promise);
  let timer: NodeJS.Timeout | undefined;
  // The pending timer also keeps the process alive, so a promise that never settles cannot let
  // Node exit (with code 13) in the middle of a run.
  const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(onTimeout()), ms)));
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/**
 * Wrap a plain function (sync or async) into the uniform async RewardFn. A call taking longer
 * than options.timeoutSeconds is E_REWARD_TIMEOUT: a promise is abandoned when the time is up;
 * a synchronous function cannot be interrupted and fails when it returns late.
 */
export function wrapRewardFunction(fn: UserRewardFn, file = '<reward>', options: RewardCallOptions = {}): RewardFn {
  const seconds = options.timeoutSeconds ?? DEFAULT_REWARD_TIMEOUT;
  if (typeof seconds !== 'number' || !(seconds >= 0)) throw rangeError(`timeoutSeconds must be a number >= 0, got ${shown(seconds)}`);
  const limitMs = seconds > 0 ? seconds * 1000 : Infinity;
  return async (response, sample) => {
    const started = performance.now();
    let value: unknown;
    try {
      value = fn(response, sample);
      if (typeof (value as PromiseLike<unknown> | null)?.then === 'function')
        value = await settleWithin(value as PromiseLike<unknown>, limitMs, () => timeoutError(file, seconds, 'did not settle'));
    } catch (err) {
      if (err instanceof RewardError) throw err;
      throw new RewardError('E_REWARD_THREW', `${file}: reward function threw: ${err instanceof Error ? err.message : String(err)}`, { file, cause: err });
    }
    if (performance.now() - started > limitMs) throw timeoutError(file, seconds, 'did not return');
    return coerceRewardOutput(value, file);
  };
}

/** verl's compute_score or TRL's reward_funcs, adapted; a malformed one is named with the file. */
function foreignSignature(mod: Record<string, unknown>, file: string): UserRewardFn | undefined {
  try {
    return foreignRewardFunction(mod);
  } catch (err) {
    throw new RewardError('E_REWARD_NO_FUNCTION', `reward module ${file}: ${(err as Error).message}`, { file, cause: err });
  }
}

/**
 * Import a user reward module. Its default export, or a named export `reward` or
 * `computeScore`, must be a function `(response, sample) => number | { score, acc? }`; a
 * module written for verl (`compute_score`) or TRL (`reward_funcs`) works as well
 * (src/reward/signatures.ts).
 */
export async function loadRewardModule(path: string, options: RewardCallOptions = {}): Promise<RewardFn> {
  const file = resolve(path);
  if (!existsSync(file)) throw new RewardError('E_REWARD_NOT_FOUND', `reward module not found: ${file}`, { file });
  if (!statSync(file).isFile()) throw new RewardError('E_REWARD_NOT_FOUND', `reward module is not a file: ${file}`, { file });
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new RewardError('E_REWARD_IMPORT', `could not import reward module ${file}: ${err instanceof Error ? err.message : String(err)}`, { file, cause: err });
  }
  let fn: unknown = mod.default;
  // A CommonJS module's `module.exports = { reward }` arrives as default.reward.
  if (fn !== null && typeof fn === 'object') fn = (fn as Record<string, unknown>).reward ?? (fn as Record<string, unknown>).computeScore;
  fn ??= mod.reward ?? mod.computeScore;
  fn ??= foreignSignature(mod, file);
  if (typeof fn !== 'function') {
    const names = Object.keys(mod);
    throw new RewardError(
      'E_REWARD_NO_FUNCTION',
      `reward module ${file} must export a function (response, sample) => number | { score, acc } as its default export or as \`reward\` ` +
        `(or verl's compute_score, or TRL's reward_funcs); ` +
        `it exports ${names.length ? names.map((n) => `${n} (${typeof mod[n]})`).join(', ') : 'nothing'}`,
      { file },
    );
  }
  return wrapRewardFunction(fn as UserRewardFn, file, options);
}
