// Dynamic sampling: groups whose responses all agree are dropped, the batch refills from
// further generation batches, and the generation cap ends a step without a hang.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { PromptRow } from '../src/data/index.js';
import { GroupCollector, isInformative } from '../src/rollout/dynamic-sampling.js';
import type { Group, Rollout } from '../src/rollout/types.js';
import { Rng, testSeed } from './helpers/random.js';

const rng = new Rng(testSeed());

function group(id: number, correct: boolean[]): Group {
  const row: PromptRow = { id, sourceIndex: id, messages: [{ role: 'user', content: `q${id}` }], answer: '1' };
  const rollouts: Rollout[] = correct.map((acc) => ({
    response: Int32Array.from({ length: 1 + rng.int(5) }, () => rng.int(100)),
    sampleLogprobs: new Float32Array(0),
    finished: true,
    text: '',
    taskScore: acc ? 1 : -1,
    overlongPenalty: 0,
    reward: acc ? 1 : -1,
    acc,
  }));
  return { row, promptIds: Int32Array.from([id]), rollouts };
}

const randomGroup = (id: number, g: number) => group(id, Array.from({ length: g }, () => rng.next() < 0.5));

describe('isInformative', () => {
  test('all right or all wrong is dropped; mixed is kept', () => {
    assert.equal(isInformative(group(0, [true, true, true])), false);
    assert.equal(isInformative(group(1, [false, false, false])), false);
    assert.equal(isInformative(group(2, [false, true, false])), true);
  });

  test('filters on correctness, not on the shaped reward', () => {
    const g = group(3, [true, true]);
    g.rollouts[1].reward = 0.25; // an overlong penalty makes rewards differ, but both are right
    assert.equal(isInformative(g), false);
  });
});

describe('GroupCollector', () => {
  test('keeps exactly the informative groups, counts what it dropped, and fills to the target', () => {
    const c = new GroupCollector(5, true);
    let generated = 0;
    let batches = 0;
    while (!c.full && batches < 100) {
      const groups = Array.from({ length: 4 }, () => randomGroup(generated++, 4));
      c.add(groups);
      batches++;
    }
    const { batch, surplus } = c.take();
    assert.equal(batch.length, 5);
    assert.ok(batch.every(isInformative));
    assert.equal(c.stats.generatedGroups, generated);
    assert.equal(c.stats.keptGroups + c.stats.droppedAllCorrect + c.stats.droppedAllWrong, generated);
    assert.equal(batch.length + surplus.length, c.stats.keptGroups);
    assert.ok(Math.abs(c.resampleRate - (generated - c.stats.keptGroups) / generated) < 1e-12);
  });

  test('carried groups count toward the target first', () => {
    const carried = [group(100, [true, false]), group(101, [false, true])];
    const c = new GroupCollector(3, true, carried);
    c.add([group(1, [true, true]), group(2, [true, false]), group(3, [false, true])]);
    const { batch, surplus } = c.take();
    assert.deepEqual(batch.map((g) => g.row.id), [100, 101, 2]);
    assert.deepEqual(surplus.map((g) => g.row.id), [3]);
  });

  test('with filtering off every group is kept', () => {
    const c = new GroupCollector(2, false);
    c.add([group(1, [true, true]), group(2, [false, false])]);
    assert.equal(c.take().batch.length, 2);
    assert.equal(c.resampleRate, 0);
  });

  test('all-equal groups are counted with filtering on or off (the share dynamic sampling acts on)', () => {
    for (const filter of [true, false]) {
      const c = new GroupCollector(10, filter);
      c.add([group(1, [true, true]), group(2, [false, false]), group(3, [true, false]), group(4, [false, false])]);
      assert.deepEqual([c.stats.allCorrect, c.stats.allWrong], [1, 2]);
      assert.equal(c.allEqualRate, 3 / 4);
      assert.equal(c.resampleRate, filter ? 3 / 4 : 0);
    }
  });

  test('when nothing is informative the collector never fills (the trainer caps the batches)', () => {
    const c = new GroupCollector(2, true);
    for (let i = 0; i < 10; i++) c.add([group(i, [false, false, false])]);
    assert.equal(c.full, false);
    assert.equal(c.take().batch.length, 0);
    assert.equal(c.resampleRate, 1);
  });
});
