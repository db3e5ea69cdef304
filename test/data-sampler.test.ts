// Seeded order and the resumable cursor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PromptSampler, Rng, epochPermutation, DatasetError } from '../src/data/index.js';

test('Rng is deterministic and roughly uniform', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const xs = Array.from({ length: 5 }, () => a.nextU32());
  assert.deepEqual(xs, Array.from({ length: 5 }, () => b.nextU32()));
  assert.notDeepEqual(xs, Array.from({ length: 5 }, () => new Rng(43).nextU32()));
  // Pinned values: the order must not change between releases (checkpoints depend on it).
  assert.deepEqual(Array.from(epochPermutation(10, 1234, 0)), [9, 5, 1, 0, 6, 4, 7, 2, 3, 8]);
  assert.equal(new Rng(42).nextU32(), 1028872839);
  const counts = new Array(10).fill(0);
  const r = new Rng(7);
  for (let i = 0; i < 100_000; i++) counts[r.int(10)]++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, `bucket ${c}`);
  assert.throws(() => r.int(0), RangeError);
});

test('each epoch is a permutation; epochs differ; seeds differ', () => {
  const s = new PromptSampler(50, { seed: 3, epochs: 2 });
  const e0 = s.next(50);
  const e1 = s.next(50);
  assert.deepEqual([...e0].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual([...e1].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.notDeepEqual(e0, e1);
  assert.ok(s.done);
  assert.deepEqual(s.next(5), []);
  assert.notDeepEqual(new PromptSampler(50, { seed: 4 }).next(50), e0);
  assert.deepEqual(new PromptSampler(5, { shuffle: false }).next(7), [0, 1, 2, 3, 4, 0, 1]);
});

test('batches cross epoch boundaries; the last epoch ends short', () => {
  const s = new PromptSampler(10, { seed: 1, epochs: 2 });
  const sizes: number[] = [];
  while (!s.done) sizes.push(s.next(4).length);
  assert.deepEqual(sizes, [4, 4, 4, 4, 4]);
  const t = new PromptSampler(10, { seed: 1, epochs: 1 });
  t.next(8);
  assert.equal(t.next(4).length, 2);
});

test('resume from a cursor equals a straight run', () => {
  const straight = new PromptSampler(17, { seed: 9, epochs: 3 });
  const all: number[] = [];
  while (!straight.done) all.push(...straight.next(5));
  assert.equal(all.length, 51);

  const first = new PromptSampler(17, { seed: 9, epochs: 3 });
  const got = [...first.next(5), ...first.next(5), ...first.next(5), ...first.next(5)];
  const saved = JSON.parse(JSON.stringify(first.cursor));
  assert.deepEqual(saved, { epoch: 1, index: 3, seed: 9, size: 17, shuffle: true });
  const resumed = new PromptSampler(17, { seed: 9, epochs: 3 }, saved);
  while (!resumed.done) got.push(...resumed.next(5));
  assert.deepEqual(got, all);
});

test('a cursor from another dataset or seed is refused', () => {
  const cursor = new PromptSampler(10, { seed: 1 }).cursor;
  const err = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof DatasetError && e.code === 'E_DATA_BAD_CURSOR' && re.test(e.message));
  err(() => new PromptSampler(11, { seed: 1 }, cursor), /10 prompts, the dataset now has 11/);
  err(() => new PromptSampler(10, { seed: 2 }, cursor), /seed 1/);
  err(() => new PromptSampler(10, { seed: 1, shuffle: false }, cursor), /shuffle/);
  err(() => new PromptSampler(10, { seed: 1 }, { ...cursor, index: 10 }), /invalid position/);
  assert.throws(() => new PromptSampler(0), RangeError);
  assert.throws(() => new PromptSampler(3, { epochs: 0 }), RangeError);
});
