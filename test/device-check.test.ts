// The device check's packaging, here, so the GPU run is not spent on it: scripts/cuda-device-bundle.sh
// bundles this checkout's addon, a copy of the checkout with no node_modules above it runs
// scripts/device-check.sh on the bundle, and the archive holds the logs and a summary. The quick
// steps run (without a GPU every CUDA case reports skipped, with the reason), and so does the
// training run's CPU plumbing (the bundled CLI trains, checkpoints and resumes; 20 s here).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';

import { packageRoot } from '../src/native.js';

const addon = join(packageRoot, 'build', 'Release', 'dapo_native.node');
const work = mkdtempSync(join(tmpdir(), 'dapo-device-check-'));
after(() => rmSync(work, { recursive: true, force: true }));

function nodeModulesAbove(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) return join(d, 'node_modules');
    if (dirname(d) === d) return undefined;
  }
}

test('the device bundle runs the device check from a clean folder and packs its logs', {
  skip: !existsSync(addon) ? `no addon at ${addon} (this install used a prebuild)` : !existsSync(join(packageRoot, '.git')) ? 'not a git checkout' : false,
  timeout: 300_000,
}, () => {
  const carry = join(work, 'carry');
  execFileSync('bash', ['scripts/cuda-device-bundle.sh', '--no-node', '--out', carry], {
    cwd: packageRoot,
    env: { ...process.env, DAPO_BUILD_DIR: 'build', DAPO_XZ_LEVEL: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  assert.ok(existsSync(join(carry, 'dapo.tar.xz')));

  // The checkout as it travels: tracked and not-ignored files, nothing of node_modules.
  const clean = join(work, 'checkout');
  mkdirSync(clean);
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: packageRoot }).toString().split('\0').filter(Boolean);
  execFileSync('tar', ['-cf', join(work, 'checkout.tar'), '--null', '-T', '-'], { cwd: packageRoot, input: files.join('\0') });
  execFileSync('tar', ['-xf', join(work, 'checkout.tar'), '-C', clean]);
  assert.equal(nodeModulesAbove(clean), undefined, 'a node_modules above the clean checkout would hide missing packages');

  const out = join(work, 'out');
  const run = spawnSync('bash', ['scripts/device-check.sh', out], {
    cwd: clean,
    env: { ...process.env, DAPO_CARRY: carry, DAPO_CHECK_STEPS: 'info,test-cuda,train-cuda,train-plumbing,tensorboard,engine-bench,memcheck,loss-lab' },
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /steps: \d+ pass, 0 fail, \d+ skip/);
  execFileSync('tar', ['-xzf', join(out, 'device-check.tar.gz'), '-C', work]);
  const steps = readFileSync(join(work, 'device-check', 'steps.tsv'), 'utf8');
  const status = Object.fromEntries(steps.trim().split('\n').slice(1).map((l) => l.split('\t')).map(([n, s, , note]) => [n, { s, note }]));
  assert.equal(status.info.s, 'pass');
  assert.equal(status['test-cuda'].s, 'pass');
  assert.match(status['test-cuda'].note, /tests: \d+ pass, 0 fail, \d+ skipped/);
  const info = JSON.parse(execFileSync(process.execPath, ['-e', `console.log(JSON.stringify(require(${JSON.stringify(addon)}).cudaInfo()))`]).toString());
  if (!(info.loaded && info.devices > 0)) {
    // Nothing CUDA ran: every case and step says skipped, with the reason.
    assert.match(status['test-cuda'].note, /tests: 0 pass, 0 fail, [1-9]\d* skipped/);
    for (const name of ['train-cuda', 'engine-bench', 'memcheck', 'loss-lab']) {
      assert.equal(status[name].s, 'skip', name);
      assert.ok(status[name].note.length > 10, `${name} says why it skipped`);
    }
  }
  // The CLI from the bundle trains, checkpoints and resumes exactly (on the CPU here; on a GPU
  // train-cuda does it and train-plumbing skips), with --logger tensorboard: the bundle carries
  // every package the CLI loads.
  assert.equal(status['train-plumbing'].s, info.engine && info.devices > 0 ? 'skip' : 'pass');
  assert.ok(['pass', 'skip'].includes(status.tensorboard.s), status.tensorboard.note);
  for (const f of ['summary.txt', 'info.log', 'test-cuda.log']) assert.ok(existsSync(join(work, 'device-check', f)), f);
});
