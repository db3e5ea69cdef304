// RoPE settings in both layouts transformers writes into config.json:
//   transformers 4: top-level `rope_theta`, and `rope_scaling` ({rope_type | type, factor, ...} or null);
//   transformers 5: `rope_parameters` {rope_theta, rope_type, factor, ...} (one dict per layer
//     type only when it is keyed by layer type; these families have full-attention layers only).
// transformers 4 reads only the first layout. transformers 5 reads both, preferring
// rope_scaling over rope_parameters and rope_parameters.rope_theta over rope_theta
// (RotaryEmbeddingConfigMixin.convert_rope_params_to_dict), so where a file holds both they
// must agree, or the model would depend on the version that reads it.
import type { NativePolicyConfig } from './native-types.js';
import { isObject, type ConfigReader, type JsonObject } from './config-reader.js';

/** The RoPE variants the engines implement (native/model/rope.cc and its CUDA twin). */
export const ROPE_TYPES = ['default', 'llama3'] as const;

/** transformers' default theta when a config names none (RotaryEmbeddingConfigMixin.default_theta). */
const DEFAULT_THETA = 10000;

/** The keys of llama3 scaling (_compute_llama3_parameters): both layouts must agree on each. */
const LLAMA3_KEYS = ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'] as const;

export interface RopeSettings {
  ropeTheta: number;
  ropeScaling?: NativePolicyConfig['ropeScaling'];
}

/** One RoPE dict as found in the file, with the path that names it in messages. */
interface RopeBlock {
  path: string;
  params: JsonObject;
}

/** `rope_type`, or the older `type`; transformers treats neither as 'default'. */
function ropeType(b: RopeBlock): { key: string; type: unknown } {
  if (b.params.rope_type !== undefined && b.params.rope_type !== null) return { key: `${b.path}.rope_type`, type: b.params.rope_type };
  if (b.params.type !== undefined && b.params.type !== null) return { key: `${b.path}.type`, type: b.params.type };
  return { key: `${b.path}.rope_type`, type: 'default' };
}

function ropeParameters(r: ConfigReader): RopeBlock | undefined {
  const params = r.object('rope_parameters');
  if (!params) return undefined;
  const layerTypes = r.raw.layer_types;
  const keys = Object.keys(params);
  // Keyed by layer type ({"full_attention": {...}}): the layer types were checked to be full attention.
  if (Array.isArray(layerTypes) && keys.length > 0 && keys.every((k) => layerTypes.includes(k))) {
    const full = params.full_attention;
    if (!isObject(full)) r.invalid('rope_parameters.full_attention', full, 'an object');
    return { path: 'rope_parameters.full_attention', params: full };
  }
  return { path: 'rope_parameters', params };
}

/** Every theta the file states (top level, inside either dict) must be the same number. */
function readTheta(r: ConfigReader, blocks: RopeBlock[]): number {
  const stated: { key: string; value: unknown }[] = [];
  if (r.raw.rope_theta !== undefined && r.raw.rope_theta !== null) stated.push({ key: 'rope_theta', value: r.raw.rope_theta });
  for (const b of blocks)
    if (b.params.rope_theta !== undefined && b.params.rope_theta !== null) stated.push({ key: `${b.path}.rope_theta`, value: b.params.rope_theta });
  for (const s of stated) if (typeof s.value !== 'number' || !Number.isFinite(s.value) || s.value <= 0) r.invalid(s.key, s.value, 'a finite number > 0');
  const other = stated.find((s) => s.value !== stated[0].value);
  if (other) r.conflict(stated[0].key, stated[0].value, other.key, other.value);
  return stated.length > 0 ? (stated[0].value as number) : DEFAULT_THETA;
}

function checkAgreement(r: ConfigReader, v4: RopeBlock, v5: RopeBlock): void {
  const t4 = ropeType(v4);
  const t5 = ropeType(v5);
  if (t4.type !== t5.type) r.conflict(t4.key, t4.type, t5.key, t5.type);
  if (t4.type !== 'llama3') return;
  for (const k of LLAMA3_KEYS) {
    const a = v4.params[k];
    const b = v5.params[k];
    if (a !== undefined && b !== undefined && a !== b) r.conflict(`${v4.path}.${k}`, a, `${v5.path}.${k}`, b);
  }
}

function checkFullRotary(r: ConfigReader, blocks: RopeBlock[]): void {
  const found: [string, unknown][] = [['partial_rotary_factor', r.raw.partial_rotary_factor], ...blocks.map((b): [string, unknown] => [`${b.path}.partial_rotary_factor`, b.params.partial_rotary_factor])];
  for (const [key, v] of found)
    if (v !== undefined && v !== null && v !== 1) r.unsupported(key, v, '1', 'RoPE over part of each head');
}

function readLlama3(r: ConfigReader, b: RopeBlock, maxPositions: number): NonNullable<RopeSettings['ropeScaling']> {
  const factor = r.positiveNumber('factor', undefined, b.params, `${b.path}.factor`);
  const lowFreqFactor = r.positiveNumber('low_freq_factor', undefined, b.params, `${b.path}.low_freq_factor`);
  const highFreqFactor = r.positiveNumber('high_freq_factor', undefined, b.params, `${b.path}.high_freq_factor`);
  if (highFreqFactor <= lowFreqFactor) r.invalid(`${b.path}.high_freq_factor`, highFreqFactor, `greater than low_freq_factor (${lowFreqFactor})`);
  // transformers 4 reads the nested key; transformers 5 prefers a top-level one and falls
  // back to max_position_embeddings (standardize_rope_params).
  const nested = b.params.original_max_position_embeddings;
  const top = r.raw.original_max_position_embeddings;
  const path = `${b.path}.original_max_position_embeddings`;
  if (nested !== undefined && nested !== null && top !== undefined && top !== null && nested !== top)
    r.conflict(path, nested, 'original_max_position_embeddings', top);
  const originalMaxPositions =
    nested !== undefined && nested !== null
      ? r.positiveInt('original_max_position_embeddings', undefined, b.params, path)
      : r.positiveInt('original_max_position_embeddings', maxPositions);
  return { factor, lowFreqFactor, highFreqFactor, originalMaxPositions };
}

/** theta and llama3 scaling from whichever layout the file uses; anything else is refused. */
export function readRope(r: ConfigReader, maxPositions: number): RopeSettings {
  const scaling = r.object('rope_scaling');
  const v4 = scaling ? { path: 'rope_scaling', params: scaling } : undefined;
  const v5 = ropeParameters(r);
  const blocks = [v4, v5].filter((b): b is RopeBlock => b !== undefined);
  const ropeTheta = readTheta(r, blocks);
  if (v4 && v5) checkAgreement(r, v4, v5);
  // An explicit `"rope_scaling": null` beside scaled rope_parameters: transformers 4 reads no scaling.
  if (!v4 && v5 && r.raw.rope_scaling === null && ropeType(v5).type !== 'default') r.conflict('rope_scaling', null, ropeType(v5).key, ropeType(v5).type);
  checkFullRotary(r, blocks);
  const block = v5 ?? v4;
  if (!block) return { ropeTheta };
  const { key, type } = ropeType(block);
  if (type === 'default') return { ropeTheta };
  if (type === 'llama3') return { ropeTheta, ropeScaling: readLlama3(r, block, maxPositions) };
  return r.unsupported(key, type, ROPE_TYPES.join(', '));
}
