// The supervised warm-up of builtin:tiny before RL: a few hundred next-token steps on the
// task's noisy answers, so that the random model writes "Answer: <number>" and is right some
// of the time (see arithmetic.ts and chains.ts for why the answers are noisy).
import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';

import type { Policy } from '../policy/index.js';
import type { TextTokenizer } from '../tokenizer/index.js';
import { packSamples } from '../train/batch.js';
import type { BuiltinTask } from './types.js';

export interface WarmupOptions {
  steps: number;
  batch: number;
  lr: number;
  seed: number;
  /** Asked between steps: true stops the warm-up there (Ctrl-C or SIGTERM during it). */
  shouldStop?: () => boolean;
}

export interface WarmupResult {
  /** The last step's loss (NaN when no step ran). */
  loss: number;
  /** Stopped by shouldStop before its last step. */
  stopped: boolean;
}

export const WARMUP_DEFAULTS: WarmupOptions = { steps: 1000, batch: 64, lr: 3e-3, seed: 7 };

export async function warmup(policy: Policy, tokenizer: TextTokenizer, task: BuiltinTask, options: WarmupOptions): Promise<WarmupResult> {
  const examples = task.warmup(options.steps * options.batch, options.seed);
  let lastLoss = NaN;
  for (let step = 0; step < options.steps; step++) {
    if (options.shouldStop?.()) return { loss: lastLoss, stopped: true };
    const part = examples.slice(step * options.batch, (step + 1) * options.batch);
    const samples = await Promise.all(
      part.map(async (ex) => ({
        promptIds: await tokenizer.encodeChat([{ role: 'user', content: ex.prompt }]),
        response: Int32Array.from([...(await tokenizer.encode(ex.response, { addSpecialTokens: false })), tokenizer.eosTokenIds[0]]),
        advantage: 0,
        counted: true,
      })),
    );
    const batch = packSamples(samples);
    const result = await policy.accumulate(batch, { kind: 'nll' });
    await policy.step({ lr: options.lr * Math.min(1, (step + 1) / 10), clipGradNorm: 1.0 });
    lastLoss = result.loss;
  }
  return { loss: lastLoss, stopped: false };
}

/** The cache entry of a warm model: everything the warm-up's result depends on. */
export function warmupCacheKey(dataset: string, model: string, modelSeed: number, options: WarmupOptions): string {
  const name = (s: string) => s.replace(/^builtin:/, '').replace(/[^a-z0-9.-]+/gi, '_');
  return `${name(dataset)}-${name(model)}-seed${modelSeed}-warm${options.steps}x${options.batch}-lr${options.lr}-seed${options.seed}`;
}

/**
 * Warms `policy` up and saves it (weights, no optimizer) to `dir`; with `cacheEntry`, a warm
 * model saved there before is copied instead (runs that differ only after the warm-up, such as
 * the ablation's variants of one seed, then share it), and a new one is stored there.
 */
export async function warmupTo(
  dir: string,
  policy: Policy,
  tokenizer: TextTokenizer,
  task: BuiltinTask,
  options: WarmupOptions,
  cacheEntry?: string,
): Promise<{ loss: number | undefined; reused: boolean; stopped: boolean }> {
  if (cacheEntry && existsSync(cacheEntry)) {
    cpSync(cacheEntry, dir, { recursive: true });
    return { loss: undefined, reused: true, stopped: false };
  }
  const { loss, stopped } = await warmup(policy, tokenizer, task, options);
  // A stopped warm-up is not a warm model: neither saved nor cached.
  if (stopped) return { loss, reused: false, stopped };
  await policy.save(dir, { optimizer: false });
  if (cacheEntry) {
    // Copied under a temporary name and renamed, so a reader never sees half an entry; when a
    // parallel run stored the same entry first, its copy stays.
    mkdirSync(dirname(cacheEntry), { recursive: true });
    const tmp = `${cacheEntry}.tmp-${process.pid}`;
    cpSync(dir, tmp, { recursive: true });
    try {
      renameSync(tmp, cacheEntry);
    } catch {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return { loss, reused: false, stopped: false };
}
