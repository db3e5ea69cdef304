// The policy engine without a usable GPU: 'cuda' refuses with E_DEVICE and the reason, 'auto'
// runs on the CPU with results identical to 'cpu', bfloat16 is refused on the CPU, the CUDA
// engine's constructor checks its arguments (with codes) before it asks for the device, and the
// CLI says why. (With a GPU, test/cuda/engine.test.ts covers the CUDA engine.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { test } from 'node:test';

import { cudaInfo } from '../src/index.js';
import { native, packageRoot } from '../src/native.js';
import { Policy, PolicyError, packBatch, type TrainBatch } from '../src/policy/index.js';
import { ConfigError, resolveConfig } from '../src/train/config.js';
import { tempDir, tinyConfig } from './policy-helpers.js';

const info = cudaInfo();
const usable = info.loaded && info.devices > 0 && info.engine;
const skip = usable ? 'a CUDA device with the policy engine is present: test/cuda/engine.test.ts checks it' : false;
const reasonText = () => (info.loaded && info.devices > 0 ? info.engineReason! : info.reason!);

const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

test('cudaInfo says the policy engine is unusable and why', { skip }, () => {
  assert.equal(info.engine, false);
  assert.ok(reasonText().length > 0, 'a reason is given');
});

test("device 'cuda' rejects with E_DEVICE and the reason, in load and fromConfig", { skip }, async () => {
  await assert.rejects(Policy.load('builtin:tiny', { device: 'cuda' }), (e: unknown) => {
    assert.ok(e instanceof PolicyError);
    assert.equal(e.code, 'E_DEVICE');
    assert.ok(e.message.includes(reasonText()), `the message carries cudaInfo's reason: ${e.message}`);
    return true;
  });
  assert.throws(() => Policy.fromConfig(tinyConfig('qwen2'), { device: 'cuda', dtype: 'float32' }), code('E_DEVICE'));
});

test("device 'auto' falls back to the CPU with results identical to 'cpu'", { skip }, async () => {
  const cpu = await Policy.load('builtin:tiny', { device: 'cpu', seed: 4 });
  const auto = await Policy.load('builtin:tiny', { device: 'auto', seed: 4 });
  assert.equal(auto.device, 'cpu');
  assert.equal(auto.dtype, 'float32');
  assert.equal(auto.generationLogprobsExact, true);
  assert.equal(auto.memory(), undefined);
  const ids = Int32Array.from([1, 5, 9, 2, 7, 3]);
  assert.deepEqual(await auto.forwardLogits(ids), await cpu.forwardLogits(ids));
  const opts = { n: 2, maxNewTokens: 6, temperature: 1, seed: 3 };
  assert.deepEqual(await auto.generate([ids], opts), await cpu.generate([ids], opts));
  const batch: TrainBatch = packBatch([{ prompt: ids.slice(0, 3), response: ids.slice(3) }]);
  batch.oldLogprobs = await cpu.logprobs(batch);
  batch.advantages = Float32Array.from(batch.oldLogprobs, (_, i) => (i % 2 ? 1 : -1));
  for (const p of [cpu, auto]) {
    await p.accumulate(batch, { kind: 'dapo' });
    await p.step({ lr: 1e-2 });
  }
  for (const name of cpu.parameterNames()) assert.deepEqual(auto.getParameter(name), cpu.getParameter(name), name);
  cpu.dispose();
  auto.dispose();
});

test('the CPU engine refuses bfloat16 with a clear error; a dtype it does not know is a RangeError', async () => {
  await assert.rejects(Policy.load('builtin:tiny', { device: 'cpu', dtype: 'bfloat16' }), (e: unknown) => {
    assert.ok(e instanceof PolicyError && e.code === 'E_DEVICE');
    assert.match(e.message, /bfloat16.*CUDA.*float32/);
    return true;
  });
  assert.throws(() => Policy.fromConfig(tinyConfig('llama'), { dtype: 'float16' as never }), RangeError);
  const p = Policy.fromConfig(tinyConfig('llama'), { device: 'cpu', dtype: 'float32' });
  assert.equal(p.dtype, 'float32');
  p.dispose();
});

