// --save-dtype: final/ in the source model's dtype by default; bf16 written from the fp32
// master weights rounded to nearest even (ties to even), as torch's .to(torch.bfloat16).
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Policy } from '../src/policy/index.js';
import { readSafetensorsHeader } from '../src/policy/safetensors.js';
import { resolveConfig } from '../src/train/config.js';
import { finalModelDtype, sourceDtype } from '../src/train/save-dtype.js';
import { train } from '../src/train/trainer.js';
import { makeTinyQwen3 } from '../scripts/make-tiny-qwen3.js';
import { tinyConfig } from './policy-helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/data/math17k-mini.parquet', import.meta.url));

const work = mkdtempSync(join(tmpdir(), 'dapo-save-dtype-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Round-to-nearest-even of fp32 to bf16 bits, written from the definition (not bit tricks). */
function bf16Nearest(x: number): number {
  const f32 = new Float32Array([x]);
  const bits = new Uint32Array(f32.buffer)[0];
  const upper = bits >>> 16;
  const lower = bits & 0xffff;
  if (lower > 0x8000 || (lower === 0x8000 && (upper & 1) === 1)) return (upper + 1) & 0xffff;
  return upper;
}

describe('bf16 from fp32', () => {
  test('each weight is the fp32 value rounded to nearest, ties to even', async () => {
    const policy = Policy.fromConfig(tinyConfig('qwen3'), { seed: 4, initStd: 0.5 });
    const name = policy.parameterNames()[0];
    const values = policy.getParameter(name);
    // Exact ties (half an ulp of bf16) with even and odd bf16 neighbours, and values just off them.
    const ties = [1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8), 1 + 2 ** -8 + 2 ** -20, 1 + 2 ** -8 - 2 ** -20, 3.0000002];
    ties.forEach((v, i) => (values[i] = v));
    policy.setParameter(name, values);
    const dir = join(work, 'bf16');
    await policy.save(dir, { dtype: 'bfloat16' });
    const order = policy.parameterNames();
    const fp32 = order.map((n) => policy.getParameter(n));
    policy.dispose();
    const { tensors } = readSafetensorsHeader(join(dir, 'model.safetensors'));
    const file = readFileSync(join(dir, 'model.safetensors'));
    const names = [...tensors.keys()];
    assert.equal(names.length, fp32.length);
    for (const n of names) {
      const entry = tensors.get(n)!;
      assert.equal(entry.dtype, 'BF16', n);
      const bits = new Uint16Array(file.buffer.slice(file.byteOffset + entry.begin, file.byteOffset + entry.end));
      const weights = fp32[order.indexOf(n)];
      assert.equal(bits.length, weights.length, n);
      for (let j = 0; j < bits.length; j++) assert.equal(bits[j], bf16Nearest(weights[j]), `${n}[${j}] = ${weights[j]}`);
    }
    assert.equal(bf16Nearest(1 + 2 ** -8), 0x3f80, 'tie to the even neighbour (down)');
    assert.equal(bf16Nearest(1 + 3 * 2 ** -8), 0x3f82, 'tie to the even neighbour (up)');
    assert.equal(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).torch_dtype, 'bfloat16');
  });
});

describe('the dtype of final/', () => {
  test("'auto' is the source's: bf16 stays bf16, fp32 stays fp32, built-in models fp32", async () => {
    const policy = Policy.fromConfig(tinyConfig('llama'), { seed: 1 });
    await policy.save(join(work, 'src-bf16'), { dtype: 'bfloat16' });
    await policy.save(join(work, 'src-fp32'));
    policy.dispose();
    assert.equal(sourceDtype(join(work, 'src-bf16')), 'bfloat16');
    assert.equal(sourceDtype(join(work, 'src-fp32')), 'float32');
    assert.equal(finalModelDtype({ saveDtype: 'auto', model: join(work, 'src-bf16') }), 'bfloat16');
    assert.equal(finalModelDtype({ saveDtype: 'float32', model: join(work, 'src-bf16') }), 'float32');
    assert.equal(finalModelDtype({ saveDtype: 'bfloat16', model: 'builtin:tiny' }), 'bfloat16');
    assert.equal(finalModelDtype({ saveDtype: 'auto', model: 'builtin:tiny' }), 'float32');
  });

  test('a run from a bf16 model leaves final/ in bf16 (checkpoints stay fp32)', { timeout: 300_000 }, async () => {
    const fp32Source = await makeTinyQwen3(join(work, 'tiny-fp32'), 5);
    const source = join(work, 'tiny-bf16');
    const policy = await Policy.load(fp32Source);
    await policy.save(source, { dtype: 'bfloat16' });
    policy.dispose();
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(fp32Source, f), join(source, f));
    const reward = join(work, 'parity.mjs');
    writeFileSync(reward, 'export default (r) => ([...r].length % 2 === 0 ? 1 : -1);\n');
    const out = join(work, 'run');
    const config = resolveConfig({}, {
      model: source, dataset: fixture, dedupe: true, reward, out, steps: 1, n: 4, trainBatch: 1, genBatch: 2, maxGenBatches: 2,
      maxResponseLen: 6, overlongBuffer: 2, miniBatch: 1, microBatch: 4, evalEvery: 0, saveEvery: 1, plotEvery: 0,
    });
    assert.equal(config.saveDtype, 'auto');
    await train(config, { log: () => {} });
    const dtypes = (file: string) => new Set([...readSafetensorsHeader(file).tensors.values()].map((t) => t.dtype));
    assert.deepEqual(dtypes(join(out, 'final', 'model.safetensors')), new Set(['BF16']));
    assert.deepEqual(dtypes(join(out, 'checkpoints', 'step-1', 'model', 'model.safetensors')), new Set(['F32']));
    assert.equal(JSON.parse(readFileSync(join(out, 'final', 'config.json'), 'utf8')).torch_dtype, 'bfloat16');
  });
});
