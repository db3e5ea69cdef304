// metrics.jsonl: one JSON object per step, appended as the run goes; on resume the lines past
// the checkpoint's step are dropped so the file reads as if the run had never stopped. Other
// loggers (TensorBoard) receive the same rows as sinks.
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export type Metrics = Record<string, number>;

/** Another destination for the metrics rows (--logger tensorboard). */
export interface MetricsSink {
  scalars(step: number, row: Metrics): void;
  /** The run goes on from `step` (a resume): what the sink holds from `step` on is stale. */
  restartAt(step: number): void;
}

export class MetricsLog {
  constructor(
    readonly path: string,
    private readonly sinks: MetricsSink[] = [],
  ) {}

  append(row: Metrics): void {
    appendFileSync(this.path, JSON.stringify(row) + '\n');
    for (const sink of this.sinks) sink.scalars(row.step, row);
  }

  /** Keeps only rows with step <= `step` (used when resuming from a checkpoint). */
  truncateAfter(step: number): void {
    for (const sink of this.sinks) sink.restartAt(step + 1);
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
