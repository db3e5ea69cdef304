#!/usr/bin/env node
// Makes a prebuild the way prebuildify lays them out, with cmake-js as the compiler:
// prebuilds/<platform>-<arch>/dapo.napi.node (N-API, any Node >= 20), plus the CUDA module
// beside it when one was built. node-gyp-build finds it there.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');

const build = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const target = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const staging = `${target}.tmp-${process.pid}`;
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
copyFileSync(join(root, 'build/Release/dapo_native.node'), join(staging, 'dapo.napi.node'));
const cudaModule = join(root, 'build/Release/libdapo_cuda.so');
if (existsSync(cudaModule)) copyFileSync(cudaModule, join(staging, 'libdapo_cuda.so'));
rmSync(target, { recursive: true, force: true });
renameSync(staging, target);
console.log(`dapo: prebuild written to ${target}`);
