// metrics.jsonl: one JSON object per step, appended as the run goes; on resume the lines past
// the checkpoint's step are dropped so the file reads as if the run had never stopped.
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export type Metrics = Record<string, number>;

export class MetricsLog {
  constructor(readonly path: string) {}

  append(row: Metrics): void {
    appendFileSync(this.path, JSON.stringify(row) + '\n');
  }

  /** Keeps only rows with step <= `step` (used when resuming from a checkpoint). */
  truncateAfter(step: number): void {
    if (!existsSync(this.path)) return;
    const kept = readFileSync(this.path, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '' && (JSON.parse(line) as Metrics).step <= step);
    const tmp = `${this.path}.tmp-${process.pid}`;
    writeFileSync(tmp, kept.map((l) => l + '\n').join(''));
    renameSync(tmp, this.path);
  }
}

export function mean(xs: ArrayLike<number>): number {
  if (xs.length === 0) return 0;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}
