// Shared pieces of the policy tests: tiny configs of each architecture and small utilities.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseHfConfig, Policy, type PolicyConfig } from '../src/policy/index.js';

export function tinyRaw(modelType: 'llama' | 'qwen2' | 'qwen3', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model_type: modelType,
    vocab_size: 11,
    hidden_size: 8,
    intermediate_size: 12,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    head_dim: 4,
    max_position_embeddings: 32,
    rope_theta: 10000,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
    eos_token_id: 2,
    ...extra,
  };
}

export function tinyConfig(modelType: 'llama' | 'qwen2' | 'qwen3', extra: Record<string, unknown> = {}): PolicyConfig {
  return parseHfConfig(tinyRaw(modelType, extra), 'test');
}

export function tinyPolicy(modelType: 'llama' | 'qwen2' | 'qwen3', seed = 1, initStd = 0.3, extra: Record<string, unknown> = {}): Policy {
  const p = Policy.fromConfig(tinyConfig(modelType, extra), { seed, initStd });
  // Give biases and norm weights non-trivial values so their gradients are exercised.
  for (const name of p.parameterNames()) {
    if (name.endsWith('.bias') || name.includes('norm')) {
      const v = p.getParameter(name);
      for (let i = 0; i < v.length; i++) v[i] = (name.endsWith('.bias') ? 0 : 1) + 0.2 * Math.sin(7.3 * i + name.length);
      p.setParameter(name, v);
    }
  }
  return p;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `dapo-${prefix}-`));
}

export function logSoftmax(row: ArrayLike<number>): number[] {
  let mx = -Infinity;
  for (let i = 0; i < row.length; i++) mx = Math.max(mx, row[i]);
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i] - mx);
  const lse = mx + Math.log(s);
  return Array.from(row, (x) => x - lse);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function bitEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}
