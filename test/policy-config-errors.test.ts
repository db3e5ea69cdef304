// config.json settings that change the math and that dapo's engines do not implement: each is a
// ModelConfigError (E_MODEL_UNSUPPORTED) naming the file, the key and the value, raised at load
// before any weight is read. Malformed values are E_MODEL_CONFIG.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ModelConfigError, Policy, parseHfConfig } from '../src/policy/index.js';
import { tempDir, tinyRaw } from './policy-helpers.js';

const FILE = 'models/x/config.json';
type Arch = 'llama' | 'qwen2' | 'qwen3';

/** parseHfConfig(config) must throw a ModelConfigError with this code at this key and value. */
function expectRefusal(config: Record<string, unknown>, code: 'E_MODEL_UNSUPPORTED' | 'E_MODEL_CONFIG', key: string, value: unknown, shown: string) {
  assert.throws(
    () => parseHfConfig(config, FILE),
    (e: unknown) => {
      assert.ok(e instanceof ModelConfigError, `not a ModelConfigError: ${String(e)}`);
      assert.equal(e.code, code);
      assert.equal(e.file, FILE);
      assert.equal(e.key, key);
      assert.deepEqual(e.value, value);
      assert.ok(e.message.startsWith(`${FILE}: ${key} ${shown}`), e.message);
      return true;
    },
  );
}

/** A tiny config in the transformers 5 layout: rope_parameters as given, no top-level rope_theta. */
const withRopeParameters = (arch: Arch, ropeParameters: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
  const { rope_theta: _theta, ...raw } = tinyRaw(arch, extra);
  return { ...raw, rope_parameters: ropeParameters };
};
const v5 = (arch: Arch, rope: Record<string, unknown>, extra: Record<string, unknown> = {}) => withRopeParameters(arch, { rope_theta: 1e6, ...rope }, extra);

const unsupported: { name: string; config: Record<string, unknown>; key: string; value: unknown; shown: string }[] = [
  ...['linear', 'dynamic', 'yarn', 'longrope'].map((type) => ({
    name: `rope_parameters.rope_type '${type}' (transformers 5)`,
    config: v5('qwen2', { rope_type: type, factor: 4, original_max_position_embeddings: 8 }),
    key: 'rope_parameters.rope_type',
    value: type,
    shown: `'${type}' is not supported; supported: default, llama3`,
  })),
  {
    name: "rope_scaling.rope_type 'yarn' (transformers 4)",
    config: tinyRaw('qwen2', { rope_scaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 8 } }),
    key: 'rope_scaling.rope_type',
    value: 'yarn',
    shown: "'yarn' is not supported; supported: default, llama3",
  },
  {
    name: "rope_scaling.type 'linear' (the older key)",
    config: tinyRaw('llama', { rope_scaling: { type: 'linear', factor: 2 } }),
    key: 'rope_scaling.type',
    value: 'linear',
    shown: "'linear' is not supported",
  },
  {
    name: 'rope_parameters keyed by layer type, yarn for full attention',
    config: withRopeParameters(
      'qwen3',
      { full_attention: { rope_type: 'yarn', rope_theta: 1e6, factor: 4, original_max_position_embeddings: 8 } },
      { layer_types: ['full_attention', 'full_attention'] },
    ),
    key: 'rope_parameters.full_attention.rope_type',
    value: 'yarn',
    shown: "'yarn' is not supported",
  },
  ...(['qwen2', 'qwen3'] as const).map((arch) => ({
    name: `use_sliding_window true (${arch})`,
    config: tinyRaw(arch, { use_sliding_window: true, sliding_window: 4, max_window_layers: 1 }),
    key: 'use_sliding_window',
    value: true,
    shown: 'true is not supported; supported: false',
  })),
  {
    name: "a layer_types entry 'sliding_attention'",
    config: tinyRaw('qwen3', { layer_types: ['full_attention', 'sliding_attention'], sliding_window: 4 }),
    key: 'layer_types[1]',
    value: 'sliding_attention',
    shown: "'sliding_attention' is not supported; supported: full_attention",
  },
  ...(['llama', 'qwen2', 'qwen3'] as const).map((arch) => ({
    name: `attention_bias true (${arch})`,
    config: tinyRaw(arch, { attention_bias: true }),
    key: 'attention_bias',
    value: true,
    shown: 'true is not supported; supported: false',
  })),
  {
    name: 'mlp_bias true',
    config: tinyRaw('llama', { mlp_bias: true }),
    key: 'mlp_bias',
    value: true,
    shown: 'true is not supported; supported: false',
  },
  {
    name: "hidden_act 'gelu'",
    config: tinyRaw('qwen2', { hidden_act: 'gelu' }),
    key: 'hidden_act',
    value: 'gelu',
    shown: "'gelu' is not supported; supported: silu",
  },
  {
    name: 'partial_rotary_factor 0.5 (top level)',
    config: tinyRaw('llama', { partial_rotary_factor: 0.5 }),
    key: 'partial_rotary_factor',
    value: 0.5,
    shown: '0.5 is not supported; supported: 1',
  },
  {
    name: 'rope_parameters.partial_rotary_factor 0.5',
    config: v5('qwen3', { rope_type: 'default', partial_rotary_factor: 0.5 }),
    key: 'rope_parameters.partial_rotary_factor',
    value: 0.5,
    shown: '0.5 is not supported; supported: 1',
  },
  {
    name: "quantization_config (quant_method 'gptq')",
    config: tinyRaw('qwen2', { quantization_config: { quant_method: 'gptq', bits: 4 } }),
    key: 'quantization_config.quant_method',
    value: 'gptq',
    shown: "'gptq' is not supported; supported: none",
  },
  {
    name: "model_type 'gpt2'",
    config: tinyRaw('llama', { model_type: 'gpt2' }),
    key: 'model_type',
    value: 'gpt2',
    shown: "'gpt2' is not supported; supported: llama, qwen2, qwen3",
  },
];
for (const c of unsupported) {
  test(`unsupported: ${c.name}`, () => expectRefusal(c.config, 'E_MODEL_UNSUPPORTED', c.key, c.value, c.shown));
}

