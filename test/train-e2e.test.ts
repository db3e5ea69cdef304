// The trainer end to end on a DAPO-Math-17k-schema parquet file, a tiny random Qwen3 model and
// the real Qwen3 tokenizer: metrics are written, checkpoints load, and a resumed run equals a
// straight one.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Policy } from '../src/policy/index.js';
import { resolveConfig, type TrainConfig } from '../src/train/config.js';
import { readMetrics } from '../src/train/plot.js';
import { train } from '../src/train/trainer.js';
import { makeTinyQwen3 } from '../scripts/make-tiny-qwen3.js';

const work = mkdtempSync(join(tmpdir(), 'dapo-e2e-'));
const fixture = fileURLToPath(new URL('./fixtures/data/math17k-mini.parquet', import.meta.url));
const modelDir = join(work, 'tiny-qwen3');
// A reward that splits every group: correctness from the parity of the response's characters,
// so dynamic sampling keeps groups and the update path runs on a random model.
const rewardModule = join(work, 'parity-reward.mjs');
const quiet = () => {};

const neverRight = join(work, 'never-right.mjs');

before(async () => {
  await makeTinyQwen3(modelDir, 3);
  writeFileSync(rewardModule, 'export default (response) => { const acc = [...response].length % 2 === 0; return { score: acc ? 1 : -1, acc }; };\n');
  writeFileSync(neverRight, 'export default () => -1;\n');
});
after(() => rmSync(work, { recursive: true, force: true }));

function config(out: string, extra: Partial<TrainConfig> = {}): TrainConfig {
  return resolveConfig(
    {},
    {
      model: modelDir,
      dataset: fixture,
      valDataset: fixture,
      valLimit: 2,
      valSamples: 2,
      dedupe: true,
      reward: rewardModule,
      out,
      seed: 5,
      steps: 4,
      n: 4,
      trainBatch: 2,
      genBatch: 3,
      maxGenBatches: 2,
      maxResponseLen: 10,
      overlongBuffer: 4,
      miniBatch: 1,
      microBatch: 3,
      lr: 1e-3,
      warmup: 1,
      evalEvery: 2,
      saveEvery: 2,
      plotEvery: 0,
      ...extra,
    },
  );
}

const TIMING = /^(time|perf)\//;
const withoutTiming = (row: Record<string, number>) => Object.fromEntries(Object.entries(row).filter(([k]) => !TIMING.test(k)));

describe('train on a DAPO-Math-17k parquet with a tiny Qwen3 model', { timeout: 300_000 }, () => {
  const straight = join(work, 'straight');

  test('a straight run writes metrics, checkpoints, a picture and a final model', async () => {
    const summary = await train(config(straight), { log: quiet });
    assert.equal(summary.steps, 4);
    const rows = readMetrics(join(straight, 'metrics.jsonl'));
    assert.deepEqual(rows.map((r) => r.step), [0, 1, 2, 3, 4]);
    for (const key of [
      'train/reward_mean', 'train/acc_mean', 'train/kept_groups', 'train/num_gen_batches', 'train/resample_rate',
      'actor/pg_loss', 'actor/entropy', 'actor/clipfrac_low', 'actor/clipfrac_high', 'actor/approx_kl', 'actor/grad_norm',
      'actor/lr', 'response_length/mean', 'response_length/clip_ratio', 'perf/tokens_per_s', 'time/step_s',
    ])
      for (const row of rows.slice(1)) assert.ok(Number.isFinite(row[key]), `step ${row.step}: ${key} = ${row[key]}`);
    assert.ok(rows[1]['train/kept_groups'] > 0, 'groups were kept and trained on');
    assert.ok(rows[2]['val/acc'] !== undefined && rows[4]['val/pass@k'] !== undefined, 'validation at steps 2 and 4');
    assert.ok(readFileSync(summary.plot!).subarray(1, 4).toString() === 'PNG');
    const reloaded = await Policy.load(summary.finalModel!);
    assert.equal(reloaded.config.modelType, 'qwen3');
    reloaded.dispose();
    const checkpoint = await Policy.load(join(straight, 'checkpoints', 'step-2', 'model'));
    checkpoint.dispose();
  });

  test('resuming from step 2 continues exactly as the straight run', async () => {
    const resumed = join(work, 'resumed');
    await train(config(resumed), { resume: straight.replace(/$/, '/checkpoints/step-2'), log: quiet });
    const a = readMetrics(join(straight, 'metrics.jsonl')).filter((r) => r.step > 2).map(withoutTiming);
    const b = readMetrics(join(resumed, 'metrics.jsonl')).map(withoutTiming);
    assert.deepEqual(b, a);
    assert.ok(readFileSync(join(resumed, 'final', 'model.safetensors')).equals(readFileSync(join(straight, 'final', 'model.safetensors'))), 'final weights are bit-identical');
  });
});

describe('surplus groups carried to the next step', { timeout: 300_000 }, () => {
  test('are used first, survive a checkpoint, and a resumed run still equals a straight one', async () => {
    const extra = { keepSurplus: true, trainBatch: 1, miniBatch: 1, genBatch: 4, steps: 4, epochs: 10, evalEvery: 0, valDataset: undefined };
    const straight = join(work, 'surplus');
    await train(config(straight, extra), { log: quiet });
    const rows = readMetrics(join(straight, 'metrics.jsonl'));
    // A step that starts with carried groups generates fewer (or no) new ones.
    assert.ok(rows.some((r) => r['train/num_gen_batches'] === 0), `generation batches per step: ${rows.map((r) => r['train/num_gen_batches'])}`);
    const state = JSON.parse(readFileSync(join(straight, 'checkpoints', 'step-2', 'trainer-state.json'), 'utf8'));
    assert.ok(state.surplus.length > 0, 'the checkpoint holds the carried groups');
    const resumed = join(work, 'surplus-resumed');
    await train(config(resumed, extra), { resume: join(straight, 'checkpoints', 'step-2'), log: quiet });
    assert.deepEqual(readMetrics(join(resumed, 'metrics.jsonl')).map(withoutTiming), rows.filter((r) => r.step > 2).map(withoutTiming));
  });
});

