// What dapo eval prints: where its settings came from, how much work it is, progress while
// it generates, and the table of avg@k and pass@k per data source.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import type { GenerationProgress } from '../rollout/generate.js';
import type { TrainConfig } from '../train/config.js';
import { dataSourceMetrics, type PromptScore } from '../train/evaluate.js';
import { formatCount, formatSeconds } from '../train/progress.js';

/** A dapo run's config.json (not a model's: that one has model_type, not maxResponseLen). */
function isRunConfig(file: string): boolean {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return v !== null && typeof v === 'object' && 'maxResponseLen' in v && 'trainBatch' in v;
  } catch {
    return false;
  }
}

/**
 * The config.json of the run a model folder came from: beside final/ (run/config.json), or
 * three levels up from a checkpoint's model (run/checkpoints/step-N/model).
 */
export function findRunConfig(model: string): string | undefined {
  if (model.startsWith('builtin:')) return undefined;
  let dir = resolve(model);
  for (let up = 0; up < 3; up++) {
    dir = dirname(dir);
    const file = join(dir, 'config.json');
    if (existsSync(file) && isRunConfig(file)) return file;
  }
  return undefined;
}

/** Tokens above which eval says how to make the job smaller before it starts. */
const LARGE_JOB_TOKENS = 2_000_000;

export function evalPlan(
  config: Pick<TrainConfig, 'valSamples' | 'valTemperature' | 'valTopP' | 'maxResponseLen' | 'dedupe'>,
  prompts: number,
  available: number,
  source: string | undefined,
  device: string,
): string {
  const sampling = config.valTemperature === 0 ? 'greedy' : `temperature ${config.valTemperature}, top-p ${config.valTopP}`;
  const lines = [
    `dapo eval: ${prompts}${prompts < available ? ` of ${available}` : ''} prompts x ${config.valSamples} samples (${sampling}), ` +
      `responses up to ${config.maxResponseLen} tokens; settings ${source ? `from ${source}` : 'from the defaults (no run config.json found beside the model)'} and the flags`,
  ];
  const most = prompts * config.valSamples * config.maxResponseLen;
  if (most > LARGE_JOB_TOKENS)
    lines.push(
      `dapo eval: up to ${formatCount(most)} tokens to generate${device === 'cpu' ? ' on the CPU' : ''}; ` +
        `--limit N, -k N, --max-response-len N${config.dedupe ? '' : ' and --dedupe'} make it smaller`,
    );
  return lines.join('\n');
}

/** A progress callback that writes "sequences, tokens, tokens/s, eta" lines through `report`. */
export function generationMeter(report: (line: string) => void): (p: GenerationProgress) => void {
  const started = Date.now();
  return (p) => {
    const seconds = (Date.now() - started) / 1000;
    const eta = p.sequences > 0 ? (seconds / p.sequences) * (p.totalSequences - p.sequences) : NaN;
    report(`eval: ${p.sequences}/${p.totalSequences} sequences, ${formatCount(p.tokens)} tokens, ${formatCount(seconds > 0 ? p.tokens / seconds : 0)} tok/s, eta ${formatSeconds(eta)}`);
  };
}

/** One line per data source: prompts, mean@n, pass@k for each k. */
export function resultTable(scores: PromptScore[]): string {
  const sources = [...new Set(scores.map((s) => s.dataSource))];
  const rows = sources.map((source) => {
    const metrics = dataSourceMetrics(scores.filter((s) => s.dataSource === source));
    const cell = (pattern: RegExp) =>
      Object.entries(metrics)
        .filter(([k]) => pattern.test(k))
        .map(([k, v]) => [k.slice(k.lastIndexOf('/') + 1), v.toFixed(3)] as const);
    return { source, prompts: String(metrics[`val-aux/${source}/prompts`]), cells: [...cell(/\/acc\/mean@\d+$/), ...cell(/\/acc\/pass@\d+$/)] };
  });
  const header = ['data source', 'prompts', ...(rows[0]?.cells.map(([name]) => name) ?? [])];
  const table = [header, ...rows.map((r) => [r.source, r.prompts, ...r.cells.map(([, v]) => v)])];
  const widths = header.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length)));
  return table.map((row) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}
