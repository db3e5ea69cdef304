// dapo eval: settings from the run that wrote the model, flags that shorten the job, avg@k and
// pass@k per data source in verl's layout, pass@k from the unbiased estimator.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { findRunConfig, resultTable } from '../src/cli/eval-report.js';
import { resolveConfig } from '../src/train/config.js';
import { dataSourceMetrics, passAtK, summarize, type PromptScore } from '../src/train/evaluate.js';
import { makeTinyQwen3 } from '../scripts/make-tiny-qwen3.js';

const work = mkdtempSync(join(tmpdir(), 'dapo-eval-'));
after(() => rmSync(work, { recursive: true, force: true }));
const cli = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/data/math17k-mini.parquet', import.meta.url));

/** C(n, k) as a float64 product, for the brute-force check. */
function choose(n: number, k: number): number {
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return c;
}

describe('pass@k', () => {
  test('equals 1 - C(n-c, k) / C(n, k) for every n <= 12, c, k', () => {
    for (let n = 1; n <= 12; n++)
      for (let c = 0; c <= n; c++)
        for (let k = 1; k <= n; k++) {
          const exact = 1 - (n - c >= k ? choose(n - c, k) / choose(n, k) : 0);
          assert.ok(Math.abs(passAtK(n, c, k) - exact) < 1e-12, `n ${n} c ${c} k ${k}: ${passAtK(n, c, k)} vs ${exact}`);
        }
  });

  test('pass@1 is the mean correctness; pass@n is "any correct"; bad arguments throw', () => {
    assert.ok(Math.abs(passAtK(8, 3, 1) - 3 / 8) < 1e-15);
    assert.equal(passAtK(8, 1, 8), 1);
    assert.equal(passAtK(8, 0, 8), 0);
    assert.throws(() => passAtK(4, 5, 1), RangeError);
    assert.throws(() => passAtK(4, 1, 5), RangeError);
  });
});

describe('metrics per data source', () => {
  const scores: PromptScore[] = [
    { dataSource: 'gsm8k', samples: 4, correct: 4, scoreSum: 4, lengthSum: 40 },
    { dataSource: 'gsm8k', samples: 4, correct: 1, scoreSum: -2, lengthSum: 20 },
    { dataSource: 'math', samples: 4, correct: 0, scoreSum: -4, lengthSum: 80 },
  ];

  test("verl's val-core / val-aux names, with pass@k for k = 1, 2, 4", () => {
    const m = dataSourceMetrics(scores);
    assert.equal(m['val-core/gsm8k/acc/mean@4'], 5 / 8);
    assert.equal(m['val-aux/gsm8k/acc/pass@1'], 5 / 8);
    assert.equal(m['val-aux/gsm8k/acc/pass@2'], (1 + passAtK(4, 1, 2)) / 2);
    assert.equal(m['val-core/gsm8k/acc/pass@4'], 1);
    assert.equal(m['val-core/math/acc/mean@4'], 0);
    assert.equal(m['val-core/math/acc/pass@4'], 0);
    assert.equal(m['val-aux/gsm8k/reward/mean@4'], 2 / 8);
    assert.equal(m['val-aux/gsm8k/acc/std@4'], (0 + Math.sqrt(0.25 * 0.75)) / 2);
    assert.equal(m['val-aux/gsm8k/prompts'], 2);
    assert.deepEqual(summarize(scores), { 'val/acc': 5 / 12, 'val/pass@k': 2 / 3, 'val/reward_mean': -2 / 12, 'val/response_length': 140 / 12 });
    const table = resultTable(scores).split('\n');
    assert.match(table[0], /^data source\s+prompts\s+mean@4\s+pass@1\s+pass@2\s+pass@4$/);
    assert.match(table[1], /^gsm8k\s+2\s+0\.625\s+0\.625\s+0\.750\s+1\.000$/);
    assert.match(table[2], /^math\s+1\s+0\.000/);
  });
});

