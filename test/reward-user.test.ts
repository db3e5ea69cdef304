// User reward modules: loading, sync and async functions, and the errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRewardModule, resolveReward, RewardError, coerceRewardOutput } from '../src/reward/index.js';

let dir = '';
const sample = { answer: '4', messages: [{ role: 'user', content: '2+2?' }] };

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'dapo-reward-'));
  const files: Record<string, string> = {
    'sync.mjs': 'export default (response, sample) => (response.trim() === sample.answer ? 1 : 0);',
    'async.mjs': 'export default async (response, sample) => ({ score: response.includes(sample.answer) ? 2 : -1, acc: response.includes(sample.answer) });',
    'named.mjs': 'export function reward(response) { return response.length; }',
    'cjs.cjs': 'module.exports = { reward: (r) => ({ score: 0.5 }) };',
    'cjsfn.cjs': 'module.exports = (r) => -0.25;',
    'nofn.mjs': 'export const score = 3; export const name = "x";',
    'throws.mjs': 'export default () => { throw new Error("kaboom"); };',
    'rejects.mjs': 'export default async () => { throw new Error("async kaboom"); };',
    'string.mjs': 'export default () => "1";',
    'nan.mjs': 'export default () => ({ score: NaN });',
    'badacc.mjs': 'export default () => ({ score: 1, acc: "yes" });',
    'syntax.mjs': 'export default (r => ;',
  };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
  mkdirSync(join(dir, 'adir'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('sync and async functions, numbers and objects', async () => {
  const sync = await loadRewardModule(join(dir, 'sync.mjs'));
  assert.deepEqual(await sync(' 4 ', sample), { score: 1, acc: true });
  assert.deepEqual(await sync('5', sample), { score: 0, acc: false });
  const asyncFn = await loadRewardModule(join(dir, 'async.mjs'));
  assert.deepEqual(await asyncFn('it is 4', sample), { score: 2, acc: true });
  const named = await loadRewardModule(join(dir, 'named.mjs'));
  assert.deepEqual(await named('abc', sample), { score: 3, acc: true });
  const cjs = await loadRewardModule(join(dir, 'cjs.cjs'));
  assert.deepEqual(await cjs('x', sample), { score: 0.5, acc: true });
  const cjsfn = await loadRewardModule(join(dir, 'cjsfn.cjs'));
  assert.deepEqual(await cjsfn('x', sample), { score: -0.25, acc: false });
});

test('errors have codes and name the file', async () => {
  const expectCode = async (p: Promise<unknown>, code: string, re: RegExp) => {
    await assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof RewardError, `expected RewardError, got ${String(err)}`);
      assert.equal(err.code, code);
      assert.match(err.message, re);
      return true;
    });
  };
  await expectCode(loadRewardModule(join(dir, 'missing.mjs')), 'E_REWARD_NOT_FOUND', /missing\.mjs/);
  await expectCode(loadRewardModule(join(dir, 'adir')), 'E_REWARD_NOT_FOUND', /not a file/);
  await expectCode(loadRewardModule(join(dir, 'nofn.mjs')), 'E_REWARD_NO_FUNCTION', /nofn\.mjs.*name \(string\), score \(number\)/);
  await expectCode(loadRewardModule(join(dir, 'syntax.mjs')), 'E_REWARD_IMPORT', /could not import .*syntax\.mjs/);
  const throws = await loadRewardModule(join(dir, 'throws.mjs'));
  await expectCode(throws('x', sample), 'E_REWARD_THREW', /throws\.mjs.*kaboom/);
  const rejects = await loadRewardModule(join(dir, 'rejects.mjs'));
  await expectCode(rejects('x', sample), 'E_REWARD_THREW', /async kaboom/);
  const str = await loadRewardModule(join(dir, 'string.mjs'));
  await expectCode(str('x', sample), 'E_REWARD_BAD_RESULT', /string\.mjs.*returned string/);
  const nan = await loadRewardModule(join(dir, 'nan.mjs'));
  await expectCode(nan('x', sample), 'E_REWARD_BAD_RESULT', /NaN/);
  const badacc = await loadRewardModule(join(dir, 'badacc.mjs'));
  await expectCode(badacc('x', sample), 'E_REWARD_BAD_RESULT', /acc of type string/);
});

test('coerceRewardOutput', () => {
  assert.deepEqual(coerceRewardOutput(true), { score: 1, acc: true });
  assert.deepEqual(coerceRewardOutput({ score: -1, acc: false, pred: 7 }), { score: -1, acc: false, pred: '7' });
  assert.throws(() => coerceRewardOutput(null), /returned null/);
  assert.throws(() => coerceRewardOutput([1]), /returned an array/);
});

test('resolveReward: built-ins and paths', async () => {
  const math = await resolveReward('dapo-math');
  assert.deepEqual(await math('so\nAnswer: 4', sample), { score: 1, acc: true, pred: '4' });
  const boxed = await resolveReward('boxed');
  assert.deepEqual(await boxed('\\boxed{4}', sample), { score: 1, acc: true, pred: '4' });
  const user = await resolveReward(join(dir, 'sync.mjs'));
  assert.equal((await user('4', sample)).score, 1);
});
