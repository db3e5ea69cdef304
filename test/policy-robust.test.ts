// The Policy API under bad input (issue #13): damaged model folders are named errors before
// anything large is allocated, temperatures are bounded, and every error carries a code.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { MIN_TEMPERATURE, packBatch, Policy, PolicyError } from '../src/policy/index.js';
import { readSafetensorsHeader } from '../src/policy/safetensors.js';
import { Rng, testSeed } from './helpers/random.js';

const seed = testSeed();
const rng = new Rng(seed);
console.log(`policy-robust seed ${seed}`);
const work = mkdtempSync(join(tmpdir(), 'dapo-policy-robust-'));
const saved = join(work, 'model');
let policy: Policy;

before(async () => {
  policy = await Policy.load('builtin:tiny', { seed: rng.int(1000) });
  await policy.save(saved);
});
after(() => {
  policy.dispose();
  rmSync(work, { recursive: true, force: true });
});

/** A copy of the saved model folder with `edit` applied to it. */
function damaged(name: string, edit: (dir: string) => void): string {
  const dir = join(work, name);
  mkdirSync(dir);
  for (const f of ['config.json', 'model.safetensors']) writeFileSync(join(dir, f), readFileSync(join(saved, f)));
  edit(dir);
  return dir;
}

const policyError = (code: string, pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof PolicyError, String(e));
  assert.equal(e.code, code, e.message);
  assert.match(e.message, pattern);
  return true;
};

describe('damaged model folders', () => {
  test('a NaN or infinite weight is named, with its file, at load', async () => {
    for (const [value, shown] of [[NaN, 'nan'], [-Infinity, '-inf']] as const) {
      const dir = damaged(`nonfinite-${shown}`, (d) => {
        const file = join(d, 'model.safetensors');
        const entry = readSafetensorsHeader(file).tensors.get('model.layers.1.mlp.up_proj.weight')!;
        const bytes = readFileSync(file);
        const at = rng.int((entry.end - entry.begin) / 4);
        bytes.writeFloatLE(value, entry.begin + 4 * at);
        writeFileSync(file, bytes);
      });
      await assert.rejects(
        Policy.load(dir),
        policyError('E_WEIGHTS', new RegExp(`model\\.safetensors: model\\.layers\\.1\\.mlp\\.up_proj\\.weight holds a non-finite value \\(${shown}\\) at flat index \\d+`)),
      );
    }
  });

  test('a config.json far larger than its weights is refused from the headers, naming config.json and the field', async () => {
    for (const vocab of [20_000_000, 500_000_000]) {
      const dir = damaged(`vocab-${vocab}`, (d) => {
        const config = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
        writeFileSync(join(d, 'config.json'), JSON.stringify({ ...config, vocab_size: vocab }));
      });
      const rss = process.memoryUsage().rss;
      await assert.rejects(
        Policy.load(dir),
        policyError('E_WEIGHTS', new RegExp(`config\\.json: vocab_size = ${vocab} does not match the weights: .*model\\.embed_tokens\\.weight has shape \\[\\d+, 64\\]`)),
      );
      // Nothing of the config's size was allocated (vocab 2e7 x 64 fp32 would be 5 GB).
      assert.ok(process.memoryUsage().rss - rss < 256 << 20, `rss grew by ${(process.memoryUsage().rss - rss) >> 20} MiB`);
    }
  });

  test('more layers in config.json than in the weights', async () => {
    const dir = damaged('layers', (d) => {
      const config = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
      writeFileSync(join(d, 'config.json'), JSON.stringify({ ...config, num_hidden_layers: 100_000 }));
    });
    await assert.rejects(Policy.load(dir), policyError('E_WEIGHTS', /config\.json: num_hidden_layers = 100000, but tensor model\.layers\.99999\..* is missing/));
  });

  test('model.safetensors that is a folder is a named error, not a bare EISDIR', async () => {
    const dir = damaged('folder', (d) => {
      rmSync(join(d, 'model.safetensors'));
      mkdirSync(join(d, 'model.safetensors'));
    });
    await assert.rejects(Policy.load(dir), policyError('E_SAFETENSORS', /model\.safetensors: is a folder, not a safetensors file/));
  });
});

