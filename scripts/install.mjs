#!/usr/bin/env node
// npm install hook: use a prebuilt addon from prebuilds/ when one loads on this machine,
// otherwise compile the addon with cmake-js (offline: node-api-headers provides the headers);
// in a source checkout, also compile the TypeScript to dist/.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function prebuildLoads() {
  const probe = `require(require('node-gyp-build').path(${JSON.stringify(root)}))`;
  const result = spawnSync(process.execPath, ['-e', probe], {
    cwd: root,
    env: { ...process.env, PREBUILDS_ONLY: '1' },
    stdio: 'ignore',
  });
  return result.status === 0;
}

if (process.env.DAPO_FORCE_BUILD !== '1' && prebuildLoads()) {
  console.log('dapo: using the prebuilt addon in prebuilds/');
} else {
  console.log('dapo: no usable prebuild; compiling the addon with cmake-js');
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const build = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) {
    console.error(
      'dapo: building the native addon failed. It needs cmake >= 3.18 and a C++17 compiler ' +
        '(g++ or clang); CUDA is optional. See the output above for the failing step.',
    );
    process.exit(build.status ?? 1);
  }
}

// In a source checkout (not an installed package, which ships dist/), compile the TypeScript too.
if (existsSync(join(root, 'src')) && existsSync(join(root, 'tsconfig.json'))) {
  let tsc;
  try {
    tsc = require.resolve('typescript/bin/tsc');
  } catch {
    console.log('dapo: typescript is not installed; skipping the TypeScript build');
  }
  if (tsc) {
    const compile = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
    if (compile.status !== 0) process.exit(compile.status ?? 1);
  }
}