const malformed: { name: string; config: Record<string, unknown>; key: string; value: unknown; shown: string }[] = [
  { name: 'num_key_value_heads that does not divide the heads', config: tinyRaw('qwen2', { num_key_value_heads: 3 }), key: 'num_key_value_heads', value: 3, shown: '3 is invalid' },
  { name: 'a negative hidden_size', config: tinyRaw('llama', { hidden_size: -4 }), key: 'hidden_size', value: -4, shown: '-4 is invalid' },
  { name: 'a missing vocab_size', config: tinyRaw('llama', { vocab_size: undefined }), key: 'vocab_size', value: undefined, shown: 'is missing' },
  { name: 'layer_types of the wrong length', config: tinyRaw('qwen2', { layer_types: ['full_attention'] }), key: 'layer_types', value: ['full_attention'], shown: '["full_attention"] is invalid' },
  { name: 'rope_theta that is not a number', config: tinyRaw('qwen2', { rope_theta: '1e6' }), key: 'rope_theta', value: '1e6', shown: "'1e6' is invalid" },
  {
    name: 'llama3 scaling without low_freq_factor',
    config: v5('llama', { rope_type: 'llama3', factor: 8, high_freq_factor: 4, original_max_position_embeddings: 16 }),
    key: 'rope_parameters.low_freq_factor',
    value: undefined,
    shown: 'is missing',
  },
  {
    name: 'llama3 high_freq_factor not above low_freq_factor',
    config: v5('llama', { rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 4, original_max_position_embeddings: 16 }),
    key: 'rope_parameters.high_freq_factor',
    value: 4,
    shown: '4 is invalid',
  },
  { name: 'rope_parameters that is not an object', config: tinyRaw('qwen3', { rope_parameters: 'default' }), key: 'rope_parameters', value: 'default', shown: "'default' is invalid" },
  { name: 'attention_bias that is not a boolean', config: tinyRaw('qwen3', { attention_bias: 'no' }), key: 'attention_bias', value: 'no', shown: "'no' is invalid" },
];

for (const c of malformed) {
  test(`malformed: ${c.name}`, () => expectRefusal(c.config, 'E_MODEL_CONFIG', c.key, c.value, c.shown));
}

test('the config is refused at load, before any weight is read', async () => {
  const dir = tempDir('config-refused');
  writeFileSync(join(dir, 'config.json'), JSON.stringify(v5('qwen2', { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 8 })));
  // Not a safetensors file: reading it would be an E_SAFETENSORS error instead.
  writeFileSync(join(dir, 'model.safetensors'), 'not safetensors');
  await assert.rejects(Policy.load(dir), (e: unknown) => {
    assert.ok(e instanceof ModelConfigError, String(e));
    assert.equal(e.code, 'E_MODEL_UNSUPPORTED');
    assert.equal(e.file, join(dir, 'config.json'));
    assert.match(e.message, /config\.json: rope_parameters\.rope_type 'yarn' is not supported; supported: default, llama3$/);
    return true;
  });
});

test('what a normal checkpoint of each family holds loads', () => {
  // Qwen2.5: a sliding_window and max_window_layers that are unused while use_sliding_window is false.
  const qwen2 = parseHfConfig(tinyRaw('qwen2', { use_sliding_window: false, sliding_window: 131072, max_window_layers: 21, attention_dropout: 0 }), FILE);
  assert.equal(qwen2.qkvBias, true);
  // Qwen3 as transformers 5 writes it: attention_bias false, all layers full attention, no sliding window.
  const qwen3 = parseHfConfig(
    v5('qwen3', { rope_type: 'default' }, { attention_bias: false, layer_types: ['full_attention', 'full_attention'], sliding_window: null, use_sliding_window: false }),
    FILE,
  );
  assert.equal(qwen3.qkNorm, true);
  assert.equal(qwen3.ropeTheta, 1e6);
  // Llama: the keys that do not change the forward pass are ignored ('swish' is silu in transformers).
  const llama = parseHfConfig(tinyRaw('llama', { hidden_act: 'swish', pretraining_tp: 1, mlp_bias: false, initializer_range: 0.02, use_cache: true, transformers_version: '4.45.0', quantization_config: null }), FILE);
  assert.equal(llama.qkvBias, false);
});
