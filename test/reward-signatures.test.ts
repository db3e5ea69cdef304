// Reward modules written for verl (compute_score) and TRL (reward_funcs) load with --reward.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { loadPromptDataset } from '../src/data/index.js';
import { loadRewardModule, RewardError } from '../src/reward/index.js';
import { scoreResponse } from '../src/rollout/score.js';

const dir = mkdtempSync(join(tmpdir(), 'dapo-reward-sig-'));
const fixture = new URL('./fixtures/data/math17k-mini.parquet', import.meta.url).pathname;
after(() => rmSync(dir, { recursive: true, force: true }));

const sample = {
  answer: '4',
  messages: [{ role: 'user', content: 'What is 2+2?' }],
  row: { dataSource: 'math_dapo', sourceIndex: 7, extra_info: { index: 'abc' }, ability: 'MATH' },
};

before(() => {
  const files: Record<string, string> = {
    // verl: positional (data_source, solution_str, ground_truth, extra_info); records its arguments.
    'verl.mjs': `export const calls = [];
export function compute_score(data_source, solution_str, ground_truth, extra_info) {
  calls.push([data_source, solution_str, ground_truth, extra_info]);
  return solution_str.trim() === ground_truth ? 1.0 : 0.0;
}`,
    'verl-dict.py.mjs': `export async function compute_score(ds, s, gt) {
  const acc = s.includes(gt) ? 1.0 : 0.0;
  return { score: acc ? 1 : -1, acc, pred: s.slice(-1) };
}`,
    'verl-cjs.cjs': 'module.exports = { compute_score: (ds, s, gt, info) => (info.index === "abc" ? 2 : -2) };',
    // TRL: one object of lists, a list back; completions conversational.
    'trl.mjs': `export const seen = [];
export const reward_funcs = [
  ({ prompts, completions, answer, ground_truth, data_source, ability, index }) => {
    seen.push({ prompts, completions, answer, ground_truth, data_source, ability, index });
    return completions.map((c, i) => (c[0].content.includes(answer[i]) ? 1 : 0));
  },
  async ({ completions }) => completions.map((c) => (c[0].content.length > 10 ? null : 0.5)),
];
export const reward_weights = [2, 1];`,
    'trl-single.cjs': 'module.exports = { reward_funcs: ({ completions }) => completions.map(() => -1) };',
    'trl-bad-weights.mjs': 'export const reward_funcs = [() => [1]]; export const reward_weights = [1, 2];',
    'trl-bad-list.mjs': 'export const reward_funcs = [({ completions }) => [1, 2]];',
    'trl-all-null.mjs': 'export const reward_funcs = [() => [null]];',
  };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
});

describe("verl's compute_score(data_source, solution_str, ground_truth, extra_info)", () => {
  test('is called with the row, and its number or dict becomes { score, acc }', async () => {
    const fn = await loadRewardModule(join(dir, 'verl.mjs'));
    assert.deepEqual(await fn(' 4 ', sample), { score: 1, acc: true });
    assert.deepEqual(await fn('5', sample), { score: 0, acc: false });
    const mod = (await import(join(dir, 'verl.mjs'))) as { calls: unknown[][] };
    assert.deepEqual(mod.calls[0], ['math_dapo', ' 4 ', '4', { index: 'abc' }]);
    const dict = await loadRewardModule(join(dir, 'verl-dict.py.mjs'));
    assert.deepEqual(await dict('so 4', sample), { score: 1, acc: true, pred: '4' });
    assert.deepEqual(await dict('so 5', sample), { score: -1, acc: false, pred: '5' });
    const cjs = await loadRewardModule(join(dir, 'verl-cjs.cjs'));
    assert.deepEqual(await cjs('x', sample), { score: 2, acc: true });
  });

  test("gets the parquet row's data_source and extra_info through the trainer's scoring", async () => {
    const ds = await loadPromptDataset(fixture, { dedupe: true });
    const row = ds.rows[0];
    assert.equal(typeof (row.extra?.extra_info as { index?: unknown }).index, 'string', 'extra_info is loaded when the file has it');
    await scoreResponse(await loadRewardModule(join(dir, 'verl.mjs')), 'Answer: 1', row, 3, { overlongShaping: false, maxResponseLen: 8, overlongBuffer: 2, overlongPenalty: 1 });
    const mod = (await import(join(dir, 'verl.mjs'))) as { calls: unknown[][] };
    const last = mod.calls[mod.calls.length - 1];
    assert.deepEqual(last, [row.dataSource, 'Answer: 1', row.answer, row.extra!.extra_info]);
  });
});

describe("TRL's reward_funcs", () => {
  test('each function gets lists (prompts, conversational completions, columns); weighted sum, nulls skipped', async () => {
    const fn = await loadRewardModule(join(dir, 'trl.mjs'));
    // 2 * 1 + 1 * 0.5 (short completion)
    assert.deepEqual(await fn('4', sample), { score: 2.5, acc: true });
    // 2 * 1, the second returns null for a long completion
    assert.deepEqual(await fn('the answer is 4', sample), { score: 2, acc: true });
    assert.deepEqual(await fn('no', sample), { score: 0.5, acc: true });
    const mod = (await import(join(dir, 'trl.mjs'))) as { seen: Array<Record<string, unknown>> };
    assert.deepEqual(mod.seen[0], {
      prompts: [sample.messages],
      completions: [[{ role: 'assistant', content: '4' }]],
      answer: ['4'],
      ground_truth: ['4'],
      data_source: ['math_dapo'],
      ability: ['MATH'],
      index: [7],
    });
    const single = await loadRewardModule(join(dir, 'trl-single.cjs'));
    assert.deepEqual(await single('x', sample), { score: -1, acc: false });
  });

  test('malformed modules and results are RewardErrors naming the file', async () => {
    await assert.rejects(loadRewardModule(join(dir, 'trl-bad-weights.mjs')), (e: unknown) => {
      assert.ok(e instanceof RewardError);
      assert.equal(e.code, 'E_REWARD_NO_FUNCTION');
      assert.match(e.message, /trl-bad-weights\.mjs: reward_weights must be a list of 1 finite numbers/);
      return true;
    });
    const badList = await loadRewardModule(join(dir, 'trl-bad-list.mjs'));
    await assert.rejects(badList('x', sample), /trl-bad-list\.mjs.*reward_funcs\[0\] must return a list with one number per completion, got a list of 2/);
    const allNull = await loadRewardModule(join(dir, 'trl-all-null.mjs'));
    await assert.rejects(allNull('x', sample), /every reward function returned null/);
  });
});
