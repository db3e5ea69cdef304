// What the trainer says while it runs: progress inside a step (generation in parts that draw
// the same samples), the step line with score and overlong penalty apart, the warnings before
// the first step, and the diagnosis when no group has carried a signal for several steps.
import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';

import { Policy } from '../src/policy/index.js';
import { resolveReward } from '../src/reward/index.js';
import { generateGroups, type GenerationProgress } from '../src/rollout/generate.js';
import type { Group } from '../src/rollout/types.js';
import { makeArithmeticTask } from '../src/task/arithmetic.js';
import { resolveConfig } from '../src/train/config.js';
import { groupSignal, runWarnings, SILENT_STEPS, TrainingHints, type GroupSignal } from '../src/train/hints.js';
import { Progress, STATUS_EVERY_MS } from '../src/train/progress.js';
import { consoleFields, StepStatus } from '../src/train/step-status.js';

/** A stream that records what is written, as a terminal or not. */
function recorder(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const stream = { isTTY, text: '', write(s: string) { stream.text += s; return true; } };
  return stream as unknown as NodeJS.WriteStream & { text: string };
}

describe('generation in parts', () => {
  test('draws exactly the samples of one call, and reports sequences and tokens as parts finish', async () => {
    const policy = await Policy.load('builtin:tiny', { seed: 3 });
    const task = makeArithmeticTask({ seed: 2 });
    const rows = task.train.slice(0, 40);
    const ids = await Promise.all(rows.map((r) => policy.tokenizer!.encodeChat(r.messages)));
    const reward = await resolveReward('dapo-math');
    const sampling = { n: 4, maxResponseLen: 12, temperature: 1, topP: 1, topK: 0 };
    const shaping = { overlongShaping: true, maxResponseLen: 12, overlongBuffer: 4, overlongPenalty: 1 };
    const whole = await generateGroups(policy, policy.tokenizer!, reward, rows, ids, sampling, shaping, 99);
    const reports: GenerationProgress[] = [];
    const parts = await generateGroups(policy, policy.tokenizer!, reward, rows, ids, sampling, shaping, 99, { onProgress: (p) => reports.push(p) });
    policy.dispose();
    assert.deepEqual(parts, whole);
    // 160 sequences in parts of at least 64: three calls.
    assert.deepEqual(reports.map((r) => [r.sequences, r.totalSequences]), [[64, 160], [128, 160], [160, 160]]);
    const tokens = whole.flatMap((g) => g.rollouts).reduce((s, r) => s + r.response.length, 0);
    assert.equal(reports[2].tokens, tokens);
    assert.ok(reports[0].tokens > 0 && reports[0].tokens < reports[1].tokens);
  });
});

describe('Progress.status', () => {
  test('on a terminal it rewrites the line; elsewhere it prints only when nothing was said for a while', () => {
    const tty = recorder(true);
    const saved = process.env.CI;
    delete process.env.CI;
    try {
      new Progress(10, 0, tty).status('step 1/10: generating 64/128 sequences');
    } finally {
      if (saved !== undefined) process.env.CI = saved;
    }
    assert.equal(tty.text, '\rstep 1/10: generating 64/128 sequences\x1b[K');

    mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    try {
      const log = recorder(false);
      const progress = new Progress(10, 0, log);
      progress.status('quick');
      assert.equal(log.text, '', 'a quick step prints no status line');
      mock.timers.tick(STATUS_EVERY_MS);
      progress.status('slow 1');
      progress.status('slow 2');
      mock.timers.tick(STATUS_EVERY_MS);
      progress.status('slow 3');
      assert.equal(log.text, 'slow 1\nslow 3\n');
    } finally {
      mock.timers.reset();
    }
  });

  test('StepStatus says sequences, tokens, tokens/s and what was kept; then the update', () => {
    const lines: string[] = [];
    const status = new StepStatus({ status: (l) => lines.push(l) }, 3, { steps: 10, trainBatch: 8, maxGenBatches: 4 });
    const report = status.generating(1, 5);
    report({ sequences: 64, totalSequences: 128, tokens: 12345 });
    status.updating(8, 64);
    assert.match(lines[0], /^step 3\/10: generating 64\/128 sequences, 12\.3k tokens(, [\d.]+[kM]? tok\/s)? \(generation batch 2\/4, 5\/8 groups kept\)$/);
    assert.equal(lines[1], 'step 3/10: updating the policy on 8 groups (64 sequences)');
  });
});

