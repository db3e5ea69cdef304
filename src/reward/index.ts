// Rewards: the DAPO-Math rule, its \boxed{} variant, overlong shaping, user modules.
export {
  dapoMathReward,
  dapoBoxedReward,
  normalizeFinalAnswer,
  extractAnswerLine,
  lastBoxedOnlyString,
  removeBoxed,
  INVALID_PRED,
  DAPO_TAIL_CHARS,
  BOXED_TAIL_CHARS,
} from './math-dapo.js';
export type { MathRewardResult, BoxedRewardOptions } from './math-dapo.js';
export { overlongPenalty, overlongPenaltyFor } from './overlong.js';
export type { OverlongConfig } from './overlong.js';
export { loadRewardModule, wrapRewardFunction, coerceRewardOutput, RewardError, DEFAULT_REWARD_TIMEOUT } from './user.js';
export type { RewardFn, UserRewardFn, RewardSample, RewardOutput, RewardErrorCode, RewardCallOptions } from './user.js';
export { resolveReward, BUILTIN_REWARDS } from './resolve.js';
export type { BuiltinReward } from './resolve.js';
