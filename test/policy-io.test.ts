// Loading and saving Hugging Face folders: bit-exact round trips (weights and AdamW state),
// valid safetensors headers, sharded checkpoints, bf16 weights, corrupt files. config.json
// errors are in policy-config-errors.test.ts.
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Policy, PolicyError, packBatch, parseHfConfig, writeSafetensors } from '../src/policy/index.js';
import { bitEqual, tempDir, tinyPolicy, tinyRaw } from './policy-helpers.js';

async function train(p: Policy, steps: number) {
  const b = packBatch([{ prompt: [1, 5], response: [7, 2, 9, 4] }, { prompt: [6, 6], response: [10, 3] }]);
  for (let i = 0; i < steps; i++) {
    await p.accumulate(b, { kind: 'nll' });
    await p.step({ lr: 1e-2, weightDecay: 0.1, clipGradNorm: 1 });
  }
}

function parseHeader(file: string) {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  return { n, header, size: buf.length };
}

for (const arch of ['llama', 'qwen2', 'qwen3'] as const) {
  test(`${arch}: save then load is bit-exact, optimizer state included`, async () => {
    const p = tinyPolicy(arch, 21, 0.3, arch === 'qwen3' ? { tie_word_embeddings: true } : {});
    await train(p, 3);
    const dir = join(tempDir('save'), 'model');
    await p.save(dir);
    assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'model.safetensors', 'optimizer.safetensors']);
    const q = await Policy.load(dir);
    assert.deepEqual(q.parameterNames(), p.parameterNames());
    for (const name of p.parameterNames()) assert.ok(bitEqual(p.getParameter(name), q.getParameter(name)), name);
    // The same next step on both: equal only if the moments and the step count came back.
    await train(p, 1);
    await train(q, 1);
    for (const name of p.parameterNames()) assert.ok(bitEqual(p.getParameter(name), q.getParameter(name)), `after a step: ${name}`);

    // Valid header: dtypes, shapes, contiguous offsets that cover the data exactly, 8-byte aligned.
    const { n, header, size } = parseHeader(join(dir, 'model.safetensors'));
    assert.equal((8 + n) % 8, 0);
    assert.equal(header.__metadata__.format, 'pt');
    let at = 0;
    for (const name of p.parameterNames()) {
      const e = header[name];
      assert.equal(e.dtype, 'F32');
      assert.deepEqual(e.shape, p.parameterShape(name));
      assert.equal(e.data_offsets[0], at);
      at += e.shape.reduce((a: number, d: number) => a * d, 1) * 4;
      assert.equal(e.data_offsets[1], at);
    }
    assert.equal(8 + n + at, size);
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.equal(cfg.model_type, arch);
    assert.equal(cfg.torch_dtype, 'float32');
    assert.deepEqual(parseHfConfig(cfg).numKvHeads, p.config.numKvHeads);
    p.dispose();
    q.dispose();
  });
}

test('builtin:tiny saves its tokenizer and generation config; overwriting a folder replaces it whole', async () => {
  const p = await Policy.load('builtin:tiny', { seed: 2 });
  const dir = join(tempDir('tiny'), 'm');
  await p.save(dir);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'])
    assert.ok(existsSync(join(dir, f)), f);
  assert.ok(!existsSync(join(dir, 'optimizer.safetensors')));
  writeFileSync(join(dir, 'stale.txt'), 'x');
  await p.save(dir);
  assert.ok(!existsSync(join(dir, 'stale.txt')));
  assert.ok(!readdirSync(join(dir, '..')).some((f) => f.includes('.tmp-')));
  const q = await Policy.load(dir);
  assert.deepEqual(q.config.eosTokenIds, p.config.eosTokenIds);
  const ids = Int32Array.from([1, 4, 5, 6]);
  assert.ok(bitEqual(await p.forwardLogits(ids), await q.forwardLogits(ids)));
  // bfloat16 weights: half the bytes, values rounded to nearest even.
  const bdir = join(tempDir('bf16'), 'm');
  await p.save(bdir, { dtype: 'bfloat16' });
  assert.equal(JSON.parse(readFileSync(join(bdir, 'config.json'), 'utf8')).torch_dtype, 'bfloat16');
  const b = await Policy.load(bdir);
  for (const name of p.parameterNames()) assert.ok(bitEqual(b.getParameter(name), fromBf16(toBf16(p.getParameter(name)))), name);
  p.dispose();
  q.dispose();
  b.dispose();
});

