// Packed batches: sequences back to back with offsets, no padding. The targets of sequence s
// are its tokens at positions t >= max(promptLength, 1), each predicted from the tokens before
// it; every per-token array (log-probs, advantages, mask) lists the targets of all sequences
// in order.
import { rangeError, typeError } from '../errors.js';

export interface PackedBatch {
  /** All sequences back to back. */
  tokens: Int32Array;
  /** S + 1 entries: sequence s is tokens[offsets[s], offsets[s + 1]). */
  offsets: Int32Array;
  /** S entries: the prompt part of each sequence (not scored). Default 0: every token after the first. */
  promptLengths?: Int32Array;
}

/** A packed batch with what the DAPO loss needs per target token. */
export interface TrainBatch extends PackedBatch {
  /** log p_old of each target (policy.logprobs or the generate output). */
  oldLogprobs?: Float32Array;
  /** advantage of each target (the group advantage of its response, repeated). */
  advantages?: Float32Array;
  /** 1 where a target counts in the loss (overlong filtering sets 0), default all 1. */
  mask?: Uint8Array;
  /** log p_ref of each target under a frozen reference policy, for the KL penalty (klCoef > 0). */
  refLogprobs?: Float32Array;
}

export interface SequencePair {
  prompt: ArrayLike<number>;
  response: ArrayLike<number>;
}

/** Packs prompt + response pairs; the targets are exactly the response tokens. */
export function packBatch(pairs: readonly SequencePair[]): PackedBatch {
  if (!Array.isArray(pairs) || pairs.length === 0) throw rangeError('pairs must be a non-empty array');
  let total = 0;
  const isList = (x: unknown): x is ArrayLike<number> => ArrayBuffer.isView(x) || Array.isArray(x);
  pairs.forEach((p, i) => {
    if (typeof p !== 'object' || p === null || !isList(p.prompt) || !isList(p.response))
      throw typeError(`pairs[${i}] must be an object with prompt and response arrays of token ids`);
    if (p.prompt.length < 1) throw rangeError(`pairs[${i}].prompt must hold at least one token`);
    total += p.prompt.length + p.response.length;
  });
  if (total > 0x7fffffff) throw rangeError(`pairs hold ${total} tokens, more than an Int32Array offset can address`);
  const tokens = new Int32Array(total);
  const offsets = new Int32Array(pairs.length + 1);
  const promptLengths = new Int32Array(pairs.length);
  let at = 0;
  pairs.forEach((p, i) => {
    tokens.set(Array.from(p.prompt), at);
    tokens.set(Array.from(p.response), at + p.prompt.length);
    promptLengths[i] = p.prompt.length;
    at += p.prompt.length + p.response.length;
    offsets[i + 1] = at;
  });
  return { tokens, offsets, promptLengths };
}

/** Number of target tokens of a packed batch (the length of its per-token arrays). */
export function countTargets(batch: PackedBatch): number {
  let n = 0;
  for (let s = 0; s + 1 < batch.offsets.length; s++) {
    const len = batch.offsets[s + 1] - batch.offsets[s];
    n += Math.max(0, len - Math.max(batch.promptLengths?.[s] ?? 0, 1));
  }
  return n;
}
