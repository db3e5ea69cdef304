// forwardLogits against Hugging Face transformers on tiny random Llama / Qwen2 / Qwen3 models,
// each in both config layouts transformers writes (test/fixtures/models/golden/README.md):
// the same weights must give transformers' logits whichever layout the config is in.
// The fixtures come from scripts/make-golden.py, run with transformers 5.17 on the GPU machine.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Policy } from '../src/policy/index.js';
import { GOLDEN_ARCHS, GOLDEN_LAYOUTS, goldenDir, goldenError, readGolden } from './helpers/golden.js';

for (const layout of GOLDEN_LAYOUTS) {
  for (const arch of GOLDEN_ARCHS) {
    test(`${arch} (${layout}): forwardLogits matches transformers`, async () => {
      const dir = goldenDir(layout, arch);
      const p = await Policy.load(dir);
      // theta 1e6, not the default 10000: a loader that missed the key fails here first.
      assert.equal(p.config.ropeTheta, 1e6);
      assert.equal(p.config.ropeScaling?.factor, arch === 'llama' ? 8 : undefined);
      const worst = await goldenError(p, readGolden(dir));
      assert.ok(worst < 1e-4, `${arch} (${layout}): max abs error ${worst}`);
      p.dispose();
    });
  }
}

// The NumPy reference (scripts/make-model-fixtures.py): a second forward pass written from the
// transformers modeling code, committed with its fixtures, so this check always runs.
const reference = fileURLToPath(new URL('./fixtures/models/reference/', import.meta.url));
for (const arch of ['llama', 'qwen2', 'qwen3']) {
  test(`${arch}: forwardLogits matches the NumPy reference (float64)`, async () => {
    const dir = join(reference, arch);
    const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as { inputs: number[][]; logits: number[][][] };
    const p = await Policy.load(dir);
    assert.equal(p.config.modelType, arch);
    for (let s = 0; s < ref.inputs.length; s++) {
      const logits = await p.forwardLogits(Int32Array.from(ref.inputs[s]));
      const v = p.config.vocabSize;
      let worst = 0;
      let scale = 0;
      ref.logits[s].forEach((row, t) =>
        row.forEach((x, j) => {
          worst = Math.max(worst, Math.abs(x - logits[t * v + j]));
          scale = Math.max(scale, Math.abs(x));
        }),
      );
      assert.ok(scale > 0.5, `${arch}: logits too small to test (${scale})`);
      assert.ok(worst < 1e-4, `${arch} sequence ${s}: max abs error ${worst}`);
    }
    p.dispose();
  });
}
