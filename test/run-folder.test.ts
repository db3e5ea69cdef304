// Run folders, checkpoints and rewards without silent damage (issue #13), at the level of the
// functions the trainer calls: no training here (test/train-robust.test.ts runs the trainer).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { wrapRewardFunction, RewardError } from '../src/reward/index.js';
import { CheckpointError, pruneCheckpoints, readTrainerState } from '../src/train/checkpoint.js';
import { resolveConfig, BUILTIN_DATASET } from '../src/train/config.js';
import { chooseRunFolder, removeStaleTemporaries, resumeCommand, RunFolderError, RUN_FILES } from '../src/train/run-folder.js';
import { setAsideLaterProgress } from '../src/train/set-aside.js';
import { setupRun } from '../src/train/setup.js';

const work = mkdtempSync(join(tmpdir(), 'dapo-run-folder-'));
after(() => rmSync(work, { recursive: true, force: true }));
let made = 0;

/** A folder holding a run (config, metrics, checkpoints 1..3, final) plus a file of the user's. */
function runFolder(): string {
  const dir = join(work, `run-${made++}`);
  for (const step of [1, 2, 3]) {
    mkdirSync(join(dir, 'checkpoints', `step-${step}`), { recursive: true });
    writeFileSync(join(dir, 'checkpoints', `step-${step}`, 'trainer-state.json'), '{}');
  }
  mkdirSync(join(dir, 'final'));
  writeFileSync(join(dir, 'config.json'), '{}');
  writeFileSync(join(dir, 'metrics.jsonl'), '{"step":0}\n{"step":1}\n');
  writeFileSync(join(dir, 'notes.txt'), 'mine');
  return dir;
}

const defaultOut = () => join(work, 'default');

describe('the folder a run writes into', () => {
  test('a new run into a folder that holds one is refused, naming --resume and --overwrite', () => {
    const dir = runFolder();
    assert.throws(
      () => chooseRunFolder({ out: dir, resume: undefined, overwrite: false, defaultOut }),
      (e: RunFolderError) => e.code === 'E_RUN_EXISTS' && e.message.includes(`--resume ${dir}`) && e.message.includes('--overwrite'),
    );
    assert.ok(existsSync(join(dir, 'checkpoints', 'step-3')), 'nothing was touched');
  });

  test('--overwrite removes the old run, and only what a run writes', () => {
    const dir = runFolder();
    assert.equal(chooseRunFolder({ out: dir, resume: undefined, overwrite: true, defaultOut }), dir);
    for (const f of RUN_FILES) assert.ok(!existsSync(join(dir, f)), `${f} removed`);
    assert.deepEqual(readdirSync(dir), ['notes.txt']);
  });

  test('a resume writes into the run folder of the checkpoint given, whatever config.json says', () => {
    const dir = runFolder();
    assert.equal(chooseRunFolder({ out: undefined, resume: join(dir, 'checkpoints', 'step-2'), overwrite: false, defaultOut }), dir);
    assert.equal(chooseRunFolder({ out: undefined, resume: dir, overwrite: false, defaultOut }), dir);
    assert.equal(chooseRunFolder({ out: dir, resume: join(dir, 'checkpoints', 'step-2'), overwrite: false, defaultOut }), dir);
  });

  test('a resume into another folder that holds a run is refused; into a new folder it is a new run', () => {
    const a = runFolder(), b = runFolder();
    assert.throws(() => chooseRunFolder({ out: b, resume: join(a, 'checkpoints', 'step-2'), overwrite: false, defaultOut }), (e: RunFolderError) => e.code === 'E_RUN_EXISTS');
    const fresh = join(work, 'fresh');
    assert.equal(chooseRunFolder({ out: fresh, resume: join(a, 'checkpoints', 'step-2'), overwrite: false, defaultOut }), fresh);
    assert.throws(() => chooseRunFolder({ out: undefined, resume: a, overwrite: true, defaultOut }), /cannot be combined with --resume/);
  });

  test('a checkpoint outside a run folder needs --out', () => {
    const loose = join(work, 'loose-checkpoint');
    mkdirSync(loose, { recursive: true });
    writeFileSync(join(loose, 'trainer-state.json'), '{}');
    assert.throws(() => chooseRunFolder({ out: undefined, resume: loose, overwrite: false, defaultOut }), (e: RunFolderError) => e.code === 'E_RUN_FOLDER' && /give --out/.test(e.message));
  });
});