test('CudaPolicyEngine checks its arguments (with codes) before asking for the device', { skip }, () => {
  const config = tinyConfig('qwen3');
  assert.throws(() => new native.CudaPolicyEngine(undefined as never), (e: unknown) => e instanceof TypeError && code('ERR_DAPO_TYPE')(e));
  assert.throws(() => new native.CudaPolicyEngine({ ...config, hiddenSize: 'x' as never }), (e: unknown) => e instanceof TypeError && /hiddenSize/.test((e as Error).message));
  assert.throws(() => new native.CudaPolicyEngine({ ...config, numKvHeads: 3 }), (e: unknown) => e instanceof RangeError && code('ERR_DAPO_RANGE')(e));
  assert.throws(() => new native.CudaPolicyEngine(config, { dtype: 'float16' as never }), (e: unknown) => e instanceof RangeError && /dtype/.test((e as Error).message));
  assert.throws(() => new native.CudaPolicyEngine(config, { recompute: 1 as never }), (e: unknown) => e instanceof TypeError && /recompute/.test((e as Error).message));
  assert.throws(() => new native.CudaPolicyEngine(config, 'bf16' as never), code('ERR_DAPO_TYPE'));
  assert.throws(() => new native.CudaPolicyEngine(config, { device: -1 }), code('ERR_DAPO_RANGE'));
  // Good arguments: the device is asked for, and its absence is the error, with the reason.
  assert.throws(() => new native.CudaPolicyEngine(config, { dtype: 'float32', recompute: true }), (e: unknown) => {
    assert.equal((e as { code?: string }).code, 'ERR_DAPO_CUDA_UNAVAILABLE');
    assert.ok((e as Error).message.includes(reasonText()), (e as Error).message);
    return true;
  });
  // Still alive and computing.
  const p = Policy.fromConfig(config, { device: 'auto' });
  assert.equal(p.numParameters > 0, true);
  p.dispose();
});

test("CudaPolicyEngine has PolicyEngine's surface plus memory(), and refuses to run on anything but an engine", () => {
  const methods = (cls: { prototype: object }) =>
    Object.getOwnPropertyNames(cls.prototype).filter((k) => k !== 'constructor' && typeof Object.getOwnPropertyDescriptor(cls.prototype, k)!.value === 'function');
  assert.deepEqual(methods(native.CudaPolicyEngine).sort(), [...methods(native.PolicyEngine), 'memory'].sort());
  for (const name of methods(native.CudaPolicyEngine))
    assert.throws(() => (native.CudaPolicyEngine.prototype as unknown as Record<string, () => unknown>)[name].call({}), TypeError, name);
  for (const name of ['dtype', 'generationLogprobsExact']) assert.ok(Object.getOwnPropertyDescriptor(native.CudaPolicyEngine.prototype, name)?.get, name);
});

test('--dtype and --recompute are options with checked values', () => {
  assert.equal(resolveConfig({}, {}).dtype, 'auto');
  assert.equal(resolveConfig({}, {}).recompute, false);
  assert.equal(resolveConfig({}, { dtype: 'bfloat16', recompute: true }).dtype, 'bfloat16');
  assert.throws(() => resolveConfig({}, { dtype: 'float16' as never }), ConfigError);
  assert.throws(() => resolveConfig({}, { recompute: 'yes' as never }), ConfigError);
});

test('dapo train --device cuda says why and exits 1', { skip }, () => {
  const out = tempDir('device-cli');
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'train', '--steps', '1', '--out', out, '--device', 'cuda'], {
      cwd: packageRoot, encoding: 'utf8', timeout: 60_000,
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /device 'cuda' is not available for the policy engine: \S.*\(E_DEVICE\)/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
