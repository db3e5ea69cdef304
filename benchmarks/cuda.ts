// CUDA benchmark rows: the fused loss from logits (out of place and in place) and the LM-head
// loss, timed by CUDA events around the device work (host copies excluded), median after
// warm-up, against the measured device-to-device copy bandwidth. Inputs stay on the device
// (DeviceTensor). With no usable device it returns no rows and says why.
//   benchCuda(quick, log) -> BenchRow[]      (for benchmarks/run.ts)
//   node --import tsx benchmarks/cuda.ts [--quick] [--json FILE]   (standalone: table + results/cuda-latest.json,
//   or FILE; exit status 77 when there is no device, which scripts/device-check.sh counts as skipped)
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { cudaDapoLoss, DeviceTensor } from '../src/loss/device.js';
import { dapoLossFromHidden } from '../src/loss/hidden.js';
import { numberToBf16 } from '../src/loss/reference.js';
import { native } from '../src/native.js';
import { median, type BenchRow } from './trial.js';

const WARMUP = 3;
const REPS = 15;

/** Fills a large array by repeating a random block (random values, fast to make). */
function fillRandom<T extends Float32Array | Uint16Array>(out: T, scale: number): T {
  const block = Math.min(out.length, 1 << 20);
  for (let i = 0; i < block; i++) {
    const x = (Math.random() * 2 - 1) * scale;
    out[i] = out instanceof Uint16Array ? numberToBf16(x) : x;
  }
  for (let at = block; at < out.length; at += block) out.copyWithin(at, 0, Math.min(block, out.length - at));
  return out;
}

function timeKernel(run: () => number): number {
  for (let i = 0; i < WARMUP; i++) run();
  const times: number[] = [];
  for (let i = 0; i < REPS; i++) times.push(run());
  return median(times);
}