describe('dynamic sampling at the generation cap', { timeout: 300_000 }, () => {
  test('when no group is informative, each step stops at maxGenBatches and trains on nothing', async () => {
    const out = join(work, 'cap');
    const summary = await train(config(out, { reward: neverRight, steps: 2, epochs: 10, maxGenBatches: 3, saveEvery: 0, evalEvery: 0, valDataset: undefined }), { log: quiet });
    assert.equal(summary.steps, 2);
    const rows = readMetrics(join(out, 'metrics.jsonl'));
    for (const row of rows) {
      assert.equal(row['train/num_gen_batches'], 3);
      assert.equal(row['train/kept_groups'], 0);
      assert.equal(row['train/batch_short'], 1);
      assert.equal(row['train/resample_rate'], 1);
      assert.equal(row['train/dropped_all_wrong'], 9);
      assert.equal(row['actor/pg_loss'], undefined, 'nothing was trained on');
    }
  });
});

describe('the KL penalty to the starting policy', { timeout: 300_000 }, () => {
  test('with klCoef the reference log-probs enter the loss and actor/kl_ref is logged', async () => {
    const out = join(work, 'kl');
    await train(config(out, { klCoef: 0.5, steps: 3, saveEvery: 0, evalEvery: 0, valDataset: undefined, lr: 1e-2 }), { log: quiet });
    const rows = readMetrics(join(out, 'metrics.jsonl'));
    assert.equal(rows.length, 3);
    // k3 is never negative, and once the policy has moved from its start it is positive.
    for (const row of rows) assert.ok(row['actor/kl_ref'] >= 0, `step ${row.step} kl_ref ${row['actor/kl_ref']}`);
    assert.ok(rows[2]['actor/kl_ref'] > 0, `step 3 kl_ref ${rows[2]['actor/kl_ref']}`);
  });
});

describe('a sampling temperature other than 1', { timeout: 300_000 }, () => {
  test('training log-probs use logits / temperature, so the first mini-batch is exactly on-policy', async () => {
    const out = join(work, 'tempered');
    // One mini-batch per step: the policy that generated is the one being scored.
    await train(config(out, { temperature: 0.6, miniBatch: 2, klCoef: 0.1, steps: 2, saveEvery: 0, evalEvery: 0, valDataset: undefined }), { log: quiet });
    const rows = readMetrics(join(out, 'metrics.jsonl'));
    assert.equal(rows.length, 2);
    for (const row of rows) {
      // Untempered scoring of tempered samples would put the ratio far from 1 here.
      assert.ok(Math.abs(row['actor/approx_kl']) < 1e-5, `step ${row.step} approx_kl ${row['actor/approx_kl']}`);
      assert.equal(row['actor/clipfrac_low'] + row['actor/clipfrac_high'], 0, `step ${row.step} clip fractions`);
    }
    // The reference (the starting policy) is scored at the same temperature.
    assert.ok(rows[0]['actor/kl_ref'] < 1e-6, `step 1 kl_ref ${rows[0]['actor/kl_ref']}`);
  });
});

describe('Ctrl-C and SIGTERM', { timeout: 600_000 }, () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test(`${signal} finishes the step, writes a checkpoint and the final model, exits cleanly and prints the resume command`, async () => {
      const out = join(work, `interrupted-${signal}`);
      const cli = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', cli, 'train', '--model', modelDir, '--dataset', fixture, '--reward', rewardModule, '--out', out, '--steps', '1000',
          '--epochs', '1000', '--n', '4', '--train-batch', '2', '--gen-batch', '3', '--max-response-len', '10', '--overlong-buffer', '4',
          '--mini-batch', '1', '--micro-batch', '3', '--eval-every', '0', '--plot-every', '0', '--dedupe'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      const metrics = join(out, 'metrics.jsonl');
      const deadline = Date.now() + 120_000;
      // Rows for steps 0 (the start evaluation), 1 and 2: whenever the signal lands, step 2 is done.
      while (!(existsSync(metrics) && readFileSync(metrics, 'utf8').trim().split('\n').length >= 3) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      child.kill(signal);
      const code = await new Promise<number | null>((r) => child.on('exit', r));
      assert.equal(code, 0, output);
      assert.match(output, /stopping after this step/);
      const steps = readMetrics(metrics).map((r) => r.step);
      const last = steps[steps.length - 1];
      assert.ok(last >= 2 && last < 1000, `stopped at step ${last}`);
      assert.ok(existsSync(join(out, 'checkpoints', `step-${last}`, 'trainer-state.json')), 'checkpoint of the last step');
      assert.ok(existsSync(join(out, 'final', 'model.safetensors')), 'final model');

      // The printed command, run as printed (plus --steps), picks up the run's own settings and
      // carries on in its folder.
      const printed = /dapo: resume +(.*)/.exec(output);
      assert.ok(printed, output);
      const resumed = spawnSync('sh', ['-c', `${printed[1]} --steps ${last + 1}`], { encoding: 'utf8' });
      assert.equal(resumed.status, 0, resumed.stderr);
      assert.deepEqual(readMetrics(metrics).map((r) => r.step), [...steps, last + 1]);
    });
  }
});
