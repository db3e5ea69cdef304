// --preset: the recipe's defaults are the 32B run's (train batch 512, n 16, 20k-token
// responses), which keep a CPU or a small GPU busy for hours before the first step ends. A
// preset scales them to the machine; any flag or config file key still wins over it.
import type { TrainConfig } from './config.js';

export const PRESET_NAMES = ['recipe', 'small'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export const PRESETS: Record<PresetName, Partial<TrainConfig>> = {
  /** The DAPO recipe as published (the defaults). */
  recipe: {},
  /**
   * A small model (up to ~0.5B) on a CPU or one small GPU: steps of a few minutes, responses up
   * to 512 tokens, a quick validation every 10 steps, a checkpoint every 10.
   */
  small: {
    dedupe: true,
    maxPromptLen: 512,
    steps: 50,
    // A small file is passed over many times; the step count ends the run.
    epochs: 20,
    n: 8,
    trainBatch: 8,
    genBatch: 16,
    maxGenBatches: 4,
    maxResponseLen: 512,
    overlongBuffer: 128,
    miniBatch: 4,
    microBatch: 8,
    warmup: 2,
    evalEvery: 10,
    valSamples: 4,
    valLimit: 32,
    saveEvery: 10,
    plotEvery: 5,
  },
};
