// The ablation's tables, written between markers into benchmarks/RESULTS.md (the prose around
// them is written by hand, after reading them).
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

import type { Outcome } from './outcomes.js';
import type { RunRecord } from './runs.js';
import { BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrapMean, bootstrapPairedDifference, formatInterval } from './stats.js';

export interface VariantResult {
  name: string;
  component?: string;
  outcomes: Outcome[];
  records: RunRecord[];
}

export interface ReportContext {
  seeds: number[];
  steps: string;
  commit: string;
  cores: number;
  jobs: number;
  loads: number[];
  elapsedSeconds: number;
  log: (line: string) => void;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const cpuSeconds = (r: RunRecord) => r.userSeconds + r.systemSeconds;
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function accuracyTable(results: VariantResult[]): string {
  const dapo = results.find((r) => r.name === 'DAPO')!;
  const diff = (r: VariantResult, key: 'finalAcc' | 'meanAcc') =>
    r === dapo ? '(baseline)' : formatInterval(bootstrapPairedDifference(r.outcomes.map((o) => o[key]), dapo.outcomes.map((o) => o[key])), 3, true);
  const lines = [
    '| variant | final val/acc [95% CI] | paired Δ to DAPO [95% CI] | val/acc averaged over the run | paired Δ to DAPO | CPU min per run | wall min per run |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results)
    lines.push(
      `| ${r.name} | ${formatInterval(bootstrapMean(r.outcomes.map((o) => o.finalAcc)))} | ${diff(r, 'finalAcc')} | ` +
        `${formatInterval(bootstrapMean(r.outcomes.map((o) => o.meanAcc)))} | ${diff(r, 'meanAcc')} | ` +
        `${(mean(r.records.map(cpuSeconds)) / 60).toFixed(2)} | ${(mean(r.records.map((x) => x.wallSeconds)) / 60).toFixed(1)} |`,
    );
  return lines.join('\n');
}

export function propertiesTable(results: VariantResult[]): string {
  const lines = [
    '| variant | all-equal groups (of which all right) | cut at L_max, first 20 steps / all steps | entropy, first 20 -> last 20 steps | response length | generation batches per step |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    const m = (key: keyof Outcome) => mean(r.outcomes.map((o) => o[key]));
    lines.push(
      `| ${r.name} | ${pct(m('allEqual'))} (${pct(m('allCorrect'))}) | ${pct(m('cutStart'))} / ${pct(m('cut'))} | ` +
        `${m('entropyStart').toFixed(3)} -> ${m('entropyEnd').toFixed(3)} | ${m('responseLength').toFixed(1)} | ${m('genBatches').toFixed(2)} |`,
    );
  }
  return lines.join('\n');
}

export function costLine(results: VariantResult[], ctx: ReportContext): string {
  const records = results.flatMap((r) => r.records);
  const cpuMinutes = records.reduce((s, r) => s + cpuSeconds(r), 0) / 60;
  const budget = ctx.cores * 60;
  const lo = Math.min(...ctx.loads);
  const hi = Math.max(...ctx.loads);
  return (
    `Cost: ${cpuMinutes.toFixed(1)} CPU minutes (user + sys) for the ${records.length} runs, ${pct(cpuMinutes / budget)} of a budget of ` +
    `${budget} CPU minutes (${ctx.cores} cores x 1 hour); ${(records.reduce((s, r) => s + r.wallSeconds, 0) / 60).toFixed(0)} run-minutes of wall time, ` +
    `${ctx.jobs} runs at a time. The machine was shared: 1-minute load average ${mean(ctx.loads).toFixed(1)} on average ` +
    `(${lo.toFixed(1)} to ${hi.toFixed(1)}) over ${(ctx.elapsedSeconds / 60).toFixed(0)} minutes of this invocation, on ${ctx.cores} cores.`
  );
}

export function writeResults(path: string, results: VariantResult[], ctx: ReportContext): void {
  const begin = '<!-- ablation:begin -->';
  const end = '<!-- ablation:end -->';
  const seedsText = ctx.seeds.length > 2 ? `${ctx.seeds[0]}-${ctx.seeds[ctx.seeds.length - 1]}` : ctx.seeds.join(', ');
  const body = [
    `${new Date().toISOString().slice(0, 10)}, \`nice npm run ablation\` at ${ctx.commit}: builtin:chains, seeds ${seedsText} ` +
      `(${ctx.seeds.length} per variant), ${ctx.steps} RL steps per run. val/acc is the mean correctness of 8 samples ` +
      `(temperature 1, top-p 0.7) on the 55 held-out problems. Intervals: 95% percentile bootstrap over the seeds, ` +
      `${BOOTSTRAP_RESAMPLES} resamples, seed ${BOOTSTRAP_SEED}; a paired Δ is the variant minus DAPO on the same seed.`,
    '',
    accuracyTable(results),
    '',
    'What each component had to act on, as the runs met it (means over seeds and steps):',
    '',
    propertiesTable(results),
    '',
    costLine(results, ctx),
  ].join('\n');
  ctx.log(`\n${body}\n`);
  const section = `${begin}\n${body}\n${end}`;
  const current = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const updated = current.includes(begin) ? current.replace(new RegExp(`${begin}[\\s\\S]*${end}`), section) : `${current}\n## Ablation\n\n${section}\n`;
  writeFileSync(`${path}.tmp`, updated);
  renameSync(`${path}.tmp`, path);
  ctx.log(`ablation: wrote the tables to ${path}`);
}