describe('the step line', () => {
  test('shows the task score and the overlong penalty apart, not their sum', () => {
    const metrics = { step: 1, 'train/reward_mean': -2, 'train/score_mean': -1, 'response_length/overlong_penalty_mean': -1, 'train/acc_mean': 0, 'train/kept_groups': 0 };
    assert.deepEqual(consoleFields(metrics, { trainBatch: 8, overlongShaping: true }), { score: '-1.000', overlong: '-1.000', acc: '0.000', kept: '0/8' });
    assert.deepEqual(consoleFields({ ...metrics, 'val/acc': 0.25 }, { trainBatch: 8, overlongShaping: false }), { score: '-1.000', acc: '0.000', kept: '0/8', 'val/acc': '0.250' });
  });
});

function group(acc: boolean[], text = 'I think it is 7', answer = '5', finished = true): Group {
  return {
    row: { id: 0, sourceIndex: 0, messages: [{ role: 'user', content: 'q' }], answer },
    promptIds: new Int32Array([1]),
    rollouts: acc.map((a) => ({ response: new Int32Array(3), sampleLogprobs: new Float32Array(3), finished, text, taskScore: a ? 1 : -1, overlongPenalty: 0, reward: a ? 1 : -1, acc: a })),
  };
}

describe('hints', () => {
  const config = resolveConfig({}, { dataset: 'x.parquet', preset: 'small' });
  const short = { 'train/batch_short': 1, 'train/kept_groups': 0, 'train/num_gen_batches': 4 };

  test(`after ${SILENT_STEPS} steps where every response is wrong: why, the reward rule, a response, what to try`, () => {
    const hints = new TrainingHints(config);
    const wrong: GroupSignal = groupSignal([group([false, false]), group([false, false])]);
    assert.match(hints.afterStep(1, short, wrong, false).join('\n'), /step 1: only 0\/8 groups kept after 4 generation batches/);
    assert.deepEqual(hints.afterStep(2, short, wrong, false), []);
    const said = hints.afterStep(3, short, wrong, false).join('\n');
    assert.match(said, /no group has had a learning signal for 3 steps .* every response was wrong in 6 of them/);
    assert.match(said, /reward rule: dapo-math: the last line that starts with "Answer:"/);
    assert.match(said, /a response \(score -1, ground truth "5"\): "I think it is 7"/);
    assert.match(said, /try: the response has no "Answer:" line/);
    assert.deepEqual(hints.afterStep(4, short, wrong, false), [], 'said once per streak');
  });

  test('a boxed answer points to --reward boxed; truncation to --max-response-len', () => {
    const hints = new TrainingHints(config);
    const boxed = groupSignal([group([false, false], 'so \\boxed{7}', '5', false)]);
    for (let s = 1; s < SILENT_STEPS; s++) hints.afterStep(s, {}, boxed, false);
    const said = hints.afterStep(SILENT_STEPS, {}, boxed, false).join('\n');
    assert.match(said, /try: the response puts its answer in \\boxed{}: use --reward boxed/);
    assert.match(said, /100% of the responses hit maxResponseLen 512/);
    assert.match(said, /cut at maxResponseLen/);
  });

  test('every response right: too easy; a group with signal resets the count', () => {
    const hints = new TrainingHints(config);
    const right = groupSignal([group([true, true])]);
    const mixed = groupSignal([group([true, false])]);
    hints.afterStep(1, {}, right, false);
    hints.afterStep(2, {}, mixed, false);
    hints.afterStep(3, {}, right, false);
    assert.deepEqual(hints.afterStep(4, {}, right, false), [], 'only 2 silent steps since the reset');
    assert.match(hints.afterStep(5, {}, right, false).join('\n'), /every response was right in 3 of them, so the prompts are too easy/);
  });

  test('warnings before the first step: a batch larger than the data, the recipe on a CPU', () => {
    const recipe = resolveConfig({}, { dataset: 'mini.parquet' });
    const said = runWarnings(recipe, 12, 'cpu').join('\n');
    assert.match(said, /trainBatch 512 exceeds the 12 prompts of mini\.parquet/);
    assert.match(said, /the DAPO recipe's sizes .* --preset small/);
    assert.deepEqual(runWarnings(resolveConfig({}, { dataset: 'big.parquet', preset: 'small' }), 5000, 'cpu'), []);
    assert.match(runWarnings(resolveConfig({}, { dataset: 'x.parquet', preset: 'small', epochs: 1 }), 100, 'cuda').join('\n'), /50 steps x 8 prompts need more than 1 epoch\(s\) of the 100 prompts/);
  });
});
