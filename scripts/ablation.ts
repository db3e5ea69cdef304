// npm run ablation: builtin:chains (the ablation task, src/task/chains.ts) under GRPO, full DAPO,
// and DAPO with each of its components switched off, over 8 seeds. Writes the tables into
// benchmarks/RESULTS.md (means with 95% bootstrap intervals, and per component the paired
// difference to DAPO on the same seeds) and the main pairs as one picture,
// benchmarks/ablation.png. Finished runs are reused: an interrupted ablation resumes.
//   nice npm run ablation -- [--seeds 1-8] [--steps N] [--jobs 2] [--out runs/ablation]
import { execSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { plotComparison, type CompareSection } from '../src/compare/chart.js';
import { loadRun } from '../src/compare/runs.js';
import { CHAINS_DATASET } from '../src/task/chains.js';
import { resolveConfig } from '../src/train/config.js';
import { readOutcome, type Outcome } from './ablation/outcomes.js';
import { writeResults, type VariantResult } from './ablation/report.js';
import { runAll, type RunSpec } from './ablation/runs.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const arg = (name: string, fallback: string) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
};
function parseSeeds(text: string): number[] {
  const range = /^(\d+)-(\d+)$/.exec(text);
  if (range) return Array.from({ length: Number(range[2]) - Number(range[1]) + 1 }, (_, i) => Number(range[1]) + i);
  return text.split(',').map(Number);
}
const seeds = parseSeeds(arg('seeds', '1-8'));
const steps = arg('steps', '');
const jobs = Number(arg('jobs', String(Math.min(2, cpus().length))));
const outRoot = arg('out', join(root, 'runs', 'ablation'));
const picture = join(root, 'benchmarks', 'ablation.png');

export interface AblationVariant {
  name: string;
  /** The DAPO component this variant switches off (none for DAPO and GRPO). */
  component?: string;
  flags: string[];
}

export const VARIANTS: AblationVariant[] = [
  { name: 'DAPO', flags: [] },
  { name: 'GRPO', flags: ['--algo', 'grpo'] },
  { name: 'DAPO without clip-higher', component: 'clip-higher', flags: ['--clip-high', '0.2'] },
  { name: 'DAPO without dynamic sampling', component: 'dynamic sampling', flags: ['--no-dynamic-sampling'] },
  { name: 'DAPO without token-level loss', component: 'token-level loss', flags: ['--aggregation', 'seq-mean-token-mean'] },
  { name: 'DAPO without overlong shaping', component: 'overlong shaping', flags: ['--no-overlong-shaping'] },
];

const slug = (name: string) => name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
const runDir = (variant: AblationVariant, seed: number) => join(outRoot, `${slug(variant.name)}-seed${seed}`);

// Variant by variant, so the first variant's runs fill the warm-up cache for every seed.
const specs: RunSpec[] = VARIANTS.flatMap((variant) =>
  seeds.map((seed) => ({
    dir: runDir(variant, seed),
    label: `${variant.name} seed ${seed}`,
    args: [
      'train', '--dataset', CHAINS_DATASET, '--seed', String(seed), '--out', runDir(variant, seed),
      '--warmup-cache', join(outRoot, 'warmup-cache'), '--plot-every', '0',
      ...variant.flags, ...(steps ? ['--steps', steps] : []),
    ],
  })),
);

// The commit the runs are trained at (read before they start: later commits may land meanwhile).
let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { cwd: root, encoding: 'utf8' }).trim();
  if (execSync('git status --porcelain -- src scripts', { cwd: root, encoding: 'utf8' }).trim() !== '') commit += ' (with uncommitted changes)';
} catch {}

// One thread per run when runs share the cores (the tiny model gains little from two).
const env = { ...process.env, ...(jobs > 1 && !process.env.DAPO_NUM_THREADS ? { DAPO_NUM_THREADS: '1' } : {}) };
const loads: number[] = [];
const sampler = setInterval(() => loads.push(loadavg()[0]), 30_000);
const started = Date.now();
const records = await runAll(root, specs, jobs, env, (line) => console.log(line));
clearInterval(sampler);
loads.push(loadavg()[0]);

const results: VariantResult[] = VARIANTS.map((variant, v) => {
  const mine = specs.map((s, i) => ({ s, i })).filter(({ i }) => Math.floor(i / seeds.length) === v);
  return {
    ...variant,
    outcomes: mine.map(({ s }) => readOutcome(join(s.dir, 'metrics.jsonl'))) as Outcome[],
    records: mine.map(({ i }) => records[i]),
  };
});

writeResults(join(root, 'benchmarks', 'RESULTS.md'), results, {
  seeds,
  steps: steps || String(resolveConfig({}, { dataset: CHAINS_DATASET }).steps),
  commit,
  cores: cpus().length,
  jobs,
  loads,
  elapsedSeconds: (Date.now() - started) / 1000,
  log: (line) => console.log(line),
});

// The main pairs, one section each, labelled from the runs' configs.
const runsOf = (name: string) => seeds.map((seed) => loadRun(runDir(VARIANTS.find((v) => v.name === name)!, seed)));
const dapo = runsOf('DAPO');
const sections: CompareSection[] = [
  { title: 'DAPO and GRPO', runs: [...dapo, ...runsOf('GRPO')], metrics: ['val/acc', 'train/acc_mean', 'actor/entropy', 'train/all_equal_rate', 'response_length/mean', 'response_length/clip_ratio', 'actor/grad_norm', 'actor/pg_loss'] },
  { title: 'Clip-Higher on and off', runs: [...dapo, ...runsOf('DAPO without clip-higher')], metrics: ['actor/entropy', 'actor/clipfrac_high', 'actor/clipfrac_low', 'val/acc'] },
  { title: 'Dynamic sampling on and off', runs: [...dapo, ...runsOf('DAPO without dynamic sampling')], metrics: ['actor/grad_norm', 'train/kept_groups', 'train/informative_groups', 'val/acc'] },
  { title: 'Token-level loss on and off', runs: [...dapo, ...runsOf('DAPO without token-level loss')], metrics: ['response_length/mean', 'response_length/clip_ratio', 'actor/entropy', 'val/acc'] },
  { title: 'Overlong shaping on and off', runs: [...dapo, ...runsOf('DAPO without overlong shaping')], metrics: ['response_length/mean', 'response_length/clip_ratio', 'train/acc_mean', 'val/acc'] },
];
const png = await plotComparison(sections, picture, { title: `dapo ablation on ${CHAINS_DATASET}: mean over ${seeds.length} seeds, band min-max, 10-step trailing mean`, smooth: 10 });
console.log(`ablation: wrote ${png.path} (${png.width} x ${png.height})`);
