// The trainer without silent damage to a user's runs (issue #13): a resume writes into the run
// folder it resumes, a new run does not land on an old one, damaged state is a named error, a
// reward that never answers stops the run with a message, and Ctrl-C or SIGTERM during the
// supervised warm-up stop it cleanly. (Signals during the DAPO steps: test/train-e2e.test.ts.)
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { findCheckpoint } from '../src/train/checkpoint.js';
import { resolveConfig, type TrainConfig } from '../src/train/config.js';
import { readMetrics } from '../src/train/plot.js';
import { train } from '../src/train/trainer.js';
import { makeTinyQwen3 } from '../scripts/make-tiny-qwen3.js';

const work = mkdtempSync(join(tmpdir(), 'dapo-train-robust-'));
const fixture = fileURLToPath(new URL('./fixtures/data/math17k-mini.parquet', import.meta.url));
const cli = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const modelDir = join(work, 'tiny-qwen3');
const rewardModule = join(work, 'parity-reward.mjs');
const quiet = () => {};

before(async () => {
  await makeTinyQwen3(modelDir, 7);
  writeFileSync(rewardModule, 'export default (response) => { const acc = [...response].length % 2 === 0; return { score: acc ? 1 : -1, acc }; };\n');
});
after(() => rmSync(work, { recursive: true, force: true }));

function config(out: string | undefined, extra: Partial<TrainConfig> = {}): TrainConfig {
  return resolveConfig({}, {
    model: modelDir, dataset: fixture, dedupe: true, reward: rewardModule, out, seed: 11, steps: 3, n: 4, trainBatch: 2, genBatch: 3,
    maxGenBatches: 2, maxResponseLen: 8, overlongBuffer: 4, miniBatch: 1, microBatch: 4, lr: 1e-3, warmup: 1, evalEvery: 0,
    saveEvery: 1, plotEvery: 0, ...extra,
  });
}

const runCli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', cli, 'train', ...args], { encoding: 'utf8', timeout: 240_000 });

/** What must not change in a run folder that another command should leave alone. */
function fingerprint(dir: string) {
  return {
    metrics: readFileSync(join(dir, 'metrics.jsonl'), 'utf8'),
    config: readFileSync(join(dir, 'config.json'), 'utf8'),
    checkpoints: readdirSync(join(dir, 'checkpoints')).sort(),
    final: statSync(join(dir, 'final', 'model.safetensors')).mtimeMs,
    finalHash: createHash('sha256').update(readFileSync(join(dir, 'final', 'model.safetensors'))).digest('hex'),
  };
}

