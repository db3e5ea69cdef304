// --config in the spellings users bring (camelCase, kebab-case, snake_case; JSON or YAML),
// --preset small, and settings that follow from others adjusted with a note, not refused.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { readConfigFile } from '../src/train/config-file.js';
import { ConfigError, RECIPE_DEFAULTS, resolveConfig } from '../src/train/config.js';
import { PRESETS } from '../src/train/presets.js';

const dir = mkdtempSync(join(tmpdir(), 'dapo-config-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('readConfigFile', () => {
  test('camelCase, kebab-case and snake_case keys name the same options', () => {
    const expected = { maxResponseLen: 64, trainBatch: 4, lr: 2e-6, overlongShaping: false };
    assert.deepEqual(readConfigFile(file('camel.json', JSON.stringify(expected))), expected);
    assert.deepEqual(readConfigFile(file('kebab.json', '{"max-response-len": 64, "train-batch": 4, "lr": 2e-6, "overlong-shaping": false}')), expected);
    assert.deepEqual(readConfigFile(file('snake.json', '{"max_response_len": 64, "train_batch": 4, "lr": 2e-6, "overlong_shaping": false}')), expected);
  });

  test('YAML files (.yaml and .yml), with comments and kebab-case keys', () => {
    const yaml = ['# a small run', 'model: ./tiny-qwen3', 'max-response-len: 64', 'train_batch: 4', 'lr: 2.0e-6', 'dedupe: true', 'val-dataset:   # none', 'algo: grpo', ''].join('\n');
    const expected = { model: './tiny-qwen3', maxResponseLen: 64, trainBatch: 4, lr: 2e-6, dedupe: true, algo: 'grpo' };
    assert.deepEqual(readConfigFile(file('run.yaml', yaml)), expected);
    assert.deepEqual(readConfigFile(file('run.yml', yaml)), expected);
    assert.deepEqual(readConfigFile(file('empty.yaml', '# nothing yet\n')), {});
  });

  test('errors name the file and the key', () => {
    const unknown = file('unknown.yaml', 'learning-rate: 1e-6\n');
    assert.throws(
      () => readConfigFile(unknown),
      (e: Error) => e instanceof ConfigError && e.message.includes(unknown) && /unknown option 'learning-rate'/.test(e.message),
    );
    assert.throws(() => readConfigFile(file('typo.json', '{"maxResponse": 5}')), /unknown option 'maxResponse' \(did you mean 'maxResponseLen'\?\)/);
    assert.throws(() => readConfigFile(file('twice.yaml', 'max-response-len: 8\nmaxResponseLen: 16\n')), /'max-response-len' and 'maxResponseLen' both set maxResponseLen/);
    assert.throws(() => readConfigFile(file('typed.yaml', 'steps: ten\n')), /steps must be a finite number, got "ten"/);
    assert.throws(() => readConfigFile(file('choice.yaml', 'aggregation: mean\n')), /aggregation must be one of token-mean/);
    assert.throws(() => readConfigFile(file('list.yaml', '- lr\n- n\n')), /must hold an object of options/);
    assert.throws(() => readConfigFile(file('broken.yaml', 'lr: [1\n')), /cannot read config file .*broken\.yaml/);
    assert.throws(() => readConfigFile(join(dir, 'missing.json')), /cannot read config file .*missing\.json/);
  });

  test('a lenient read (a run config from another dapo version) skips and lists unknown keys', () => {
    const unknown: string[] = [];
    assert.deepEqual(readConfigFile(file('run-config.json', '{"n": 4, "futureOption": 1}'), { unknown }), { n: 4 });
    assert.deepEqual(unknown, ['futureOption']);
  });
});

describe('--preset small', () => {
  test('scales the recipe down; flags and config files still win', () => {
    const small = resolveConfig({}, { dataset: 'x.parquet', preset: 'small' });
    for (const [key, value] of Object.entries(PRESETS.small)) assert.deepEqual(small[key as keyof typeof small], value, key);
    assert.equal(small.clipHigh, RECIPE_DEFAULTS.clipHigh, 'the algorithm is untouched');
    assert.equal(resolveConfig({ n: 4 }, { dataset: 'x.parquet', preset: 'small' }).n, 4);
    assert.equal(resolveConfig({}, { dataset: 'x.parquet', preset: 'small', steps: 3 }).steps, 3);
    assert.equal(resolveConfig({ preset: 'small' }, { dataset: 'x.parquet' }).trainBatch, PRESETS.small.trainBatch);
    assert.throws(() => resolveConfig({}, { preset: 'tiny' as never }), /preset must be one of recipe, small/);
  });
});

describe('settings that follow from others', () => {
  test('a shorter --max-response-len scales the overlong buffer down, with a note', () => {
    const notes: string[] = [];
    const c = resolveConfig({}, { dataset: 'x.parquet', maxResponseLen: 16 }, notes);
    assert.equal(c.overlongBuffer, 3);
    assert.equal(notes.length, 1);
    assert.match(notes[0], /overlongBuffer 4096 does not fit in maxResponseLen 16: using 3/);
    // A preset's buffer too.
    const fromPreset: string[] = [];
    assert.equal(resolveConfig({}, { dataset: 'x.parquet', preset: 'small', maxResponseLen: 64 }, fromPreset).overlongBuffer, 12);
    assert.match(fromPreset[0], /overlongBuffer 128/);
  });

  test('values the user set that contradict each other are still an error naming both', () => {
    assert.throws(() => resolveConfig({}, { dataset: 'x.parquet', maxResponseLen: 16, overlongBuffer: 16 }), /overlongBuffer \(16\) must be smaller than maxResponseLen \(16\)/);
    assert.throws(() => resolveConfig({ overlongBuffer: 32 }, { dataset: 'x.parquet', maxResponseLen: 16 }), /overlongBuffer \(32\)/);
    assert.throws(() => resolveConfig({}, { maxResponseLen: 1 }), /overlongBuffer \(\d+\) must be smaller than maxResponseLen \(1\)/);
    // Without shaping the buffer does not matter.
    assert.equal(resolveConfig({}, { dataset: 'x.parquet', maxResponseLen: 16, overlongShaping: false }).overlongBuffer, 4096);
  });

  test('a smaller --train-batch takes the mini-batch down with it, with a note', () => {
    const notes: string[] = [];
    const c = resolveConfig({}, { dataset: 'x.parquet', trainBatch: 8 }, notes);
    assert.equal(c.miniBatch, 8);
    assert.match(notes[0], /miniBatch 32 exceeds trainBatch 8: using 8/);
    assert.throws(() => resolveConfig({}, { dataset: 'x.parquet', trainBatch: 8, miniBatch: 16 }), /miniBatch \(16\) must not exceed trainBatch \(8\)/);
  });
});
