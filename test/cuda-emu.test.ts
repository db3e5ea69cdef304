// The CPU emulator of CUDA (tools/cuda-emu) as far as it can be checked without building it:
// the source transform over every file of native/cuda (a kernel it cannot rewrite would only
// show when someone runs scripts/cuda-emu-build.sh), its rewrites one by one, and the addon's
// DAPO_CUDA_MODULE override, which must say clearly when it names nothing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { packageRoot } from '../src/native.js';
import { transformSource, translatePtx } from '../tools/cuda-emu/transform.js';

const lines = (s: string) => s.split('\n').length;

function cudaSources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return cudaSources(path);
    return /\.(cu|cuh)$/.test(name) ? [path] : [];
  });
}

describe('cuda-emu transform', () => {
  test('every native/cuda source transforms, keeping its line count, with no launch or asm left', () => {
    const files = cudaSources(join(packageRoot, 'native/cuda'));
    assert.ok(files.length > 20, `found ${files.length} CUDA sources`);
    for (const file of files) {
      const src = readFileSync(file, 'utf8');
      const out = transformSource(src, file);
      assert.equal(lines(out), lines(src), `${file}: line count changed`);
      assert.doesNotMatch(out, /<<</, `${file}: a launch was not rewritten`);
      assert.doesNotMatch(out.replace(/\/\/.*$/gm, ''), /\basm\s*(volatile\s*)?\(/, `${file}: an asm statement was left`);
    }
  });

  test('a launch becomes launch_call with its configuration and copied arguments, on the same lines', () => {
    const src = 'void f(float* x, int n, cudaStream_t s) {\n  scale<float, 4><<<dim3(n / 256), 256,\n    0, s>>>(x, n);\n}\n';
    const out = transformSource(src, 'x.cu');
    assert.equal(lines(out), lines(src));
    assert.match(out, /::emu::launch_call\("scale<float, 4>", ::emu::LaunchConfig\(dim3\(n \/ 256\), 256,\s*0, s\), \[=\]\(const auto&\.\.\. emu_a\) \{ scale<float, 4>\(emu_a\.\.\.\); \}, x, n\)/);
  });

  test('__global__ kernels register themselves, template arguments and launch bounds included', () => {
    const src = 'template <typename T, int kW>\n__global__ void __launch_bounds__(512, 2) k(T* x) {\n  x[0] = 0;\n}\n__global__ void decl(int);\n';
    const out = transformSource(src, 'x.cu');
    assert.match(out, /k\(T\* x\) \{ ::emu::kernel_entry<&k<T, kW>, static_cast<unsigned>\(512\)>\(\);/);
    assert.match(out, /__global__ void decl\(int\);/, 'a declaration is left alone');
  });

  test('__shared__ variables become one per block; extern __shared__ the dynamic memory', () => {
    const src = '__global__ void k() {\n  __shared__ __align__(16) float tile[32][33], row[8];\n  extern __shared__ float4 smem[];\n}\n';
    const out = transformSource(src, 'x.cu');
    assert.match(out, /auto& tile = ::emu::shared_ref<float \[32\]\[33\]>\(&emu_shared_key_tile, 16\);/);
    assert.match(out, /auto& row = ::emu::shared_ref<float \[8\]>\(&emu_shared_key_row, 16\);/);
    assert.match(out, /float4\* smem = reinterpret_cast<float4\*>\(::emu::dynamic_shared\(\)\);/);
  });

  test('PTX maps to the emulated instruction; one the emulator lacks is an error naming file and line', () => {
    const ops = ['d0', 'd1', 'd2', 'd3', 'a0', 'a1', 'a2', 'a3', 'b0', 'b1', 'c0', 'c1', 'c2', 'c3'].map((expr) => ({ constraint: 'r', expr }));
    assert.equal(
      translatePtx('mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};', ops),
      '::emu::ptx::mma_m16n8k16_bf16_f32((d0), (d1), (d2), (d3), (a0), (a1), (a2), (a3), (b0), (b1), (c0), (c1), (c2), (c3))',
    );
    assert.equal(translatePtx('cp.async.wait_group 1;', []), '::emu::ptx::cp_async_wait(1)');
    const src = '__device__ void f(float* p) {\n  asm volatile("wgmma.fence.sync.aligned;" ::: "memory");\n}\n';
    assert.throws(() => transformSource(src, 'native/cuda/x.cu'), /native\/cuda\/x\.cu:2: the emulator has no model of this PTX: "wgmma\.fence\.sync\.aligned;"/);
  });
});

describe('DAPO_CUDA_MODULE', () => {
  test('naming a file that does not exist leaves CUDA unusable with a reason that names it', () => {
    const missing = join(packageRoot, 'build', 'no-such-dir', 'libdapo_cuda.so');
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', '-e', "import { native } from './src/native.ts'; console.log(JSON.stringify(native.cudaInfo()))"],
      { cwd: packageRoot, env: { ...process.env, DAPO_CUDA_MODULE: missing } },
    ).toString();
    const info = JSON.parse(out.trim().split('\n').pop()!);
    assert.equal(info.loaded, false);
    assert.equal(info.devices, 0);
    assert.equal(info.reason, `DAPO_CUDA_MODULE names ${missing}, which does not exist`);
    assert.equal(info.emulator, undefined);
  });
});
