// The option table: precedence of defaults, built-in scaling, presets, config files and flags,
// and clear errors for bad values.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { BUILTIN_SCALE, ConfigError, readConfigFile, RECIPE_DEFAULTS, resolveConfig } from '../src/train/config.js';

const dir = mkdtempSync(join(tmpdir(), 'dapo-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('resolveConfig', () => {
  test('a parquet run gets the DAPO recipe', () => {
    const c = resolveConfig({}, { dataset: 'data.parquet' });
    assert.equal(c.clipLow, 0.2);
    assert.equal(c.clipHigh, 0.28);
    assert.equal(c.clipC, 10);
    assert.equal(c.aggregation, 'token-mean');
    assert.equal(c.n, 16);
    assert.equal(c.lr, 1e-6);
    assert.equal(c.warmup, 10);
    assert.equal(c.weightDecay, 0.1);
    assert.equal(c.clipGrad, 1.0);
    assert.equal(c.valTopP, 0.7);
    assert.equal(c.dynamicSampling, true);
    assert.equal(c.klCoef, 0);
  });

  test('the built-in task is scaled; the algorithm stays DAPO', () => {
    const c = resolveConfig({}, {});
    assert.equal(c.steps, BUILTIN_SCALE.steps);
    assert.equal(c.n, BUILTIN_SCALE.n);
    assert.equal(c.clipHigh, RECIPE_DEFAULTS.clipHigh);
  });

  test('--algo grpo presets the baseline, and explicit flags still win', () => {
    const grpo = resolveConfig({}, { algo: 'grpo', dataset: 'x.parquet' });
    assert.deepEqual(
      [grpo.clipLow, grpo.clipHigh, grpo.aggregation, grpo.dynamicSampling, grpo.overlongShaping],
      [0.2, 0.2, 'seq-mean-token-mean', false, false],
    );
    assert.equal(resolveConfig({}, { algo: 'grpo', clipHigh: 0.3 }).clipHigh, 0.3);
  });

  test('command-line flags override the config file', () => {
    assert.equal(resolveConfig({ lr: 1e-5, n: 4 }, { lr: 2e-5 }).lr, 2e-5);
    assert.equal(resolveConfig({ lr: 1e-5, n: 4 }, {}).n, 4);
  });

  test('bad values are named', () => {
    assert.throws(() => resolveConfig({}, { n: 0 }), (e: Error) => e instanceof ConfigError && /n must be >= 1/.test(e.message));
    assert.throws(() => resolveConfig({}, { aggregation: 'mean' as never }), /aggregation must be one of/);
    assert.throws(() => resolveConfig({}, { clipC: 1 }), /clipC must be 0 \(off\) or greater than 1/);
    assert.throws(() => resolveConfig({}, { overlongBuffer: 16, maxResponseLen: 16 }), /overlongBuffer/);
    assert.throws(() => resolveConfig({}, { miniBatch: 99 }), /miniBatch/);
    assert.throws(() => resolveConfig({}, { temperature: 0 }), /option temperature must be >= 0.01, got 0/);
  });
});

describe('readConfigFile', () => {
  test('reads known options and rejects unknown ones, naming the file', () => {
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ lr: 3e-6, algo: 'grpo' }));
    assert.deepEqual(readConfigFile(good), { lr: 3e-6, algo: 'grpo' });
    const unknown = join(dir, 'unknown.json');
    writeFileSync(unknown, JSON.stringify({ learningRate: 1 }));
    assert.throws(() => readConfigFile(unknown), new RegExp(`${unknown.replace(/[/.]/g, '\\$&')}: unknown option 'learningRate'`));
    const typed = join(dir, 'typed.json');
    writeFileSync(typed, JSON.stringify({ steps: 'ten' }));
    assert.throws(() => readConfigFile(typed), /steps must be a finite number/);
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ lr: ');
    assert.throws(() => readConfigFile(broken), /cannot read config file/);
  });
});