describe('temperature bounds in generate and logprobs', () => {
  const batch = packBatch([{ prompt: [1, 2, 3], response: [4, 5, 6] }]);
  const coded = (pattern: RegExp) => (e: Error & { code?: string }) => e instanceof RangeError && e.code === 'ERR_DAPO_RANGE' && pattern.test(e.message);

  test('a temperature of 1e-300 is refused where it gave infinite log-probs', async () => {
    await assert.rejects(policy.logprobs(batch, { temperature: 1e-300 }), coded(/temperature must be a finite number >= 0\.01, got 1e-300/));
    await assert.rejects(policy.generate([Int32Array.from([1, 2])], { maxNewTokens: 3, temperature: 1e-300 }), coded(/temperature must be 0 \(greedy\) or a finite number >= 0\.01/));
    await assert.rejects(policy.generate([Int32Array.from([1, 2])], { maxNewTokens: 3, temperature: 0.009 }), coded(/got 0\.009/));
  });

  test('the documented minimum works and gives finite log-probs; 0 is greedy', async () => {
    assert.equal(MIN_TEMPERATURE, 0.01);
    const lp = await policy.logprobs(batch, { temperature: MIN_TEMPERATURE });
    assert.ok(lp.every((x) => Number.isFinite(x) && x <= 0), String(lp));
    const [[a]] = await policy.generate([Int32Array.from([1, 2])], { maxNewTokens: 4, temperature: MIN_TEMPERATURE, seed: 1 });
    assert.ok(a.logprobs.every((x) => Number.isFinite(x)));
    const [[g1]] = await policy.generate([Int32Array.from([1, 2])], { maxNewTokens: 4, temperature: 0, seed: 1 });
    const [[g2]] = await policy.generate([Int32Array.from([1, 2])], { maxNewTokens: 4, temperature: 0, seed: 2 });
    assert.deepEqual(g1.tokens, g2.tokens);
  });

  test('AdamW options that do not survive float32 are refused: eps = 1e-300 became 0 and 0 / 0 NaN weights', async () => {
    const before = policy.getParameter('model.norm.weight');
    await assert.rejects(policy.step({ lr: 1e-3, eps: 1e-300 }), coded(/eps must be a normal float32 number > 0 \(at least 1\.2e-38\), got 1e-300/));
    await assert.rejects(policy.step({ lr: 1e39 }), coded(/lr must be a float32 number, got 1e\+39/));
    assert.deepEqual(policy.getParameter('model.norm.weight'), before);
  });

  test('an initial std whose draws overflow float32 is refused', async () => {
    await assert.rejects(Policy.load('builtin:tiny', { initStd: 1e300 }), coded(/std must be in \(0, 1e37\], got 1e\+300/));
  });

  test('forwardLogits: logits that overflow are ERR_DAPO_NONFINITE, not Infinity', async () => {
    const p = await Policy.load('builtin:tiny', { seed: 2 });
    try {
      p.setParameter('model.norm.weight', new Float32Array(64).fill(3e38));
      await assert.rejects(p.forwardLogits(Int32Array.from([1, 2, 3])), (e: Error & { code?: string }) => e.code === 'ERR_DAPO_NONFINITE' && /logits are not finite/.test(e.message));
    } finally {
      p.dispose();
    }
  });

  test('tokenCount of accumulate is a count', async () => {
    const train = { ...batch, oldLogprobs: new Float32Array(3), advantages: new Float32Array(3).fill(1) };
    await assert.rejects(policy.accumulate(train, { kind: 'dapo', tokenCount: 1e-300 }), coded(/tokenCount must be a positive integer/));
    await assert.rejects(policy.accumulate(batch, { kind: 'nll', tokenCount: 0.5 }), coded(/tokenCount must be a positive integer/));
    policy.zeroGrad();
  });
});

