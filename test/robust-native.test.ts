// Calls found by fuzzing that crashed the process or read freed memory (issue #13). They run in
// a child process (test/helpers/crash-cases.ts), so a crash fails this test instead of ending
// the suite; each must end in its result or a coded error, and the process must live on.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

type Outcome = { case: string; start?: boolean; ok?: boolean; value?: unknown; error?: { name: string; code?: string; message: string } };

const script = fileURLToPath(new URL('./helpers/crash-cases.ts', import.meta.url));
const outcomes = new Map<string, Outcome>();
let died = '';

before(() => {
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', script], { encoding: 'utf8', timeout: 240_000 });
  const lines = child.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Outcome);
  for (const line of lines) if (!line.start) outcomes.set(line.case, line);
  if (child.status !== 0 || child.signal) {
    const started = lines.filter((l) => l.start).map((l) => l.case);
    died = `the child process ended with ${child.signal ?? `exit ${child.status}`} during '${started[started.length - 1]}'\n${child.stderr.slice(-2000)}`;
  }
});

function outcome(name: string): Outcome {
  assert.equal(died, '', died);
  const o = outcomes.get(name);
  assert.ok(o, `no outcome for ${name}`);
  return o;
}

function assertError(name: string, kind: string, code: string, message: RegExp): void {
  const o = outcome(name);
  assert.ok(o.error, `${name}: expected an error, got ${JSON.stringify(o)}`);
  assert.equal(o.error.name, kind, o.error.message);
  assert.equal(o.error.code, code, o.error.message);
  assert.match(o.error.message, message);
}

describe('native crashes found by fuzzing are errors with a code', { timeout: 300_000 }, () => {
  test('generate: n x prompts past 64 bits', () => assertError('generate-n-overflow', 'RangeError', 'ERR_DAPO_RANGE', /^n must be a non-negative integer below 2\^53/));
  test('generate: n too large for any machine is refused before allocating', () =>
    assertError('generate-n-huge', 'RangeError', 'ERR_DAPO_RANGE', /prompts x n x maxNewTokens allows \d+ generated tokens/));
  test('generate: prompt length + maxNewTokens past 64 bits', () =>
    assertError('generate-kv-wrap', 'RangeError', 'ERR_DAPO_RANGE', /^maxNewTokens must be a non-negative integer below 2\^53/));
  test('generate: the largest maxNewTokens fills the context exactly', () => {
    assert.deepEqual(outcome('generate-kv-max').value, { tokens: 4096 - 2049 });
  });
  test('dapoLossAsync: logits transferred and collected while the worker runs', () => {
    // The call works on a copy made when it was called, so the result is the synchronous one.
    assert.deepEqual(outcome('async-logits-transfer').value, { same: true, detached: true });
  });
  test('dapoLossAsync: gradOut transferred and collected while the worker runs', () =>
    assertError('async-gradout-transfer', 'TypeError', 'ERR_DAPO_DETACHED', /gradOut was detached or resized while the call ran/));
  test('dapoLossAsync: a gradOut kept receives the gradient', () => assert.deepEqual(outcome('async-gradout-kept').value, { same: true }));
  test('dapoLoss: a getter that detaches an array read before it', () =>
    assertError('sync-getter-detach', 'TypeError', 'ERR_DAPO_DETACHED', /oldLogprobs was detached or resized while the arguments were read/));
  test('dapoLossAsync: a getter that detaches an array read before it (the copy read freed memory)', () =>
    assertError('async-getter-detach', 'TypeError', 'ERR_DAPO_DETACHED', /oldLogprobs was detached or resized while the arguments were read/));
  test('dapoLoss: N x vocabSize past 64 bits', () =>
    assertError('vocab-times-n-overflow', 'RangeError', 'ERR_DAPO_RANGE', /N \* vocabSize \(4096 x 4503599627370496\) is too large/));
  test('Policy.fromConfig: a parameter count past 64 bits', () =>
    assertError('config-overflow', 'RangeError', 'ERR_DAPO_RANGE', /the parameter count .* is too large to address/));
  test('Policy.fromConfig: 2^31 layers are refused before any is built', () =>
    assertError('config-layers-huge', 'RangeError', 'ERR_DAPO_RANGE', /needs \d+\.\d GiB, more than this machine's/));
  for (const moment of ['m', 'v']) {
    test(`AdamW: only '${moment}' restored, then a step: both moments exist, the count goes on, the update is AdamW's`, () => {
      const o = outcome(`adamw-only-${moment}`);
      assert.ok(o.ok, JSON.stringify(o));
      const r = o.value as { step: number; errW: number; errM: number; errV: number; gradNonZero: boolean };
      assert.equal(r.step, 4, 'setOptimizerSteps(3), then one step');
      assert.ok(r.gradNonZero, 'the batch gave a gradient');
      assert.ok(r.errW < 1e-5 && r.errM < 1e-5 && r.errV < 1e-5, JSON.stringify(r));
    });
  }
  test("the engine's async calls copy their inputs: transferred and zeroed right after the call, results unchanged", () =>
    assert.deepEqual(outcome('engine-inputs-overwritten').value, { forwardLogits: true, generate: true, accumulate: true }));
  test('Policy.logprobs: batch arrays transferred while the engine reads them', () =>
    assert.deepEqual(outcome('policy-batch-transfer').value, { same: true }));
});
