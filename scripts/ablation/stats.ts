// Seeded percentile bootstrap over seeds: the interval of a mean, and of a paired difference
// (variant minus baseline on the same seeds, which cancels what a seed does to both).
import { Rng } from '../../src/data/index.js';

export interface Interval {
  mean: number;
  lo: number;
  hi: number;
}

export const BOOTSTRAP_RESAMPLES = 10000;
export const BOOTSTRAP_SEED = 20250314;

/** The mean of `xs` and its 95% percentile bootstrap interval from `resamples` resamples drawn with `seed`. */
export function bootstrapMean(xs: number[], resamples = BOOTSTRAP_RESAMPLES, seed = BOOTSTRAP_SEED): Interval {
  if (xs.length === 0) throw new RangeError('bootstrapMean needs at least one value');
  const rng = new Rng(seed);
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let sum = 0;
    for (let i = 0; i < xs.length; i++) sum += xs[Math.floor(rng.next() * xs.length)];
    means[b] = sum / xs.length;
  }
  means.sort();
  const at = (q: number) => means[Math.min(resamples - 1, Math.max(0, Math.round(q * (resamples - 1))))];
  return { mean: xs.reduce((a, b) => a + b, 0) / xs.length, lo: at(0.025), hi: at(0.975) };
}

/** The mean of variant[i] - baseline[i] over paired seeds, with its bootstrap interval. */
export function bootstrapPairedDifference(variant: number[], baseline: number[], resamples = BOOTSTRAP_RESAMPLES, seed = BOOTSTRAP_SEED): Interval {
  if (variant.length !== baseline.length) throw new RangeError(`paired samples differ in length: ${variant.length} and ${baseline.length}`);
  return bootstrapMean(
    variant.map((v, i) => v - baseline[i]),
    resamples,
    seed,
  );
}

export function formatInterval(x: Interval, digits = 3, signed = false): string {
  const f = (v: number) => (signed && v > 0 ? '+' : '') + v.toFixed(digits);
  return `${f(x.mean)} [${f(x.lo)}, ${f(x.hi)}]`;
}
