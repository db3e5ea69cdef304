// config.json in both layouts transformers writes: 4.x (rope_theta, rope_scaling, torch_dtype)
// and 5.x (rope_parameters, dtype) read to the same model; where a file holds both and they
// disagree it is refused naming both keys; transformers' defaults per architecture; and the
// config.json dapo saves (the 4.x layout) reads back to the same model.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ModelConfigError, Policy, parseHfConfig, type PolicyConfig } from '../src/policy/index.js';
import { GOLDEN_ARCHS, goldenDir, goldenError, readConfigJson, readGolden } from './helpers/golden.js';
import { tempDir, tinyRaw } from './policy-helpers.js';

/** What the engine is given: the parsed config without the raw object it came from. */
function engineConfig(c: PolicyConfig): Omit<PolicyConfig, 'raw'> {
  const { raw: _raw, ...rest } = c;
  return rest;
}

const LLAMA3 = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 };

test('both layouts of each golden model parse to the same engine config', () => {
  for (const arch of GOLDEN_ARCHS) {
    const v5 = readConfigJson(goldenDir('transformers5', arch));
    const v4 = readConfigJson(goldenDir('transformers4-layout', arch));
    assert.ok(v5.rope_parameters && v5.rope_theta === undefined && v5.dtype === 'float32', `${arch}: transformers5/ is in the 5.x layout`);
    assert.ok(v4.rope_parameters === undefined && v4.rope_theta === 1e6 && v4.torch_dtype === 'float32', `${arch}: transformers4-layout/ is in the 4.x layout`);
    const a = engineConfig(parseHfConfig(v5));
    assert.deepEqual(engineConfig(parseHfConfig(v4)), a, arch);
    // And a file holding both layouts, agreeing, reads the same.
    assert.deepEqual(engineConfig(parseHfConfig({ ...v4, ...v5 })), a, `${arch}: both layouts in one file`);
    assert.equal(a.ropeTheta, 1e6);
    assert.deepEqual(a.ropeScaling, arch === 'llama' ? { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16 } : undefined);
    assert.equal(a.qkvBias, arch === 'qwen2');
    assert.equal(a.qkNorm, arch === 'qwen3');
    assert.equal(a.tieWordEmbeddings, arch === 'qwen3');
    assert.equal(a.headDim, 8);
  }
});

test('the older rope_scaling.type key and rope_parameters keyed by layer type read like the others', () => {
  const expected = engineConfig(parseHfConfig(tinyRaw('llama', { rope_theta: 5e5, rope_scaling: LLAMA3 })));
  const { rope_type: _t, ...llama3 } = LLAMA3;
  assert.deepEqual(engineConfig(parseHfConfig(tinyRaw('llama', { rope_theta: 5e5, rope_scaling: { type: 'llama3', ...llama3 } }))), expected);
  const nested = tinyRaw('llama', { rope_theta: undefined, layer_types: ['full_attention', 'full_attention'], rope_parameters: { full_attention: { ...LLAMA3, rope_theta: 5e5 } } });
  assert.deepEqual(engineConfig(parseHfConfig(nested)), expected);
});

/** The two layouts of one setting disagree: E_MODEL_CONFIG naming both keys. */
function expectConflict(config: Record<string, unknown>, key4: string, key5: string) {
  assert.throws(
    () => parseHfConfig(config, 'm/config.json'),
    (e: unknown) => {
      assert.ok(e instanceof ModelConfigError, String(e));
      assert.equal(e.code, 'E_MODEL_CONFIG');
      assert.equal(e.key, key4);
      assert.equal(e.otherKey, key5);
      assert.ok(e.message.startsWith(`m/config.json: ${key4} `) && e.message.includes(` and ${key5} `) && e.message.includes('disagree'), e.message);
      return true;
    },
  );
}

