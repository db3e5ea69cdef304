// builtin:chains, the ablation task: its problems, the lengths its answers take against the
// overlong limits it runs with, the mixed difficulty of its warm-up, and the warm-up cache.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { Policy } from '../src/policy/index.js';
import { dapoMathReward } from '../src/reward/index.js';
import { chainResponse, CHAINS_DATASET, makeChainTask, runningTotals } from '../src/task/chains.js';
import { makeBuiltinTask } from '../src/task/index.js';
import { warmupCacheKey, warmupTo } from '../src/task/warmup.js';
import { CharTokenizer } from '../src/tokenizer/char.js';
import { ConfigError, resolveConfig } from '../src/train/config.js';
import { testSeed } from './helpers/random.js';

const seed = testSeed() % 1000;
const work = mkdtempSync(join(tmpdir(), 'dapo-chains-'));
after(() => rmSync(work, { recursive: true, force: true }));

const operandsOf = (prompt: string) => prompt.slice(0, -1).split('+').map(Number);

describe('builtin:chains', () => {
  const task = makeChainTask({ seed });

  test('sums of 2, 3 and 4 digits in equal shares; held-out problems never trained on', () => {
    const counts = [2, 3, 4].map((k) => task.train.filter((r) => operandsOf(r.messages[0].content).length === k).length);
    assert.deepEqual(counts, [340, 340, 340]);
    const trained = new Set(task.train.map((r) => r.messages[0].content));
    assert.equal(task.val.length, 15 + 20 + 20);
    for (const row of task.val) assert.ok(!trained.has(row.messages[0].content), `${row.messages[0].content} is held out and trained on`);
    for (const row of [...task.train, ...task.val]) {
      const operands = operandsOf(row.messages[0].content);
      assert.ok(operands.every((x) => Number.isInteger(x) && x >= 0 && x <= 9));
      assert.equal(row.answer, String(operands.reduce((a, b) => a + b, 0)));
    }
  });

  test('a correct answer shows the running totals, scores 1 under the DAPO-Math rule, and ends before the overlong buffer', () => {
    const config = resolveConfig({}, { dataset: CHAINS_DATASET });
    const tokenizer = new CharTokenizer();
    let longest = 0;
    for (const row of task.train) {
      const totals = runningTotals(operandsOf(row.messages[0].content));
      const response = chainResponse(totals);
      assert.equal(dapoMathReward(response, row.answer).score, 1, response);
      longest = Math.max(longest, tokenizer.encodeSync(response, { addSpecialTokens: false }).length + 1); // + <eos>
    }
    assert.equal(chainResponse([7, 12]), '7 Answer: 12');
    assert.equal(longest, 17);
    assert.ok(longest <= config.maxResponseLen - config.overlongBuffer, `${longest} tokens against L_max ${config.maxResponseLen}, buffer ${config.overlongBuffer}`);
  });

  test('the warm-up answers: right less often the more operands; some ramble past L_max', () => {
    const examples = makeBuiltinTask(CHAINS_DATASET, seed).warmup(6000, seed + 1);
    const tokenizer = new CharTokenizer();
    const config = resolveConfig({}, { dataset: CHAINS_DATASET });
    const right = [0, 0, 0];
    const seen = [0, 0, 0];
    let overrun = 0;
    for (const ex of examples) {
      const operands = operandsOf(ex.prompt);
      seen[operands.length - 2]++;
      if (dapoMathReward(ex.response, String(operands.reduce((a, b) => a + b, 0))).score === 1) right[operands.length - 2]++;
      if (tokenizer.encodeSync(ex.response, { addSpecialTokens: false }).length + 1 > config.maxResponseLen) overrun++;
    }
    const rate = right.map((r, i) => r / seen[i]);
    // Each running total is right with 0.95, 0.75, 0.45 (slips sometimes cancel): the whole
    // answer about 0.95, 0.58, 0.18.
    assert.ok(rate[0] > 0.92 && rate[1] > 0.5 && rate[1] < 0.66 && rate[2] > 0.12 && rate[2] < 0.25, `warm-up accuracy by tier ${rate}`);
    // Rambling (40% of answers, 1 to 7 " .") pushes about 15% past the 24 tokens.
    assert.ok(overrun / examples.length > 0.1 && overrun / examples.length < 0.22, `share past L_max ${overrun / examples.length}`);
  });

  test('it runs with its own limits on top of the built-in scale; an unknown built-in task is refused', () => {
    const config = resolveConfig({}, { dataset: CHAINS_DATASET });
    assert.deepEqual([config.maxResponseLen, config.overlongBuffer, config.steps, config.miniBatch, config.n], [24, 6, 400, 4, 8]);
    assert.equal(resolveConfig({}, {}).maxResponseLen, 16);
    assert.throws(
      () => resolveConfig({}, { dataset: 'builtin:nope' }),
      (e: Error) => e instanceof ConfigError && e.code === 'E_CONFIG' && /unknown built-in task 'builtin:nope'.*builtin:chains/.test(e.message),
    );
  });
});

describe('warm-up cache', () => {
  test("the second run copies the first run's warm model, byte for byte, instead of training", async () => {
    const task = makeChainTask({ seed });
    const options = { steps: 3, batch: 4, lr: 3e-3, seed };
    const entry = join(work, 'cache', warmupCacheKey(CHAINS_DATASET, 'builtin:tiny', seed, options));
    const first = await Policy.load('builtin:tiny', { device: 'cpu', seed });
    const made = await warmupTo(join(work, 'run1'), first, first.tokenizer!, task, options, entry);
    first.dispose();
    assert.equal(made.reused, false);
    assert.ok(Number.isFinite(made.loss));
    assert.ok(existsSync(join(entry, 'model.safetensors')));
    assert.deepEqual(readdirSync(join(work, 'cache')), [warmupCacheKey(CHAINS_DATASET, 'builtin:tiny', seed, options)], 'no temporary entry left');

    const second = await Policy.load('builtin:tiny', { device: 'cpu', seed: seed + 1 });
    const reused = await warmupTo(join(work, 'run2'), second, second.tokenizer!, task, options, entry);
    second.dispose();
    assert.equal(reused.reused, true);
    assert.ok(readFileSync(join(work, 'run2', 'model.safetensors')).equals(readFileSync(join(work, 'run1', 'model.safetensors'))));
    // Another seed is another entry.
    assert.notEqual(warmupCacheKey(CHAINS_DATASET, 'builtin:tiny', seed + 1, options), warmupCacheKey(CHAINS_DATASET, 'builtin:tiny', seed, options));
  });
});
