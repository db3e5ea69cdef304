// Whether a resumed training run equals a straight one: every metrics row after the
// checkpoint's step, key by key (time/ and perf/ left out: they measure the machine), and the
// final model's weights byte for byte. The device check runs it after its 20-step train and
// resume; it prints one `figure:` line and exits 1 at the first difference, which it names.
//   node --import tsx scripts/compare-runs.ts <straight run> <resumed run> <checkpoint step>
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

type Row = Record<string, number>;

function rows(dir: string, after: number): Row[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Row)
    .filter((r) => r.step > after);
}

const machineDependent = (key: string) => key.startsWith('time/') || key.startsWith('perf/');

/** One line on the straight run: the means of its step time, tokens/s and, on CUDA, MFU and peak memory. */
export function runFigures(dir: string): string {
  const all = rows(dir, 0);
  const meanOf = (key: string) => {
    const xs = all.map((r) => r[key]).filter((x) => typeof x === 'number');
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined;
  };
  const parts = [`${all.length} steps`];
  const step = meanOf('time/step_s');
  const tps = meanOf('perf/tokens_per_s');
  const mfu = meanOf('perf/mfu');
  const mem = all.reduce((m, r) => Math.max(m, r['perf/max_memory_allocated_gb'] ?? 0), 0);
  if (step !== undefined) parts.push(`${step.toFixed(2)} s a step`);
  if (tps !== undefined) parts.push(`${Math.round(tps)} tokens/s`);
  if (mfu !== undefined) parts.push(`update MFU ${(100 * mfu).toFixed(1)}%`);
  if (mem > 0) parts.push(`max memory ${mem.toFixed(2)} GiB`);
  return parts.join(', ');
}

/** The first difference between the runs after `step`, or undefined when they agree. */
export function compareRuns(straight: string, resumed: string, step: number): { difference?: string; rows: number } {
  const a = rows(straight, step);
  const b = rows(resumed, step);
  if (a.length === 0) return { difference: `${straight}/metrics.jsonl has no rows after step ${step}`, rows: 0 };
  if (a.length !== b.length) return { difference: `${a.length} rows after step ${step} in the straight run, ${b.length} in the resumed one`, rows: a.length };
  for (let i = 0; i < a.length; i++) {
    const keys = new Set([...Object.keys(a[i]), ...Object.keys(b[i])].filter((k) => !machineDependent(k)));
    for (const key of keys)
      if (a[i][key] !== b[i][key]) return { difference: `step ${a[i].step}: ${key} is ${a[i][key]} straight, ${b[i][key]} resumed`, rows: a.length };
  }
  const wa = readFileSync(join(straight, 'final', 'model.safetensors'));
  const wb = readFileSync(join(resumed, 'final', 'model.safetensors'));
  if (!wa.equals(wb)) return { difference: 'final/model.safetensors differs', rows: a.length };
  return { rows: a.length };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [straight, resumed, step] = process.argv.slice(2);
  if (!straight || !resumed || !Number.isInteger(Number(step))) {
    console.error('usage: compare-runs.ts <straight run> <resumed run> <checkpoint step>');
    process.exit(2);
  }
  console.log(`figure: train run ${straight}: ${runFigures(straight)}`);
  const r = compareRuns(straight, resumed, Number(step));
  if (r.difference) {
    console.log(`figure: resume after step ${step}: NOT exact: ${r.difference}`);
    process.exitCode = 1;
  } else {
    console.log(`figure: resume after step ${step}: exact (${r.rows} metrics rows and final/model.safetensors equal)`);
  }
}
