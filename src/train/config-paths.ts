// A run's config.json names its model, data, reward module and warm-up cache by absolute path,
// so that `dapo eval` and `--resume` read it from any working folder (a relative path would
// resolve against wherever the later command runs, and find nothing or the wrong file).
import { isAbsolute, resolve } from 'node:path';

import { BUILTIN_REWARDS } from '../reward/index.js';
import type { TrainConfig } from './config.js';

/** A local path made absolute; built-in names (builtin:..., 'dapo-math') stay as they are. */
function absolute(path: string): string {
  return path.startsWith('builtin:') || isAbsolute(path) ? path : resolve(path);
}

export function withAbsolutePaths(config: TrainConfig): TrainConfig {
  const reward = (BUILTIN_REWARDS as readonly string[]).includes(config.reward) ? config.reward : absolute(config.reward);
  return {
    ...config,
    model: absolute(config.model),
    dataset: absolute(config.dataset),
    valDataset: config.valDataset === undefined ? undefined : absolute(config.valDataset),
    reward,
    warmupCache: config.warmupCache === undefined ? undefined : absolute(config.warmupCache),
  };
}