describe('every error of the Policy API has a code and names the argument', () => {
  const cases: Array<[string, () => unknown, string, RegExp]> = [
    ['load: path not a string', () => Policy.load(42 as never), 'ERR_DAPO_TYPE', /path must be a non-empty string/],
    ['load: options not an object', () => Policy.load('builtin:tiny', 7 as never), 'ERR_DAPO_TYPE', /options must be an object/],
    ['load: bad device', () => Policy.load('builtin:tiny', { device: 'tpu' as never }), 'ERR_DAPO_RANGE', /device must be 'cpu', 'cuda' or 'auto', got 'tpu'/],
    ['load: unknown builtin', () => Policy.load('builtin:huge'), 'ERR_DAPO_RANGE', /unknown builtin model/],
    ['load: bad dtype', () => Policy.load('builtin:tiny', { dtype: 'int8' as never }), 'ERR_DAPO_RANGE', /dtype must be 'bfloat16' or 'float32', got 'int8'/],
    ['generate: prompts not an array', () => policy.generate('hi' as never, { maxNewTokens: 1 }), 'ERR_DAPO_TYPE', /prompts must be a non-empty array/],
    ['generate: options not an object', () => policy.generate([Int32Array.from([1])], null as never), 'ERR_DAPO_TYPE', /options must be an object/],
    ['generate: a prompt of the wrong type', () => policy.generate([[1] as never], { maxNewTokens: 1 }), 'ERR_DAPO_TYPE', /prompts\[0\] must be an Int32Array/],
    ['generate: stop ids not numbers', () => policy.generate([Int32Array.from([1])], { maxNewTokens: 1, stop: ['a'] as never }), 'ERR_DAPO_TYPE', /stop\[0\] must be a number/],
    ['generate: a stop id past int32', () => policy.generate([Int32Array.from([1])], { maxNewTokens: 1, stop: [2 ** 40] }), 'ERR_DAPO_RANGE', /stop\[0\] = 1099511627776 is not a token id/],
    ['logprobs: options not an object', () => policy.logprobs(packBatch([{ prompt: [1], response: [2] }]), 3 as never), 'ERR_DAPO_TYPE', /options must be an object/],
    ['accumulate: loss not an object', () => policy.accumulate(packBatch([{ prompt: [1], response: [2] }]), null as never), 'ERR_DAPO_TYPE', /loss must be an object/],
    ['getParameter: unknown name', () => policy.getParameter('nope'), 'ERR_DAPO_RANGE', /no parameter named "nope"/],
    ['setParameter: not a Float32Array', () => policy.setParameter('model.norm.weight', [1] as never), 'ERR_DAPO_TYPE', /values must be a Float32Array/],
    ['save: dir not a string', () => policy.save(1 as never), 'ERR_DAPO_TYPE', /dir must be a non-empty string/],
    ['packBatch: a pair without a prompt', () => packBatch([{ response: [1] } as never]), 'ERR_DAPO_TYPE', /pairs\[0\] must be an object with prompt and response/],
  ];
  for (const [name, call, code, pattern] of cases) {
    test(name, async () => {
      await assert.rejects(
        async () => call(),
        (e: Error & { code?: string }) => {
          assert.equal(e.code, code, `${e.constructor.name}: ${e.message}`);
          assert.match(e.message, pattern);
          return true;
        },
      );
    });
  }

  test('setParameter takes a Float32Array over a SharedArrayBuffer', () => {
    const values = new Float32Array(new SharedArrayBuffer(4 * 64));
    values.set(Float32Array.from({ length: 64 }, () => rng.normal()));
    const before = policy.getParameter('model.norm.weight');
    policy.setParameter('model.norm.weight', values);
    assert.deepEqual(policy.getParameter('model.norm.weight'), Float32Array.from(values));
    policy.setParameter('model.norm.weight', before);
  });
});
