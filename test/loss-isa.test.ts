// The generic (non-AVX2) build of the row kernels, forced with DAPO_NO_AVX2=1 in a child
// process, against the reference and against the default path.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { cpuFeatures } from './helpers/features.js';
import { testSeed } from './helpers/random.js';

const script = fileURLToPath(new URL('./helpers/isa-check.ts', import.meta.url));

function runCheck(env: Record<string, string>) {
  const seed = String(testSeed()); // DAPO_TEST_SEED replays a failure
  const result = spawnSync(process.execPath, ['--import', 'tsx', script, seed], { env: { ...process.env, ...env }, encoding: 'utf8' });
  assert.equal(result.status, 0, `seed ${seed}: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as { avx2: boolean; worstGrad: number; worstLoss: number };
}

test('generic kernels match the reference', () => {
  const generic = runCheck({ DAPO_NO_AVX2: '1' });
  assert.equal(generic.avx2, false);
  assert.ok(generic.worstGrad < 2e-5, `grad error ${generic.worstGrad}`);
  assert.ok(generic.worstLoss < 1e-5, `loss error ${generic.worstLoss}`);
});

test('the default kernels report the CPU feature they use', () => {
  const chosen = runCheck({});
  assert.equal(chosen.avx2, cpuFeatures().avx2);
  assert.ok(chosen.worstGrad < 2e-5, `grad error ${chosen.worstGrad}`);
  assert.ok(chosen.worstLoss < 1e-5, `loss error ${chosen.worstLoss}`);
});
