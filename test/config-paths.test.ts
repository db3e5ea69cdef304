// A run's config.json records absolute paths, so `dapo eval` and `--resume` work from any
// working folder: a run trained with relative paths is evaluated from another folder.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { resolveConfig } from '../src/train/config.js';
import { withAbsolutePaths } from '../src/train/config-paths.js';
import { train } from '../src/train/trainer.js';
import { makeTinyQwen3 } from '../scripts/make-tiny-qwen3.js';

const work = mkdtempSync(join(tmpdir(), 'dapo-paths-'));
const startCwd = process.cwd();
after(() => {
  process.chdir(startCwd);
  rmSync(work, { recursive: true, force: true });
});
const cli = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
// Absolute, because the command runs from a folder with no node_modules above it.
const tsx = import.meta.resolve('tsx');
const fixture = fileURLToPath(new URL('./fixtures/data/math17k-mini.parquet', import.meta.url));

describe('paths in a run config', () => {
  test('local paths become absolute against the working folder; built-in names stay', () => {
    process.chdir(work);
    const config = resolveConfig({}, { model: 'models/m', dataset: 'data/train.parquet', valDataset: '../val.parquet', reward: 'r.mjs', warmupCache: 'cache' });
    const fixed = withAbsolutePaths(config);
    assert.equal(fixed.model, join(work, 'models/m'));
    assert.equal(fixed.dataset, join(work, 'data/train.parquet'));
    assert.equal(fixed.valDataset, join(work, '..', 'val.parquet'));
    assert.equal(fixed.reward, join(work, 'r.mjs'));
    assert.equal(fixed.warmupCache, join(work, 'cache'));
    const builtin = withAbsolutePaths(resolveConfig({}, { model: 'builtin:tiny', dataset: 'builtin:chains', reward: 'boxed' }));
    assert.deepEqual([builtin.model, builtin.dataset, builtin.reward, builtin.valDataset], ['builtin:tiny', 'builtin:chains', 'boxed', undefined]);
    process.chdir(startCwd);
  });

  test('a run trained with relative paths is evaluated from another folder', { timeout: 300_000 }, async () => {
    const project = join(work, 'project');
    mkdirSync(project, { recursive: true });
    await makeTinyQwen3(join(project, 'tiny'), 3);
    copyFileSync(fixture, join(project, 'train.parquet'));
    writeFileSync(join(project, 'parity.mjs'), 'export default (r) => ([...r].length % 2 === 0 ? 1 : -1);\n');
    process.chdir(project);
    try {
      const config = resolveConfig({}, {
        model: 'tiny', dataset: 'train.parquet', dedupe: true, reward: 'parity.mjs', out: 'run', steps: 1, n: 4, trainBatch: 1, genBatch: 2,
        maxGenBatches: 2, maxResponseLen: 6, overlongBuffer: 2, miniBatch: 1, microBatch: 4, evalEvery: 0, saveEvery: 0, plotEvery: 0,
      });
      await train(config, { log: () => {} });
    } finally {
      process.chdir(startCwd);
    }
    const saved = JSON.parse(readFileSync(join(project, 'run', 'config.json'), 'utf8')) as Record<string, string>;
    assert.equal(saved.dataset, join(project, 'train.parquet'));
    assert.equal(saved.model, join(project, 'tiny'));
    assert.equal(saved.reward, join(project, 'parity.mjs'));
    const elsewhere = join(work, 'elsewhere');
    mkdirSync(elsewhere);
    const r = spawnSync(process.execPath, ['--import', tsx, cli, 'eval', '--model', join(project, 'run', 'final'), '--limit', '2', '-k', '1', '--max-response-len', '3'], {
      cwd: elsewhere,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`prompts: the run's training file ${join(project, 'train.parquet').replace(/[/.]/g, '\\$&')}`));
  });
});
