// Reward functions written for verl or TRL, called through dapo's (response, sample) signature.
//
// verl: a module exporting `compute_score(data_source, solution_str, ground_truth, extra_info)`
// returning a number or { score, acc?, pred? } (verl's custom_reward_function.name defaults to
// compute_score). acc may be a number there (1.0 / 0.0); it counts as correct when > 0.
//
// TRL: `reward_funcs`, one function or an array, each called as TRL calls them with keyword
// arguments: one object { prompts, completions, completion_ids, ...dataset columns }, every
// field a list with one entry per completion, returning a list of numbers (null: no opinion).
// The functions' results are summed, weighted by an optional `reward_weights` export, skipping
// nulls (TRL's nansum). Prompts are chat messages, so completions come in TRL's conversational
// form, [{ role: 'assistant', content }]. dapo scores one response per call (lists of one).
import type { RewardSample, UserRewardFn } from './user.js';

type Exports = Record<string, unknown>;

/** The module's exports, and its CommonJS `module.exports` object when it has one. */
function exportSources(mod: Exports): Exports[] {
  const d = mod.default;
  return d !== null && typeof d === 'object' ? [mod, d as Exports] : [mod];
}

function exported(mod: Exports, name: string): unknown {
  for (const source of exportSources(mod)) if (source[name] !== undefined) return source[name];
  return undefined;
}

function verlResult(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !('score' in value)) return value;
  const v = value as { score: unknown; acc?: unknown; pred?: unknown };
  const out: Record<string, unknown> = { score: v.score };
  if (typeof v.acc === 'number') out.acc = v.acc > 0;
  else if (v.acc !== undefined) out.acc = v.acc;
  if (v.pred !== undefined && v.pred !== null) out.pred = v.pred;
  return out;
}

/** verl's compute_score(data_source, solution_str, ground_truth, extra_info). */
export function fromVerlComputeScore(fn: (...args: unknown[]) => unknown): UserRewardFn {
  return (response: string, sample: RewardSample) => {
    const row = sample.row ?? {};
    const dataSource = typeof row.dataSource === 'string' ? row.dataSource : '';
    const extraInfo = row.extra_info !== null && typeof row.extra_info === 'object' ? row.extra_info : {};
    const value = fn(dataSource, response, sample.answer, extraInfo);
    return typeof (value as PromiseLike<unknown> | null)?.then === 'function' ? Promise.resolve(value).then(verlResult) : verlResult(value);
  };
}

type TrlRewardFunc = (kwargs: Record<string, unknown[]>) => unknown;

function trlKwargs(response: string, sample: RewardSample): Record<string, unknown[]> {
  const { dataSource, sourceIndex, ...columns } = sample.row ?? {};
  const kwargs: Record<string, unknown[]> = Object.fromEntries(Object.entries(columns).map(([k, v]) => [k, [v]]));
  kwargs.prompts = [sample.messages ?? []];
  kwargs.completions = [[{ role: 'assistant', content: response }]];
  kwargs.answer = [sample.answer];
  kwargs.ground_truth = [sample.answer];
  if (dataSource !== undefined) kwargs.data_source = [dataSource];
  if (sourceIndex !== undefined) kwargs.index = [sourceIndex];
  return kwargs;
}

/** One entry of a TRL reward function's list: a number, or null for "no opinion". */
function trlValue(out: unknown, index: number): number | null {
  if (!Array.isArray(out) || out.length !== 1)
    throw new TypeError(`reward_funcs[${index}] must return a list with one number per completion, got ${Array.isArray(out) ? `a list of ${out.length}` : typeof out}`);
  const v = out[0] as unknown;
  if (v === null || v === undefined) return null;
  if (typeof v !== 'number' && typeof v !== 'boolean') throw new TypeError(`reward_funcs[${index}] returned ${typeof v} in its list, expected a number or null`);
  return Number(v);
}

/** TRL's reward_funcs (with reward_weights), summed as GRPOTrainer does. */
export function fromTrlRewardFuncs(funcs: unknown[], weights: unknown): UserRewardFn {
  funcs.forEach((f, i) => {
    if (typeof f !== 'function') throw new TypeError(`reward_funcs[${i}] is a ${typeof f}, expected a function`);
  });
  if (weights !== undefined && (!Array.isArray(weights) || weights.length !== funcs.length || !weights.every((w) => typeof w === 'number' && Number.isFinite(w))))
    throw new TypeError(`reward_weights must be a list of ${funcs.length} finite numbers, one per reward function`);
  const w = (weights as number[] | undefined) ?? funcs.map(() => 1);
  return async (response: string, sample: RewardSample) => {
    const kwargs = trlKwargs(response, sample);
    const values = await Promise.all(funcs.map(async (f, i) => trlValue(await (f as TrlRewardFunc)(kwargs), i)));
    if (values.every((v) => v === null)) throw new TypeError('every reward function returned null for this completion');
    return values.reduce<number>((sum, v, i) => (v === null ? sum : sum + w[i] * v), 0);
  };
}

/**
 * A verl or TRL reward function among the module's exports, adapted to (response, sample);
 * undefined when the module has neither `compute_score` nor `reward_funcs`.
 */
export function foreignRewardFunction(mod: Exports): UserRewardFn | undefined {
  const verl = exported(mod, 'compute_score');
  if (typeof verl === 'function') return fromVerlComputeScore(verl as (...args: unknown[]) => unknown);
  const trl = exported(mod, 'reward_funcs');
  if (typeof trl === 'function' || Array.isArray(trl)) return fromTrlRewardFuncs(Array.isArray(trl) ? trl : [trl], exported(mod, 'reward_weights'));
  return undefined;
}
