// What the ablation reads from each run's metrics.jsonl: the held-out accuracy it ends with and
// averages over the run, and the task properties each DAPO component acts on.
import { readMetrics } from '../../src/train/plot.js';

export interface Outcome {
  /** val/acc at the last evaluation. */
  finalAcc: number;
  /** Mean val/acc over the evaluations after step 0 (how soon a variant gets there). */
  meanAcc: number;
  /** Mean actor/entropy over the first and the last `window` training steps. */
  entropyStart: number;
  entropyEnd: number;
  /** Shares of generated groups all right or all wrong, all right; mean over steps. */
  allEqual: number;
  allCorrect: number;
  /** Share of responses cut at L_max: over the first `window` steps and over the run. */
  cutStart: number;
  cut: number;
  responseLength: number;
  genBatches: number;
}

const mean = (xs: number[]) => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

export function readOutcome(metricsPath: string, window = 20): Outcome {
  const rows = readMetrics(metricsPath);
  const evals = rows.filter((r) => r['val/acc'] !== undefined);
  const steps = rows.filter((r) => r['train/acc_mean'] !== undefined);
  const trained = steps.filter((r) => r['actor/entropy'] !== undefined);
  const of = (rs: typeof rows, key: string) => mean(rs.map((r) => r[key]).filter((v) => v !== undefined));
  if (evals.length < 2 || steps.length === 0) throw new Error(`${metricsPath}: too few steps or evaluations to read an outcome`);
  return {
    finalAcc: evals[evals.length - 1]['val/acc'],
    meanAcc: mean(evals.filter((r) => r.step > 0).map((r) => r['val/acc'])),
    entropyStart: of(trained.slice(0, window), 'actor/entropy'),
    entropyEnd: of(trained.slice(-window), 'actor/entropy'),
    allEqual: of(steps, 'train/all_equal_rate'),
    allCorrect: of(steps, 'train/all_correct_rate'),
    cutStart: of(steps.slice(0, window), 'response_length/clip_ratio'),
    cut: of(steps, 'response_length/clip_ratio'),
    responseLength: of(steps, 'response_length/mean'),
    genBatches: of(steps, 'train/num_gen_batches'),
  };
}
