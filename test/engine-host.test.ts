// The CUDA engine's host-side logic without a device: the checks and plans of generate and packed
// batches (the CPU engine's messages; every size product and sum checked for overflow before
// anything is allocated) and the continuous-batching schedule, simulated against a model of the
// KV cache. test/native/engine_host_test.cc holds the checks; this builds it with the C++
// compiler the native build uses and runs it with a fresh seed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { testSeed } from './helpers/random.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiler = process.env.CXX ?? 'c++';
const probe = spawnSync(compiler, ['--version'], { encoding: 'utf8' });
const skip = probe.status === 0 ? false : `no C++ compiler (${compiler}) to build the host-side checks`;

test('CUDA engine host logic: generate plans, packed batches and the decode schedule', { skip }, () => {
  const seed = testSeed() % 2 ** 31;
  console.log(`engine host checks: DAPO_TEST_SEED=${seed}`);
  const dir = mkdtempSync(join(tmpdir(), 'dapo-engine-host-'));
  try {
    const binary = join(dir, 'engine_host_test');
    const sources = ['test/native/engine_host_test.cc', 'native/cuda/model/engine_inputs.cc', 'native/cuda/model/engine_schedule.cc'];
    const build = spawnSync(compiler, ['-std=c++17', '-O1', '-Inative', ...sources, '-o', binary], { cwd: root, encoding: 'utf8' });
    assert.equal(build.status, 0, `compiling the host checks failed:\n${build.stderr}`);
    const run = spawnSync(binary, [String(seed)], { encoding: 'utf8' });
    assert.equal(run.status, 0, `host checks failed (DAPO_TEST_SEED=${seed}):\n${run.stdout}${run.stderr}`);
    assert.match(run.stdout, /^ok: \d+ checks/);
    console.log(`  ${run.stdout.trim()}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
