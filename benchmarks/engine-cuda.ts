// The CUDA policy engine at the Qwen2.5-0.5B shape with random weights (issue 10): training
// tokens/s (forward + DAPO loss + backward through the LM-head loss, then AdamW) on a batch of
// 8 x 1024 tokens, with MFU (src/policy/flops.ts) and peak device memory, with and without
// per-layer recomputation; generation tokens/s with sampling, 64 x (128 prompt + 128 new) and
// 256 x (128 + 512). The transformers peer is benchmarks/peers/hf_engine.py (same shapes);
// scripts/device-check.sh runs both in the same call. Wall-clock medians after warm-up (each
// call returns when the device is done: its results are on the host).
//   benchEngineCuda(quick, log) -> EngineBenchRow[]          (for benchmarks/run.ts)
//   node --import tsx benchmarks/engine-cuda.ts [--quick] [--json FILE]
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { native } from '../src/native.js';
import { trainFlops, peakBf16Flops } from '../src/policy/flops.js';
import { packBatch, Policy, type TrainBatch } from '../src/policy/index.js';
import type { EngineBenchRow } from './engine.js';
import { qwen25Config } from './qwen25-shape.js';
import { timeMedianAsync } from './trial.js';

const GIB = 2 ** 30;

/** Why the CUDA engine cannot be measured here, or undefined. */
function unusable(): string | undefined {
  const info = native.cudaInfo();
  if (!(info.loaded && info.devices > 0)) return info.reason ?? 'no usable device';
  if (!info.engine) return `the CUDA module has no policy engine (${info.engineReason ?? 'unknown reason'})`;
  return undefined;
}

function randomIds(n: number, vocab: number): Int32Array {
  return Int32Array.from({ length: n }, () => Math.floor(Math.random() * vocab));
}

interface Shape {
  batch: number;
  seqLen: number;
}

async function benchTrain(p: Policy, shape: Shape, label: string, quick: boolean): Promise<EngineBenchRow> {
  const v = p.config.vocabSize;
  const batch: TrainBatch = packBatch(
    Array.from({ length: shape.batch }, () => {
      const ids = randomIds(shape.seqLen, v);
      return { prompt: ids.slice(0, 1), response: ids.slice(1) };
    }),
  );
  batch.oldLogprobs = await p.logprobs(batch);
  batch.advantages = Float32Array.from(batch.oldLogprobs, (_, i) => (i % 3 ? 1 : -1));
  p.memory({ resetPeak: true });
  const ms = await timeMedianAsync(
    async () => {
      await p.accumulate(batch, { kind: 'dapo', clipC: 10 });
      await p.step({ lr: 1e-6, weightDecay: 0.1, clipGradNorm: 1 });
    },
    quick ? 2 : 5,
    quick ? 1 : 2,
  );
  const tokens = shape.batch * shape.seqLen;
  const flops = shape.batch * trainFlops(p.config, shape.seqLen);
  const device = native.cudaInfo().deviceNames?.[0];
  const peak = peakBf16Flops(device);
  const mem = p.memory()!;
  return {
    bench: 'train',
    what: `Qwen2.5-0.5B shape, ${shape.batch} x ${shape.seqLen} tokens${label}`,
    impl: `dapo cuda ${p.dtype}`,
    medianMs: ms,
    tokensPerS: (tokens / ms) * 1000,
    gflops: flops / ms / 1e6,
    mfu: peak ? flops / (ms / 1000) / peak : undefined,
    peakMemoryGiB: mem.peak / GIB,
    note: `forward + DAPO loss + backward + AdamW; ${device ?? 'cuda'}${peak ? `, peak ${(peak / 1e12).toFixed(0)} TFLOP/s bf16` : ', peak unknown: no MFU'}`,
  };
}

async function benchGenerate(p: Policy, prompts: number, promptLen: number, newTokens: number, quick: boolean): Promise<EngineBenchRow> {
  const ids = Array.from({ length: prompts }, () => randomIds(promptLen, p.config.vocabSize));
  let generated = 0;
  p.memory({ resetPeak: true });
  const ms = await timeMedianAsync(
    async () => {
      const groups = await p.generate(ids, { n: 1, maxNewTokens: newTokens, temperature: 1, topP: 1, seed: 7, stop: [] });
      generated = groups.flat().reduce((a, r) => a + r.tokens.length, 0);
    },
    quick || newTokens > 128 ? 1 : 3,
  );
  return {
    bench: 'generate',
    what: `Qwen2.5-0.5B shape, ${prompts} x (${promptLen} prompt + ${newTokens} new)`,
    impl: `dapo cuda ${p.dtype}`,
    medianMs: ms,
    tokensPerS: (generated / ms) * 1000,
    peakMemoryGiB: p.memory()!.peak / GIB,
    note: 'sampling, temperature 1; new tokens / wall time of the call (prefill included)',
  };
}

export async function benchEngineCuda(quick = false, log: (line: string) => void = console.log): Promise<EngineBenchRow[]> {
  const reason = unusable();
  if (reason) {
    log(`CUDA engine bench skipped: ${reason}`);
    return [];
  }
  const config = qwen25Config(quick ? 4 : undefined);
  const started = Date.now();
  const p = Policy.fromConfig(config, { device: 'cuda', seed: 1 });
  log(`engine-cuda: ${(p.numParameters / 1e6).toFixed(0)}M parameters initialised and uploaded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const rows: EngineBenchRow[] = [];
  const train = quick ? { batch: 2, seqLen: 256 } : { batch: 8, seqLen: 1024 };
  rows.push(await benchTrain(p, train, '', quick));
  rows.push(await benchGenerate(p, quick ? 8 : 64, quick ? 32 : 128, quick ? 32 : 128, quick));
  if (!quick) rows.push(await benchGenerate(p, 256, 128, 512, quick));
  // The same weights with per-layer recomputation: less activation memory, one more forward.
  const r = Policy.fromConfig(config, { device: 'cuda', recompute: true, seed: 1 });
  for (const name of p.parameterNames()) r.setParameter(name, p.getParameter(name));
  p.dispose();
  rows.push(await benchTrain(r, train, ', recompute', quick));
  r.dispose();
  for (const row of rows) log(`figure: ${figure(row)}`);
  return rows;
}

/** One line per row for the device check's summary. */
export function figure(r: EngineBenchRow): string {
  const parts = [`${r.impl} ${r.bench} ${r.what}: ${Math.round(r.tokensPerS ?? 0)} tokens/s`];
  if (r.mfu !== undefined) parts.push(`MFU ${(100 * r.mfu).toFixed(1)}%`);
  if (r.peakMemoryGiB !== undefined) parts.push(`peak ${r.peakMemoryGiB.toFixed(1)} GiB`);
  return parts.join(', ');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const at = process.argv.indexOf('--json');
  benchEngineCuda(process.argv.includes('--quick'))
    .then((rows) => {
      if (at > 0) writeFileSync(process.argv[at + 1], JSON.stringify(rows, null, 2) + '\n');
      if (rows.length === 0) process.exitCode = 77; // skipped: scripts/device-check.sh counts it so
    })
    .catch((error) => {
      console.error(error);
      process.exitCode = 1;
    });
}
