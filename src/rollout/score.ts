// Scoring a response: the task reward, then DAPO's soft overlong punishment on top.
import { overlongPenalty, type RewardFn } from '../reward/index.js';
import type { PromptRow } from '../data/index.js';

export interface ShapingConfig {
  overlongShaping: boolean;
  maxResponseLen: number;
  overlongBuffer: number;
  overlongPenalty: number;
}

export interface Scored {
  taskScore: number;
  acc: boolean;
  overlongPenalty: number;
  reward: number;
}

/** `length` counts the response's tokens including its stop token, as verl's valid length does. */
export async function scoreResponse(reward: RewardFn, text: string, row: PromptRow, length: number, shaping: ShapingConfig): Promise<Scored> {
  const columns = { ...(row.extra ?? {}), dataSource: row.dataSource, sourceIndex: row.sourceIndex };
  const result = await reward(text, { answer: row.answer, messages: row.messages, row: columns });
  if (!Number.isFinite(result.score)) throw new RangeError(`the reward function returned a non-finite score (${result.score}) for row ${row.id}`);
  const penalty = shaping.overlongShaping
    ? overlongPenalty(length, shaping.maxResponseLen, shaping.overlongBuffer, shaping.overlongPenalty)
    : 0;
  return { taskScore: result.score, acc: result.acc, overlongPenalty: penalty, reward: result.score + penalty };
}