test('where both layouts are present and disagree, the error names both keys', () => {
  const v5 = (rope: Record<string, unknown>, extra: Record<string, unknown> = {}) => tinyRaw('llama', { rope_parameters: { rope_theta: 1e4, ...rope }, ...extra });
  expectConflict(v5({ rope_type: 'default', rope_theta: 1e6 }), 'rope_theta', 'rope_parameters.rope_theta');
  expectConflict(v5(LLAMA3, { rope_scaling: { ...LLAMA3, factor: 4 } }), 'rope_scaling.factor', 'rope_parameters.factor');
  expectConflict(v5({ rope_type: 'default' }, { rope_scaling: LLAMA3 }), 'rope_scaling.rope_type', 'rope_parameters.rope_type');
  // transformers 4 reads no scaling from an explicit null; transformers 5 reads llama3.
  expectConflict(v5(LLAMA3, { rope_scaling: null }), 'rope_scaling', 'rope_parameters.rope_type');
  // rope_theta inside rope_scaling: transformers 5 takes it, transformers 4 the top-level one.
  expectConflict(tinyRaw('llama', { rope_scaling: { ...LLAMA3, rope_theta: 5e5 } }), 'rope_theta', 'rope_scaling.rope_theta');
  // transformers 5 prefers a top-level original_max_position_embeddings; transformers 4 reads the nested one.
  expectConflict(v5(LLAMA3, { original_max_position_embeddings: 32 }), 'rope_parameters.original_max_position_embeddings', 'original_max_position_embeddings');
  expectConflict(tinyRaw('qwen2', { torch_dtype: 'float32', dtype: 'bfloat16' }), 'torch_dtype', 'dtype');
});

test("what a config leaves out takes transformers' default for its architecture", () => {
  const without = (arch: 'llama' | 'qwen2' | 'qwen3', ...keys: string[]) => {
    const raw = tinyRaw(arch);
    for (const k of keys) delete raw[k];
    return raw;
  };
  assert.equal(parseHfConfig(without('llama', 'rope_theta')).ropeTheta, 10000);
  assert.equal(parseHfConfig(without('qwen3', 'head_dim')).headDim, 128);
  assert.equal(parseHfConfig(without('llama', 'head_dim')).headDim, 4);
  assert.equal(parseHfConfig(without('qwen2', 'head_dim')).headDim, 4);
  assert.equal(parseHfConfig(without('llama', 'num_key_value_heads')).numKvHeads, 2);
  assert.equal(parseHfConfig({ ...without('qwen2', 'num_key_value_heads'), num_attention_heads: 32, hidden_size: 64, head_dim: 2 }).numKvHeads, 32);
  assert.equal(parseHfConfig(tinyRaw('qwen3', { num_key_value_heads: null })).numKvHeads, 2);
  assert.equal(parseHfConfig(without('llama', 'max_position_embeddings')).maxPositions, 2048);
  assert.equal(parseHfConfig(without('qwen2', 'max_position_embeddings')).maxPositions, 32768);
  // llama3 without original_max_position_embeddings: a top-level one, else max_position_embeddings (transformers 5).
  const { original_max_position_embeddings: _o, ...llama3 } = LLAMA3;
  assert.equal(parseHfConfig(tinyRaw('llama', { rope_scaling: llama3 })).ropeScaling?.originalMaxPositions, 32);
  assert.equal(parseHfConfig(tinyRaw('llama', { rope_scaling: llama3, original_max_position_embeddings: 8 })).ropeScaling?.originalMaxPositions, 8);
});

for (const layout of ['transformers5', 'transformers4-layout'] as const) {
  test(`a model loaded from the ${layout} layout saves a 4.x-layout config.json that reads back to the same model`, async () => {
    for (const arch of GOLDEN_ARCHS) {
      const p = await Policy.load(goldenDir(layout, arch));
      const dir = join(tempDir('config-save'), arch);
      await p.save(dir);
      const saved = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(saved.rope_parameters, undefined, `${arch}: no rope_parameters`);
      assert.equal(saved.dtype, undefined, `${arch}: no dtype`);
      assert.equal(saved.rope_theta, 1e6);
      assert.equal(saved.torch_dtype, 'float32');
      assert.deepEqual(saved.rope_scaling, arch === 'llama' ? LLAMA3 : null);
      assert.deepEqual(engineConfig(parseHfConfig(saved)), engineConfig(p.config), arch);
      const q = await Policy.load(dir);
      const worst = await goldenError(q, readGolden(goldenDir(layout, arch)));
      assert.ok(worst < 1e-4, `${arch}: reloaded, max abs error ${worst}`);
      p.dispose();
      q.dispose();
    }
  });
}
