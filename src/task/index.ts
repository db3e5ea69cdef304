// The built-in tasks, by dataset name ("builtin:<task>"), and the settings each runs with on
// top of the built-in scale (src/train/config.ts).
import { makeArithmeticTask } from './arithmetic.js';
import { CHAINS_DATASET, makeChainTask } from './chains.js';
import type { TrainConfig } from '../train/config.js';
import type { BuiltinTask } from './types.js';

export type { BuiltinTask, WarmupExample } from './types.js';

export const ARITHMETIC_DATASET = 'builtin:arithmetic';

interface TaskEntry {
  make: (seed: number) => BuiltinTask;
  describe: string;
  /** Option values the task needs, applied over the built-in scale. */
  settings: Partial<TrainConfig>;
}

export const BUILTIN_TASKS: Record<string, TaskEntry> = {
  [ARITHMETIC_DATASET]: { make: (seed) => makeArithmeticTask({ seed }), describe: 'a+b= with a, b in 0..19', settings: {} },
  [CHAINS_DATASET]: {
    make: (seed) => makeChainTask({ seed }),
    describe: 'sums of 2 to 4 digits with running totals, of mixed difficulty (the ablation task)',
    // Correct answers take at most 17 tokens: they end before the 6-token overlong buffer. Four
    // updates per rollout batch (the recipe makes 16), so the ratios leave 1 and the clips act.
    settings: { maxResponseLen: 24, overlongBuffer: 6, steps: 400, miniBatch: 4 },
  },
};

export function isBuiltinDataset(dataset: string): boolean {
  return dataset.startsWith('builtin:');
}

export class UnknownTaskError extends Error {
  readonly code = 'E_UNKNOWN_TASK';
  constructor(dataset: string) {
    super(`unknown built-in dataset '${dataset}': choose one of ${Object.keys(BUILTIN_TASKS).join(', ')}`);
    this.name = 'UnknownTaskError';
  }
}

export function makeBuiltinTask(dataset: string, seed: number): BuiltinTask {
  const entry = BUILTIN_TASKS[dataset];
  if (!entry) throw new UnknownTaskError(dataset);
  return entry.make(seed);
}