describe('run folders', { timeout: 600_000 }, () => {
  const original = join(work, 'A');

  before(async () => {
    await train(config(original), { log: quiet });
  });

  test('train --resume B, where B is a copy of run A, writes into B and leaves A untouched', () => {
    const copy = join(work, 'B');
    cpSync(original, copy, { recursive: true });
    const before = fingerprint(original);
    const finalBefore = statSync(join(copy, 'final', 'model.safetensors')).mtimeMs;
    const result = runCli(['--resume', join(copy, 'checkpoints', 'step-2')]);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(fingerprint(original), before, 'run A was not written to');
    assert.deepEqual(readMetrics(join(copy, 'metrics.jsonl')).map((r) => r.step), [1, 2, 3]);
    assert.ok(statSync(join(copy, 'final', 'model.safetensors')).mtimeMs > finalBefore, "B's final/ was rewritten");
    assert.equal(JSON.parse(readFileSync(join(copy, 'config.json'), 'utf8')).out, copy);
  });

  test('a new run into a folder that holds one is refused; with --overwrite it starts clean', async () => {
    const dir = join(work, 'C');
    cpSync(original, dir, { recursive: true });
    const before = fingerprint(dir);
    const refused = runCli(['--out', dir, '--model', modelDir, '--dataset', fixture, '--reward', rewardModule, '--steps', '1']);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, new RegExp(`already holds a run\\. Continue it with --resume ${dir}.*--overwrite.*\\(E_RUN_EXISTS\\)`));
    assert.deepEqual(fingerprint(dir), before, 'the refused run wrote nothing');

    await train(config(dir, { steps: 1, saveEvery: 0 }), { overwrite: true, log: quiet });
    assert.deepEqual(readMetrics(join(dir, 'metrics.jsonl')).map((r) => r.step), [1], 'only the new run\'s rows');
    assert.ok(!existsSync(join(dir, 'checkpoints')), 'the old checkpoints are gone, so a later --resume cannot pick them up');
  });

  test('--save-limit keeps the newest checkpoints of a live run', async () => {
    const dir = join(work, 'S');
    cpSync(original, dir, { recursive: true });
    await train(config(undefined, { saveLimit: 2, steps: 4 }), { resume: join(dir, 'checkpoints', 'step-2'), log: quiet });
    assert.deepEqual(readdirSync(join(dir, 'checkpoints')).sort(), ['step-3', 'step-4']);
  });

  test('resuming from an earlier checkpoint moves the later ones and final/ aside, so the next --resume continues the new branch', async () => {
    const dir = join(work, 'R');
    cpSync(original, dir, { recursive: true });
    const finalHash = fingerprint(dir).finalHash;
    const lines: string[] = [];
    await train(config(undefined, { steps: 2, saveEvery: 0 }), { resume: join(dir, 'checkpoints', 'step-1'), log: (l) => lines.push(l) });
    assert.deepEqual(readdirSync(join(dir, 'checkpoints')), ['step-1'], 'no checkpoint of the old branch is left to be resumed');
    assert.equal(findCheckpoint(dir), join(dir, 'checkpoints', 'step-1'));
    const [aside] = readdirSync(join(dir, 'abandoned'));
    assert.match(aside, /^after-step-1-/);
    const moved = join(dir, 'abandoned', aside);
    assert.ok(lines.some((l) => l.includes(`moved to ${moved}`)), lines.join('\n'));
    assert.deepEqual(readdirSync(join(moved, 'checkpoints')).sort(), ['step-2', 'step-3']);
    assert.equal(createHash('sha256').update(readFileSync(join(moved, 'final', 'model.safetensors'))).digest('hex'), finalHash, "the old final/ is kept");
    assert.deepEqual(readMetrics(join(moved, 'metrics.jsonl')).map((r) => r.step), [1, 2, 3], "the old branch's metrics are kept");
    assert.deepEqual(readMetrics(join(dir, 'metrics.jsonl')).map((r) => r.step), [1, 2]);
    assert.ok(existsSync(join(dir, 'final', 'model.safetensors')), 'the new branch finished into final/');
  });

  test('a damaged trainer-state.json is refused on resume, naming the file and the field', async () => {
    const dir = join(work, 'D');
    cpSync(original, dir, { recursive: true });
    const state = join(dir, 'checkpoints', 'step-3', 'trainer-state.json');
    writeFileSync(state, JSON.stringify({ ...JSON.parse(readFileSync(state, 'utf8')), cursor: undefined }));
    await assert.rejects(train(config(undefined), { resume: dir, log: quiet }), (e: Error & { code?: string; field?: string }) =>
      e.code === 'E_CHECKPOINT' && e.field === 'cursor' && e.message.startsWith(state),
    );
  });

  test('a run that stopped before its first step is started over by --resume, in its folder', async () => {
    const dir = join(work, 'E');
    await train(config(dir, { steps: 1, saveEvery: 0 }), { log: quiet });
    // What a stop during the warm-up leaves: the run's config and a start-of-run row, no checkpoint.
    rmSync(join(dir, 'final'), { recursive: true });
    writeFileSync(join(dir, 'metrics.jsonl'), '{"step":0,"val/acc":0}\n');
    const summary = await train(config(undefined, { steps: 1, saveEvery: 0 }), { resume: dir, log: quiet });
    assert.equal(summary.outDir, dir);
    assert.deepEqual(readMetrics(join(dir, 'metrics.jsonl')).map((r) => r.step), [1]);
  });
});

describe('a reward module that never answers', { timeout: 300_000 }, () => {
  test('stops the run with E_REWARD_TIMEOUT and a message, not exit 13 in silence', () => {
    const never = join(work, 'never.mjs');
    writeFileSync(never, 'export default () => new Promise(() => {});\n');
    const result = runCli(['--out', join(work, 'never'), '--model', modelDir, '--dataset', fixture, '--reward', never, '--reward-timeout', '0.5',
      '--steps', '1', '--n', '2', '--train-batch', '1', '--gen-batch', '1', '--max-response-len', '4', '--overlong-buffer', '2', '--mini-batch', '1']);
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /never\.mjs: reward function did not settle within 0\.5 s \(--reward-timeout\).*\(E_REWARD_TIMEOUT\)/);
  });
});

describe('Ctrl-C and SIGTERM during the supervised warm-up', { timeout: 300_000 }, () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test(`${signal}: the warm-up stops, the process exits cleanly and prints the command that resumes`, async () => {
      const out = join(work, `warmup-${signal}`);
      const child = spawn(process.execPath, ['--import', 'tsx', cli, 'train', '--out', out, '--steps', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      const deadline = Date.now() + 120_000;
      // The built-in task's note comes right before the warm-up starts.
      while (!/built-in task:/.test(output) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 500));
      child.kill(signal);
      const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      assert.equal(code, 0, output);
      assert.match(output, new RegExp(`stopped by ${signal} during the supervised warm-up`));
      const resume = /dapo: resume +(.*)/.exec(output);
      assert.ok(resume && resume[1].endsWith(`train --resume ${out}`), output);
      assert.ok(existsSync(join(out, 'config.json')) && !existsSync(join(out, 'checkpoints')), 'the run folder, with nothing to resume from yet');
    });
  }
});