export async function benchCuda(quick: boolean, log: (line: string) => void): Promise<BenchRow[]> {
  const info = native.cudaInfo();
  if (!(info.loaded && info.devices > 0)) {
    log(`CUDA bench skipped: ${info.reason ?? 'no usable device'}`);
    return [];
  }
  const device = info.deviceNames?.[0] ?? 'cuda';
  const rows: BenchRow[] = [];
  const copyBytes = 2 ** 31;
  const copyMs = native.cudaCopyBench(copyBytes, 20);
  const copyGbPerS = (2 * copyBytes) / copyMs / 1e6;
  log(`device-to-device copy: ${copyGbPerS.toFixed(0)} GB/s (read + write), ${device}`);
  rows.push({ kernel: 'copy', impl: 'cudaMemcpy', device, n: 0, v: 0, dtype: 'bytes', medianMs: copyMs, gbPerS: copyGbPerS });

  const sizes = quick ? [{ n: 2048, v: 32768 }] : [{ n: 16384, v: 151936 }, { n: 16384, v: 32768 }];
  for (const { n, v } of sizes) {
    const tokens = DeviceTensor.upload(Int32Array.from({ length: n }, () => Math.floor(Math.random() * v)));
    const oldLogprobs = DeviceTensor.upload(Float32Array.from({ length: n }, () => -Math.random() * 12 - 1));
    const advantages = DeviceTensor.upload(Float32Array.from({ length: n }, () => Math.random() * 4 - 2));
    const mask = DeviceTensor.upload(Uint8Array.from({ length: n }, () => (Math.random() < 0.9 ? 1 : 0)));
    for (const dtype of ['bf16', 'f32'] as const) {
      const host = dtype === 'bf16' ? fillRandom(new Uint16Array(n * v), 4) : fillRandom(new Float32Array(n * v), 4);
      const logits = DeviceTensor.upload(host);
      const base = { logits, vocabSize: v, tokens, oldLogprobs, advantages, mask, clipC: 3, entropy: true };
      const elementBytes = dtype === 'bf16' ? 2 : 4;
      const gradOut = DeviceTensor.empty('float32', n * v);
      const outMs = timeKernel(() => cudaDapoLoss({ ...base, gradOut }).kernelMs);
      const outBytes = n * v * (elementBytes + 4);
      rows.push({ kernel: 'dapo-loss', impl: 'cuda-fused', device, n, v, dtype, medianMs: outMs, gbPerS: outBytes / outMs / 1e6,
        note: `f32 grad; ${((outBytes / outMs / 1e6 / copyGbPerS) * 100).toFixed(0)}% of copy bandwidth` });
      gradOut.dispose();
      // In place: the gradient overwrites the logits (bf16 over bf16): two logits-sized transfers.
      const inMs = timeKernel(() => cudaDapoLoss({ ...base, inPlace: true }).kernelMs);
      const inBytes = 2 * n * v * elementBytes;
      rows.push({ kernel: 'dapo-loss', impl: 'cuda-fused-inplace', device, n, v, dtype, medianMs: inMs, gbPerS: inBytes / inMs / 1e6,
        note: `floor ${((inBytes / copyGbPerS) / 1e6).toFixed(2)} ms at the copy bandwidth; ${(((inBytes / copyGbPerS) / 1e6 / inMs) * 100).toFixed(0)}% of it` });
      logits.dispose();
      log(`dapo-loss N=${n} V=${v} ${dtype}: ${outMs.toFixed(3)} ms (f32 grad), ${inMs.toFixed(3)} ms in place`);
    }
    for (const t of [tokens, oldLogprobs, advantages, mask]) t.dispose();
  }

  // The LM-head loss at H=896 (Qwen2.5-0.5B): 6 N H V flops, no [N x V] logits.
  const h = 896;
  const lmSizes = quick ? [{ n: 2048, v: 32768 }] : [{ n: 16384, v: 151936 }];
  for (const { n, v } of lmSizes) {
    const hidden = DeviceTensor.upload(fillRandom(new Uint16Array(n * h), 1));
    const weight = DeviceTensor.upload(fillRandom(new Uint16Array(v * h), 0.05));
    const args = {
      hidden, weight, hiddenSize: h, vocabSize: v,
      tokens: Int32Array.from({ length: n }, () => Math.floor(Math.random() * v)),
      oldLogprobs: Float32Array.from({ length: n }, () => -Math.random() * 12 - 1),
      advantages: Float32Array.from({ length: n }, () => Math.random() * 4 - 2),
      mask: Uint8Array.from({ length: n }, () => 1),
      device: 'cuda' as const,
    };
    let peak = 0;
    const ms = timeKernel(() => {
      const r = dapoLossFromHidden(args);
      peak = r.peakExtraBytes ?? 0;
      (r.gradHidden as { dispose(): void }).dispose();
      (r.gradWeight as { dispose(): void }).dispose();
      return r.kernelMs ?? NaN;
    });
    const tflops = (6 * n * h * v) / ms / 1e9;
    rows.push({ kernel: 'dapo-loss-hidden', impl: 'cuda-cublaslt', device, n, v, dtype: 'bf16', medianMs: ms, gbPerS: 0,
      note: `H=${h}: ${tflops.toFixed(0)} TFLOP/s of 6NHV; peak extra ${(peak / 2 ** 20).toFixed(0)} MiB` });
    log(`dapo-loss-hidden N=${n} H=${h} V=${v}: ${ms.toFixed(3)} ms, ${tflops.toFixed(0)} TFLOP/s, peak extra ${(peak / 2 ** 20).toFixed(0)} MiB`);
    hidden.dispose();
    weight.dispose();
  }
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  benchCuda(process.argv.includes('--quick'), (line) => console.log(line))
    .then((rows) => {
      const at = process.argv.indexOf('--json');
      const dir = fileURLToPath(new URL('results/', import.meta.url));
      if (at < 0) mkdirSync(dir, { recursive: true });
      writeFileSync(at > 0 ? process.argv[at + 1] : `${dir}cuda-latest.json`, JSON.stringify(rows, null, 2) + '\n');
      console.table(rows.map((r) => ({ ...r, medianMs: +r.medianMs.toFixed(3), gbPerS: +r.gbPerS.toFixed(1) })));
      if (rows.length === 0) process.exitCode = 77;
    })
    .catch((error) => {
      console.error(error);
      process.exitCode = 1;
    });
}
