// npm run ablation: the built-in task under --algo grpo, full DAPO, and DAPO with each of its
// components switched off, over several seeds. Reports steps to 80% held-out accuracy, the
// final accuracy and the final entropy, and writes the table into benchmarks/RESULTS.md.
//   node --import tsx scripts/ablation.ts [--seeds 1,2,3] [--steps N] [--out runs/ablation]
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { readMetrics } from '../src/train/plot.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const arg = (name: string, fallback: string) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
};
const seeds = arg('seeds', '1,2,3').split(',').map(Number);
const steps = arg('steps', '');
const outRoot = arg('out', join(root, 'runs', 'ablation'));

const VARIANTS: Array<{ name: string; flags: string[] }> = [
  { name: 'DAPO', flags: [] },
  { name: 'GRPO (--algo grpo)', flags: ['--algo', 'grpo'] },
  { name: 'DAPO without clip-higher', flags: ['--clip-high', '0.2'] },
  { name: 'DAPO without dynamic sampling', flags: ['--no-dynamic-sampling'] },
  { name: 'DAPO without token-level loss', flags: ['--aggregation', 'seq-mean-token-mean'] },
  { name: 'DAPO without overlong shaping', flags: ['--no-overlong-shaping'] },
];

interface Outcome {
  stepsTo80: number | undefined;
  finalAcc: number;
  finalEntropy: number;
  seconds: number;
}

// A finished run of the same command is reused (its recorded minutes included), so an
// interrupted ablation picks up where it stopped.
function finished(out: string, args: string[]): number | undefined {
  const record = join(out, 'ablation-run.json');
  if (!existsSync(record)) return undefined;
  const saved = JSON.parse(readFileSync(record, 'utf8')) as { args: string[]; seconds: number };
  return JSON.stringify(saved.args) === JSON.stringify(args) ? saved.seconds : undefined;
}

function runOne(flags: string[], seed: number, out: string): Outcome {
  const started = Date.now();
  const args = ['train', '--seed', String(seed), '--out', out, ...flags, ...(steps ? ['--steps', steps] : [])];
  let seconds = finished(out, args);
  if (seconds === undefined) {
    rmSync(out, { recursive: true, force: true });
    const result = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, CI: '1' } });
    if (result.status !== 0) throw new Error(`run failed: ${args.join(' ')}\n${result.stderr}`);
    seconds = (Date.now() - started) / 1000;
    writeFileSync(join(out, 'ablation-run.json'), JSON.stringify({ args, seconds }) + '\n');
  }
  const rows = readMetrics(join(out, 'metrics.jsonl'));
  const evals = rows.filter((r) => r['val/acc'] !== undefined);
  const trained = rows.filter((r) => r['actor/entropy'] !== undefined);
  return {
    stepsTo80: evals.find((r) => r['val/acc'] >= 0.8)?.step,
    finalAcc: evals[evals.length - 1]['val/acc'],
    finalEntropy: trained[trained.length - 1]?.['actor/entropy'] ?? NaN,
    seconds,
  };
}

const fmt = (xs: number[], digits: number) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
  return `${m.toFixed(digits)} ± ${sd.toFixed(digits)}`;
};

const lines = [
  `| variant | steps to 80% val/acc (per seed) | final val/acc | final entropy | minutes per run |`,
  `| --- | --- | --- | --- | --- |`,
];
for (const variant of VARIANTS) {
  const outcomes = seeds.map((seed) => {
    const dir = join(outRoot, `${variant.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-seed${seed}`);
    const o = runOne(variant.flags, seed, dir);
    console.log(`${variant.name} seed ${seed}: to 80% ${o.stepsTo80 ?? 'never'}, final ${o.finalAcc.toFixed(3)}, entropy ${o.finalEntropy.toFixed(3)} (${o.seconds.toFixed(0)} s)`);
    return o;
  });
  lines.push(
    `| ${variant.name} | ${outcomes.map((o) => o.stepsTo80 ?? 'never').join(', ')} | ${fmt(outcomes.map((o) => o.finalAcc), 3)} | ` +
      `${fmt(outcomes.map((o) => o.finalEntropy), 3)} | ${(outcomes.reduce((a, o) => a + o.seconds, 0) / outcomes.length / 60).toFixed(1)} |`,
  );
}

const table = lines.join('\n');
console.log(`\n${table}`);
const results = join(root, 'benchmarks', 'RESULTS.md');
const begin = '<!-- ablation:begin -->';
const end = '<!-- ablation:end -->';
const section = `${begin}\n${new Date().toISOString().slice(0, 10)}, \`npm run ablation\` (seeds ${seeds.join(', ')}${steps ? `, ${steps} steps` : ''}); val/acc is the held-out mean over k samples.\n\n${table}\n${end}`;
const current = existsSync(results) ? readFileSync(results, 'utf8') : '';
const updated = current.includes(begin) ? current.replace(new RegExp(`${begin}[\\s\\S]*${end}`), section) : `${current}\n## Ablation\n\n${section}\n`;
writeFileSync(`${results}.tmp`, updated);
renameSync(`${results}.tmp`, results);
console.log(`wrote the table to ${results}`);