test('a sharded index loads, and bf16 / fp16 weights load as their values', async () => {
  const p = tinyPolicy('qwen2', 8);
  const dir = tempDir('shard');
  const names = p.parameterNames();
  const half = Math.floor(names.length / 2);
  const shards = [names.slice(0, half), names.slice(half)];
  const weightMap: Record<string, string> = {};
  shards.forEach((group, s) => {
    const file = `model-0000${s + 1}-of-00002.safetensors`;
    // bf16 in the first shard, fp32 in the second.
    writeSafetensors(
      join(dir, file),
      group.map((name) => ({ name, dtype: s === 0 ? ('BF16' as const) : ('F32' as const), shape: p.parameterShape(name), data: () => (s === 0 ? toBf16(p.getParameter(name)) : p.getParameter(name)) })),
      { format: 'pt' },
    );
    for (const name of group) weightMap[name] = file;
  });
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(tinyRaw('qwen2')));
  const q = await Policy.load(dir);
  names.forEach((name, i) => {
    const want = i < half ? fromBf16(toBf16(p.getParameter(name))) : p.getParameter(name);
    assert.ok(bitEqual(q.getParameter(name), want), name);
  });
  // fp16: values exactly representable in half precision come back exactly.
  const name = names[1];
  const vals = Float32Array.from({ length: p.getParameter(name).length }, (_, i) => ((i % 17) - 8) / 16);
  const f16 = Uint16Array.from(vals, toHalf);
  const fdir = tempDir('f16');
  writeFileSync(join(fdir, 'config.json'), JSON.stringify(tinyRaw('qwen2')));
  writeF16Model(join(fdir, 'model.safetensors'), p, name, f16);
  const r = await Policy.load(fdir);
  assert.ok(bitEqual(r.getParameter(name), vals));
  p.dispose();
  q.dispose();
  r.dispose();
});

function toBf16(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  return Uint16Array.from(u, (b) => (b + 0x7fff + ((b >>> 16) & 1)) >>> 16);
}
function fromBf16(x: Uint16Array): Float32Array {
  return new Float32Array(Uint32Array.from(x, (b) => b << 16).buffer);
}
function toHalf(v: number): number {
  // Exact for the small dyadic values used above.
  if (v === 0) return 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  const e = Math.floor(Math.log2(a));
  const m = Math.round((a / 2 ** e - 1) * 1024);
  return sign | ((e + 15) << 10) | m;
}
function writeF16Model(file: string, p: Policy, f16Name: string, f16: Uint16Array) {
  // Built by hand: writeSafetensors only writes F32 / BF16.
  const entries = p.parameterNames().map((n) => {
    const data = n === f16Name ? new Uint8Array(f16.buffer) : new Uint8Array(p.getParameter(n).buffer);
    return { n, dtype: n === f16Name ? 'F16' : 'F32', shape: p.parameterShape(n), data };
  });
  const header: Record<string, unknown> = {};
  let at = 0;
  for (const e of entries) {
    header[e.n] = { dtype: e.dtype, shape: e.shape, data_offsets: [at, at + e.data.length] };
    at += e.data.length;
  }
  const hb = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hb.length));
  const fd = openSync(file, 'w');
  writeSync(fd, len);
  writeSync(fd, hb);
  for (const e of entries) writeSync(fd, e.data);
  closeSync(fd);
}

test('corrupt safetensors files are clear errors', async () => {
  const p = tinyPolicy('llama', 9);
  const dir = join(tempDir('corrupt'), 'm');
  await p.save(dir);
  const file = join(dir, 'model.safetensors');
  const good = readFileSync(file);
  const expectError = async (pattern: RegExp) => {
    await assert.rejects(Policy.load(dir), (e: unknown) => e instanceof PolicyError && e.code === 'E_SAFETENSORS' && pattern.test(e.message));
  };
  truncateSync(file, good.length - 10);
  await expectError(/run past the data/);
  writeFileSync(file, good.subarray(0, 5));
  await expectError(/too short/);
  const bad = Buffer.from(good);
  bad.writeBigUInt64LE(BigInt(good.length * 2), 0);
  writeFileSync(file, bad);
  await expectError(/header length/);
  const garbled = Buffer.from(good);
  garbled[9] = 0x5d;  // '{]...': not JSON
  writeFileSync(file, garbled);
  await expectError(/not valid JSON/);
  // A header that lies about a tensor's size.
  const n = Number(good.readBigUInt64LE(0));
  const header = JSON.parse(good.subarray(8, 8 + n).toString());
  const first = p.parameterNames()[0];
  header[first].shape = [header[first].shape[0], header[first].shape[1] + 1];
  const hb = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hb.length));
  writeFileSync(file, Buffer.concat([len, hb, good.subarray(8 + n)]));
  await expectError(/bytes for shape/);
  // Missing tensor, wrong shape against the config.
  writeFileSync(file, good);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, intermediate_size: 16 }));
  await assert.rejects(Policy.load(dir), (e: unknown) => e instanceof PolicyError && e.code === 'E_WEIGHTS' && /mlp\.gate_proj\.weight has shape/.test(e.message));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, tie_word_embeddings: false, num_hidden_layers: 3 }));
  await assert.rejects(Policy.load(dir), (e: unknown) => e instanceof PolicyError && /model\.layers\.2\..* is missing/.test(e.message));
  await assert.rejects(Policy.load(join(dir, 'nope')), (e: unknown) => e instanceof PolicyError && e.code === 'E_MODEL_NOT_FOUND');
  p.dispose();
});
