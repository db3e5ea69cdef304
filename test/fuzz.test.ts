// A fuzz test of the N-API boundary (issue #13): random calls of the loss API and the Policy API
// with valid arguments mutated into weird ones, run in a child process (test/helpers/
// fuzz-child.ts) so that a native crash fails this test instead of ending the suite. It asserts
// no crash, no hang, a `code` on every error and no non-finite result from finite inputs.
// The seed is fixed so that CI runs the same calls; DAPO_FUZZ_SEED picks others and
// DAPO_FUZZ_CALLS runs more (e.g. DAPO_FUZZ_CALLS=200000 for a long hunt).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const seed = Number(process.env.DAPO_FUZZ_SEED ?? 20261127);
const calls = Number(process.env.DAPO_FUZZ_CALLS ?? 2000);
const child = fileURLToPath(new URL('./helpers/fuzz-child.ts', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'dapo-fuzz-'));
after(() => rmSync(work, { recursive: true, force: true }));

test(`${calls} random calls of the loss and Policy APIs (seed ${seed}): no crash, no hang, a code on every error, finite results`, { timeout: 600_000 + calls * 100 }, () => {
  const progress = join(work, 'progress.txt');
  // Generous: 2,000 calls take about 10 s on a busy 2-core machine; a hang is minutes.
  const limit = 120_000 + calls * 50;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', child, String(seed), String(calls), progress], {
    encoding: 'utf8',
    timeout: limit,
    maxBuffer: 64 << 20,
  });
  const lines = readFileSync(progress, 'utf8').trim().split('\n');
  const last = lines[lines.length - 1];
  const replay = `replay: DAPO_FUZZ_SEED=${seed} DAPO_FUZZ_CALLS=${calls} node --import tsx --test test/fuzz.test.ts`;
  assert.ok(!run.error, `the fuzz child did not finish within ${limit / 1000} s (a hang?) at call "${last}"; ${replay}`);
  assert.equal(run.signal, null, `the fuzz child crashed with ${run.signal} at call "${last}"\n${run.stderr.slice(-3000)}\n${replay}`);
  assert.equal(run.status, 0, `the fuzz child exited with ${run.status} at call "${last}"\n${run.stderr.slice(-3000)}\n${replay}`);
  const summary = JSON.parse(run.stdout.trim().split('\n').pop()!) as { calls: number; outcomes: Record<string, number>; violations: string[]; violationCount: number };
  console.log(`fuzz seed ${seed}: ${JSON.stringify(summary.outcomes)}`);
  assert.equal(summary.calls, calls);
  assert.deepEqual(summary.violations, [], `${summary.violationCount} violations; ${replay}`);
  // The calls exercised both outcomes, not just one kind of rejection.
  assert.ok(summary.outcomes.ok > calls / 5, `only ${summary.outcomes.ok} calls succeeded`);
  assert.ok((summary.outcomes.ERR_DAPO_TYPE ?? 0) > 0 && (summary.outcomes.ERR_DAPO_RANGE ?? 0) > 0);
});
