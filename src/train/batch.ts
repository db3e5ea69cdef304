// From kept groups to packed batches: prompt + response back to back per sequence, the
// response tokens as the targets, advantages broadcast over each response's tokens.
import { groupAdvantages } from '../loss/index.js';
import type { TrainBatch } from '../policy/index.js';
import type { Group } from '../rollout/types.js';

/** One response to train on. */
export interface TrainSample {
  promptIds: Int32Array;
  response: Int32Array;
  advantage: number;
  /** False when overlong filtering masks this response out of the loss. */
  counted: boolean;
  /** Log-probs of the response under the policy before this batch's updates. */
  oldLogprobs?: Float32Array;
  /** Log-probs under the frozen reference policy (only with a KL penalty). */
  refLogprobs?: Float32Array;
}

/**
 * Group-normalised advantages over every kept group (all of size n), then one sample per
 * response. With overlong filtering, truncated responses stay in their group's baseline but
 * are not counted in the loss. Groups sampled by the current policy (`sampledNow`) bring their
 * sampling log-probs as old log-probs: the engine's generation log-probs are bitwise those of
 * policy.logprobs, so the forward pass that verl spends on them is saved.
 */
export function samplesFromGroups(
  groups: Group[],
  opts: { advantageStd: boolean; overlongFilter: boolean },
  sampledNow: ReadonlySet<Group> = new Set(),
): TrainSample[] {
  const n = groups[0]?.rollouts.length ?? 0;
  const rewards = Float32Array.from(groups.flatMap((g) => g.rollouts.map((r) => r.reward)));
  const advantages = groupAdvantages(rewards, Math.max(n, 1), { std: opts.advantageStd });
  return groups.flatMap((g, gi) =>
    g.rollouts.map((r, ri) => ({
      promptIds: g.promptIds,
      response: r.response,
      advantage: advantages[gi * n + ri],
      counted: !(opts.overlongFilter && !r.finished),
      ...(sampledNow.has(g) ? { oldLogprobs: r.sampleLogprobs } : {}),
    })),
  );
}

/** Packs samples (with old log-probs and advantages when present) for the engine. */
export function packSamples(samples: TrainSample[]): TrainBatch {
  let totalTokens = 0;
  let totalTargets = 0;
  for (const s of samples) {
    totalTokens += s.promptIds.length + s.response.length;
    totalTargets += s.response.length;
  }
  const tokens = new Int32Array(totalTokens);
  const offsets = new Int32Array(samples.length + 1);
  const promptLengths = new Int32Array(samples.length);
  const advantages = new Float32Array(totalTargets);
  const mask = new Uint8Array(totalTargets);
  const withOld = samples.every((s) => s.oldLogprobs);
  const oldLogprobs = withOld ? new Float32Array(totalTargets) : undefined;
  const withRef = samples.length > 0 && samples.every((s) => s.refLogprobs);
  const refLogprobs = withRef ? new Float32Array(totalTargets) : undefined;
  let at = 0;
  let target = 0;
  samples.forEach((s, i) => {
    tokens.set(s.promptIds, at);
    tokens.set(s.response, at + s.promptIds.length);
    at += s.promptIds.length + s.response.length;
    offsets[i + 1] = at;
    promptLengths[i] = s.promptIds.length;
    advantages.fill(s.advantage, target, target + s.response.length);
    mask.fill(s.counted ? 1 : 0, target, target + s.response.length);
    if (oldLogprobs) oldLogprobs.set(s.oldLogprobs!, target);
    if (refLogprobs) refLogprobs.set(s.refLogprobs!, target);
    target += s.response.length;
  });
  return { tokens, offsets, promptLengths, advantages, mask, ...(oldLogprobs ? { oldLogprobs } : {}), ...(refLogprobs ? { refLogprobs } : {}) };
}

/** Consecutive slices of `size` items (the last may be shorter). */
export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Counted response tokens and counted sequences: the loss divisors of a mini-batch. */
export function lossDivisors(samples: TrainSample[]): { tokenCount: number; seqCount: number } {
  let tokenCount = 0;
  let seqCount = 0;
  for (const s of samples) {
    if (!s.counted || s.response.length === 0) continue;
    tokenCount += s.response.length;
    seqCount++;
  }
  return { tokenCount, seqCount };
}
