// The supervised warm-up of builtin:tiny before RL: a few hundred next-token steps on the
// task's noisy answers, so that the random model writes "Answer: <number>" and is right some
// of the time (see arithmetic.ts for why the answers are noisy).
import type { Policy } from '../policy/index.js';
import type { TextTokenizer } from '../tokenizer/index.js';
import { packSamples } from '../train/batch.js';
import type { ArithmeticTask } from './arithmetic.js';

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

export async function warmup(policy: Policy, tokenizer: TextTokenizer, task: ArithmeticTask, options: WarmupOptions): Promise<WarmupResult> {
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
