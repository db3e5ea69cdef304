// Shared pieces of the benchmarks: one result row, medians, and trials as fresh processes.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface BenchRow {
  kernel: string;
  impl: string;
  device: string;
  n: number;
  v: number;
  dtype: string;
  medianMs: number;
  gbPerS: number;
  note?: string;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Times fn: `warmup` untimed calls, then the median of `reps` timed ones, in ms. */
export function timeMedian(fn: () => void, reps: number, warmup = 1): number {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}

/** The async twin of timeMedian: `warmup` untimed calls, then the median of `reps` timed ones, in ms. */
export async function timeMedianAsync(fn: () => Promise<unknown>, reps: number, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}

/** Runs one trial script in a fresh Node process and returns the rows it printed as JSON. */
export function runTrial(script: string, args: string[]): BenchRow[] {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const result = spawnSync(process.execPath, ['--import', 'tsx', path, ...args], {
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`trial ${script} ${args.join(' ')} failed:\n${result.stderr}`);
  const last = result.stdout.trim().split('\n').pop() ?? '[]';
  return JSON.parse(last) as BenchRow[];
}
