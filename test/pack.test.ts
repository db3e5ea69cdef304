// The packed tarball installs into an empty folder and `import ... from 'dapo'` works there,
// from the prebuild made by `npm run prebuild` (npm 11 blocks dependency install scripts by default).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { packageRoot } from '../src/native.js';

const work = mkdtempSync(join(tmpdir(), 'dapo-pack-'));
after(() => rmSync(work, { recursive: true, force: true }));

// A clean environment: nothing from the npm process running the tests (npm_config_*) and no
// DAPO_* overrides (DAPO_PREBUILD would point node-gyp-build elsewhere).
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|DAPO_)/i.test(k)));

const npm = (args: string[], cwd: string) =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test('npm pack, install into an empty folder, import dapo', { timeout: 600_000 }, () => {
  execFileSync(process.execPath, ['scripts/prebuild.mjs'], { cwd: packageRoot, env, stdio: 'ignore' });
  npm(['pack', '--pack-destination', work], packageRoot);
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack wrote a tarball');

  const consumer = join(work, 'consumer');
  execFileSync('mkdir', [consumer]);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  npm(['install', join(work, tarball!), '--prefer-offline'], consumer);

  const rewards = [Math.random(), -Math.random()];
  const program = `
    import { dapoLoss, groupAdvantages, cudaInfo } from 'dapo';
    const advantages = groupAdvantages(new Float32Array(${JSON.stringify(rewards)}), 2);
    const r = dapoLoss({ logprobs: new Float32Array([-1, -2]), oldLogprobs: new Float32Array([-1, -2]),
                         advantages, mask: new Uint8Array([1, 1]) });
    console.log(JSON.stringify({ loss: r.loss, advantages: Array.from(advantages), cuda: cudaInfo() }));`;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', program], { cwd: consumer, env, encoding: 'utf8' }));
  // Ratios of 1: the loss is -mean(A), and two advantages of one group sum to zero.
  assert.ok(Math.abs(out.loss) < 1e-6, `loss ${out.loss}`);
  assert.ok(out.advantages[0] > 0 && out.advantages[1] < 0);
  assert.equal(typeof out.cuda.built, 'boolean');

  // The packaged install script picks the prebuild instead of compiling.
  const installLog = execFileSync(process.execPath, ['node_modules/dapo/scripts/install.mjs'], { cwd: consumer, env, encoding: 'utf8' });
  assert.match(installLog, /using the prebuilt addon/);
});