describe('a resume from an earlier checkpoint', () => {
  test('moves the later checkpoints and final/ aside; nothing after the step, nothing moved', () => {
    const dir = runFolder();
    const moved = setAsideLaterProgress(dir, 1, new Date('2026-11-27T10:00:00Z'));
    assert.equal(moved, join(dir, 'abandoned', 'after-step-1-2026-11-27T10-00-00-000Z'));
    assert.deepEqual(readdirSync(join(dir, 'checkpoints')), ['step-1']);
    assert.deepEqual(readdirSync(join(moved!, 'checkpoints')).sort(), ['step-2', 'step-3']);
    assert.ok(existsSync(join(moved!, 'final')) && !existsSync(join(dir, 'final')));
    assert.ok(existsSync(join(moved!, 'metrics.jsonl')) && existsSync(join(moved!, 'config.json')));
    assert.ok(existsSync(join(dir, 'metrics.jsonl')), 'copied, not moved: the resume truncates its own');

    // A finished run continued from its last checkpoint: final/ was saved at that step and stays.
    const finished = runFolder();
    writeFileSync(join(finished, 'metrics.jsonl'), '{"step":1}\n{"step":2}\n{"step":3}\n');
    assert.equal(setAsideLaterProgress(finished, 3), undefined);
    assert.ok(existsSync(join(finished, 'final')));
    // ... unless it had trained past the checkpoint (saved every 3 steps, finished at 4).
    writeFileSync(join(finished, 'metrics.jsonl'), '{"step":3}\n{"step":4}\n');
    const past = setAsideLaterProgress(finished, 3);
    assert.ok(past && existsSync(join(past, 'final')) && !existsSync(join(finished, 'final')));
  });
});

describe('temporaries of killed writes and old checkpoints', () => {
  test('temporaries whose writer is gone are removed; a live writer\'s and the user\'s files stay', () => {
    const dir = runFolder();
    const dead = 2 ** 22 + 12345;  // above the kernel's pid_max default: no such process
    const stale = [`.final.tmp-${dead}-1700000000000`, `.final.tmp-${dead}-1700000000000.old`, `config.json.tmp-${dead}`, `metrics.jsonl.tmp-${dead}`];
    for (const name of stale) mkdirSync(join(dir, name));
    mkdirSync(join(dir, 'checkpoints', `.step-4.tmp-${dead}`));
    mkdirSync(join(dir, 'checkpoints', `.step-5.tmp-${process.pid}`));
    writeFileSync(join(dir, `notes.tmp-${dead}`), 'mine');
    const removed = removeStaleTemporaries(dir).map((p) => p.slice(dir.length + 1)).sort();
    assert.deepEqual(removed, [...stale, `checkpoints/.step-4.tmp-${dead}`].sort());
    assert.ok(existsSync(join(dir, 'checkpoints', `.step-5.tmp-${process.pid}`)));
    assert.ok(existsSync(join(dir, `notes.tmp-${dead}`)));
  });

  test('--save-limit keeps the newest checkpoints', () => {
    const dir = runFolder();
    mkdirSync(join(dir, 'checkpoints', 'step-10'));
    assert.deepEqual(pruneCheckpoints(dir, 2), [1, 2]);
    assert.deepEqual(readdirSync(join(dir, 'checkpoints')).sort(), ['step-10', 'step-3']);
    assert.deepEqual(pruneCheckpoints(dir, 0), []);
  });
});

describe('a damaged trainer-state.json names the file and the field', () => {
  const good = { step: 2, optimizerSteps: 4, cursor: { epoch: 0, index: 3, seed: 5, size: 9, shuffle: true }, surplus: [], startModel: '/m' };
  const cases: Array<[string, unknown, string, RegExp]> = [
    ['an empty object', {}, 'step', /step must be a non-negative integer, got undefined/],
    ['a step that is not a number', { ...good, step: 'two' }, 'step', /step must be a non-negative integer, got "two"/],
    ['no cursor', { ...good, cursor: undefined }, 'cursor', /cursor must be an object/],
    ['a negative cursor index', { ...good, cursor: { ...good.cursor, index: -1 } }, 'cursor.index', /cursor\.index must be a non-negative integer, got -1/],
    ['surplus not an array', { ...good, surplus: 3 }, 'surplus', /surplus must be an array/],
    ['a surplus group without rollouts', { ...good, surplus: [{ rowId: 1, promptIds: [] }] }, 'surplus[0]', /surplus\[0\] must be a group/],
    ['no start model', { ...good, startModel: '' }, 'startModel', /startModel must be/],
  ];
  for (const [name, state, field, pattern] of cases) {
    test(name, () => {
      const dir = join(work, `state-${made++}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'trainer-state.json'), JSON.stringify(state));
      assert.throws(
        () => readTrainerState(dir),
        (e: CheckpointError) => e.code === 'E_CHECKPOINT' && e.field === field && e.file === join(dir, 'trainer-state.json') && pattern.test(e.message) && e.message.startsWith(e.file!),
      );
    });
  }
  test('a good one reads back', () => {
    const dir = join(work, `state-${made++}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'trainer-state.json'), JSON.stringify(good));
    assert.deepEqual(readTrainerState(dir), good);
  });
});

