// The transformers golden fixtures (test/fixtures/models/golden/README.md): where they are and
// how far our logits are from the ones transformers computed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Policy } from '../../src/policy/index.js';

const root = fileURLToPath(new URL('../fixtures/models/golden/', import.meta.url));

/** The two config layouts of the same models: as transformers 5 writes them, and as transformers 4 does. */
export const GOLDEN_LAYOUTS = ['transformers5', 'transformers4-layout'] as const;
export const GOLDEN_ARCHS = ['llama', 'qwen2', 'qwen3'] as const;

export const goldenDir = (layout: (typeof GOLDEN_LAYOUTS)[number], arch: (typeof GOLDEN_ARCHS)[number]) => join(root, layout, arch);

export interface Golden {
  inputs: number[][];
  /** [sequence][position][vocab], fp32 from transformers. */
  logits: number[][][];
}

export const readGolden = (dir: string) => JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as Golden;

export const readConfigJson = (dir: string) => JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;

/** The largest |transformers - ours| over every logit of every golden sequence. */
export async function goldenError(p: Policy, golden: Golden): Promise<number> {
  const v = p.config.vocabSize;
  let worst = 0;
  for (let s = 0; s < golden.inputs.length; s++) {
    const logits = await p.forwardLogits(Int32Array.from(golden.inputs[s]));
    assert.equal(logits.length, golden.logits[s].length * v);
    golden.logits[s].forEach((row, t) => row.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - logits[t * v + j])))));
  }
  return worst;
}
