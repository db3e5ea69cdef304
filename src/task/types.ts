// What a built-in task hands the trainer: training and held-out prompts, and the noisy
// supervised examples that warm a random builtin:tiny up before RL (its stand-in for
// pretraining).
import type { PromptRow } from '../data/index.js';

export interface WarmupExample {
  prompt: string;
  response: string;
}

export interface BuiltinTask {
  train: PromptRow[];
  val: PromptRow[];
  /** `count` prompt and response text pairs for the supervised warm-up, drawn with `seed`. */
  warmup(count: number, seed: number): WarmupExample[];
  /** Warm-up steps the task needs (default: WARMUP_DEFAULTS.steps). */
  warmupSteps?: number;
}