describe('the resume command printed when a run stops on a signal', () => {
  test('is this process\'s own command line with train --resume DIR, quoted for a shell', () => {
    const saved = process.env.npm_lifecycle_event;
    delete process.env.npm_lifecycle_event;
    try {
      const cmd = resumeCommand("/tmp/my runs/it's");
      assert.ok(cmd.startsWith(process.execPath), cmd);
      assert.ok(cmd.includes(process.argv[1]), cmd);
      assert.ok(cmd.endsWith(` train --resume '/tmp/my runs/it'\\''s'`), cmd);
    } finally {
      if (saved !== undefined) process.env.npm_lifecycle_event = saved;
    }
  });
});

describe('reward modules: a time limit per call', () => {
  const sample = { answer: '1' };
  const timedOut = (e: RewardError) => e.code === 'E_REWARD_TIMEOUT' && /x\.mjs: reward function did not (settle|return) within 0\.2 s \(--reward-timeout\)/.test(e.message);

  test('a promise that never settles is E_REWARD_TIMEOUT, soon after the limit', async () => {
    const started = Date.now();
    await assert.rejects(wrapRewardFunction(() => new Promise(() => {}), 'x.mjs', { timeoutSeconds: 0.2 })('r', sample), timedOut);
    assert.ok(Date.now() - started < 5000);
  });

  test('a slow synchronous function fails when it returns late', async () => {
    const slow = () => {
      const until = Date.now() + 300;
      while (Date.now() < until);
      return 1;
    };
    await assert.rejects(wrapRewardFunction(slow, 'x.mjs', { timeoutSeconds: 0.2 })('r', sample), timedOut);
  });

  test('calls within the limit, and any call with the limit off (0), return their score', async () => {
    const later = () => new Promise((r) => setTimeout(() => r(0.5), 50));
    assert.deepEqual(await wrapRewardFunction(later, 'x.mjs', { timeoutSeconds: 0.2 })('r', sample), { score: 0.5, acc: true });
    assert.deepEqual(await wrapRewardFunction(later, 'x.mjs', { timeoutSeconds: 0 })('r', sample), { score: 0.5, acc: true });
  });
});

describe('the training options this adds', () => {
  test('rewardTimeout and saveLimit resolve and are checked; temperatures are bounded', () => {
    const c = resolveConfig({}, { rewardTimeout: 5, saveLimit: 3 });
    assert.equal(c.rewardTimeout, 5);
    assert.equal(c.saveLimit, 3);
    assert.equal(resolveConfig({}, {}).rewardTimeout, 60);
    assert.throws(() => resolveConfig({}, { saveLimit: 1.5 }), /saveLimit must be an integer/);
    assert.throws(() => resolveConfig({}, { rewardTimeout: -1 }), /rewardTimeout must be >= 0/);
    assert.throws(() => resolveConfig({}, { temperature: 0.005 }), /temperature must be >= 0.01/);
    assert.throws(() => resolveConfig({}, { valTemperature: 0.001 }), /valTemperature must be 0 \(greedy\) or >= 0.01/);
    assert.equal(resolveConfig({}, { valTemperature: 0 }).valTemperature, 0);
  });

  test('--reward with the built-in task is the reward used', async () => {
    const module = join(work, 'marker-reward.mjs');
    writeFileSync(module, 'export default () => ({ score: 0.123, acc: true });\n');
    const run = await setupRun(resolveConfig({}, { dataset: BUILTIN_DATASET, reward: module }));
    try {
      assert.deepEqual(await run.reward('Answer: 3', { answer: '3' }), { score: 0.123, acc: true });
      assert.ok(run.notes.some((n) => n.includes(module)), run.notes.join('\n'));
    } finally {
      run.policy.dispose();
    }
  });
});
