// One place that turns a --reward value into a RewardFn.
import { dapoBoxedReward, dapoMathReward } from './math-dapo.js';
import { loadRewardModule, type RewardCallOptions, type RewardFn } from './user.js';

export const BUILTIN_REWARDS = ['dapo-math', 'boxed'] as const;
export type BuiltinReward = (typeof BUILTIN_REWARDS)[number];

/** 'dapo-math' (default), 'boxed', or a path to a user module (with a time limit per call). */
export async function resolveReward(spec: string = 'dapo-math', options: RewardCallOptions = {}): Promise<RewardFn> {
  if (spec === 'dapo-math') return async (response, sample) => dapoMathReward(response, sample.answer);
  if (spec === 'boxed') return async (response, sample) => dapoBoxedReward(response, sample.answer);
  return loadRewardModule(spec, options);
}
