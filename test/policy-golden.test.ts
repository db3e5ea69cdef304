// forwardLogits against Hugging Face transformers on tiny random Llama / Qwen2 / Qwen3 models.
// The fixtures come from scripts/make-golden.py, run where torch and transformers exist (the
// GPU machine); without them the tests are skipped with that reason, never counted as passed.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Policy } from '../src/policy/index.js';

const root = fileURLToPath(new URL('./fixtures/models/golden/', import.meta.url));

for (const arch of ['llama', 'qwen2', 'qwen3']) {
  const dir = join(root, arch);
  const present = existsSync(join(dir, 'golden.json'));
  test(`${arch}: forwardLogits matches transformers`, { skip: present ? false : `no fixture at ${dir}: run scripts/make-golden.py where transformers is installed` }, async () => {
    const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as { inputs: number[][]; logits: number[][][] };
    const p = await Policy.load(dir);
    for (let s = 0; s < golden.inputs.length; s++) {
      const ids = Int32Array.from(golden.inputs[s]);
      const logits = await p.forwardLogits(ids);
      const v = p.config.vocabSize;
      let worst = 0;
      golden.logits[s].forEach((row, t) => row.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - logits[t * v + j])))));
      assert.ok(worst < 1e-4, `${arch} sequence ${s}: max abs error ${worst}`);
    }
    p.dispose();
  });
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
