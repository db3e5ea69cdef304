// DAPO's overlong reward shaping ("soft overlong punishment", Yu et al. 2025, eq. 13),
// computed as verl's DAPO reward manager does (verl/workers/reward_manager/dapo.py):
//
//   expected = L_max - L_cache
//   penalty  = min(-(len - expected) / L_cache * factor, 0)
//
// i.e. 0 up to L_max - L_cache, a linear ramp inside the buffer, -factor at L_max.
// verl never sees len > L_max (generation stops there); we clamp to -factor beyond,
// as the paper's formula does.
//
// The other overlong remedy, overlong *filtering*, is not a reward at all: truncated
// responses get their loss masked out while their reward still counts in the group
// baseline. That mask belongs to the trainer (src/train, src/rollout), not here.

import { rangeError, shown, typeError } from '../errors.js';

export interface OverlongConfig {
  /** L_max: the generation limit in tokens. */
  maxResponseLength: number;
  /** L_cache: the buffer before L_max where the penalty ramps up (verl: overlong_buffer.len). */
  bufferLength: number;
  /** Penalty at and beyond L_max (verl: overlong_buffer.penalty_factor, default 1.0). */
  penaltyFactor?: number;
}

function checkNonNegative(name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw typeError(`${name} must be a finite number, got ${shown(v)}`);
  if (v < 0) throw rangeError(`${name} must be >= 0, got ${v}`);
}

/**
 * The soft overlong penalty (<= 0) to add to a response's score.
 * @param length response length in tokens (valid tokens, eos included as verl counts it)
 */
export function overlongPenalty(length: number, maxResponseLength: number, bufferLength: number, penaltyFactor = 1): number {
  checkNonNegative('length', length);
  checkNonNegative('maxResponseLength', maxResponseLength);
  checkNonNegative('bufferLength', bufferLength);
  checkNonNegative('penaltyFactor', penaltyFactor);
  if (bufferLength === 0) return length > maxResponseLength ? -penaltyFactor : 0;
  // verl allows L_cache > L_max (it warns); expected may then be negative.
  const expected = maxResponseLength - bufferLength;
  if (length >= maxResponseLength) return -penaltyFactor;
  const exceed = length - expected;
  const p = Math.min((-exceed / bufferLength) * penaltyFactor, 0);
  return p === 0 ? 0 : p; // no -0
}

/** overlongPenalty with a config object. */
export function overlongPenaltyFor(length: number, cfg: OverlongConfig): number {
  return overlongPenalty(length, cfg.maxResponseLength, cfg.bufferLength, cfg.penaltyFactor ?? 1);
}