describe('dapo eval on a run folder', { timeout: 300_000 }, () => {
  const runDir = join(work, 'run');
  before(async () => {
    // A run folder as train leaves it: config.json (the recipe's overlong buffer 4096 and
    // 32 samples) beside final/.
    await makeTinyQwen3(join(runDir, 'final'), 2);
    const config = resolveConfig({}, { model: 'somewhere/else', dataset: fixture, dedupe: true, out: runDir });
    writeFileSync(join(runDir, 'config.json'), JSON.stringify(config, null, 2));
    mkdirSync(join(runDir, 'checkpoints', 'step-2'), { recursive: true });
    cpSync(join(runDir, 'final'), join(runDir, 'checkpoints', 'step-2', 'model'), { recursive: true });
  });

  test('finds the config.json of the run beside final/ and above a checkpoint, never a model config', () => {
    assert.equal(findRunConfig(join(runDir, 'final')), join(runDir, 'config.json'));
    assert.equal(findRunConfig(join(runDir, 'checkpoints', 'step-2', 'model')), join(runDir, 'config.json'));
    assert.equal(findRunConfig(join(runDir, 'final', 'nothing')), join(runDir, 'config.json'));
    const lone = join(work, 'lone');
    cpSync(join(runDir, 'final'), join(lone, 'model'), { recursive: true });
    assert.equal(findRunConfig(join(lone, 'model')), undefined);
    assert.equal(findRunConfig('builtin:tiny'), undefined);
  });

  test('--max-response-len alone, --overlong-buffer, -k, --limit: runs and prints avg@k and pass@k per data source', () => {
    const out = join(work, 'metrics.json');
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', cli, 'eval', '--model', join(runDir, 'final'), '--max-response-len', '4', '--overlong-buffer', '8', '-k', '2', '--limit', '3', '--output', out],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`settings from ${join(runDir, 'config.json').replace(/[/.]/g, '\\$&')}`));
    assert.match(r.stderr, /prompts: the run's training file .*math17k-mini\.parquet/);
    assert.match(r.stderr, /3 of 12 prompts x 2 samples \(temperature 1, top-p 0\.7\), responses up to 4 tokens/);
    assert.match(r.stderr, /--overlong-buffer has no effect here/);
    const metrics = JSON.parse(readFileSync(out, 'utf8')) as Record<string, number>;
    const keys = Object.keys(metrics);
    const source = keys.find((k) => k.startsWith('val-core/') && k.endsWith('/acc/mean@2'))!.split('/')[1];
    for (const key of [`val-core/${source}/acc/mean@2`, `val-core/${source}/acc/pass@2`, `val-aux/${source}/acc/pass@1`, 'val/acc', 'val/pass@k'])
      assert.ok(Number.isFinite(metrics[key]), `${key} in ${keys.join(', ')}`);
    assert.equal(metrics[`val-aux/${source}/prompts`], 3);
    assert.match(r.stdout, new RegExp(`^data source\\s+prompts\\s+mean@2\\s+pass@1\\s+pass@2\\n${source}\\s+3\\s`));
  });

  test('--config names the settings instead (YAML, kebab-case), and the built-in task needs no file', () => {
    const yaml = join(work, 'eval.yaml');
    writeFileSync(yaml, `dataset: ${fixture}\ndedupe: true\nval-samples: 1\nval-temperature: 0\nmax-response-len: 3\nval-limit: 2\n`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', cli, 'eval', '--model', join(runDir, 'final'), '--config', yaml], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /2 of 12 prompts x 1 samples \(greedy\), responses up to 3 tokens/);
    const builtin = spawnSync(process.execPath, ['--import', 'tsx', cli, 'eval', '--model', 'builtin:tiny', '--limit', '4', '-k', '2'], { encoding: 'utf8' });
    assert.equal(builtin.status, 0, builtin.stderr);
    assert.match(builtin.stdout, /builtin:arithmetic\s+4\s/);
  });
});
