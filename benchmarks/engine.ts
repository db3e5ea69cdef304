// The policy engine's benchmark: GEMM GFLOP/s at transformer-like shapes against the naive
// loop and the machine's peak (cores x clock x FLOPs per cycle), then training tokens/s
// (forward + loss + backward, and the AdamW step) and generation tokens/s for builtin:tiny and
// builtin:llama-20m. `node --import tsx benchmarks/engine.ts [--quick]` runs it alone.
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

import { native } from '../src/native.js';
import { Policy, packBatch, type TrainBatch } from '../src/policy/index.js';
import { median, timeMedianAsync } from './trial.js';

export interface EngineBenchRow {
  bench: 'gemm' | 'train' | 'generate';
  what: string;
  impl: string;
  medianMs: number;
  gflops?: number;
  pctOfPeak?: number;
  /** From the fastest repetition: other processes only ever slow a run down. */
  bestGflops?: number;
  bestPctOfPeak?: number;
  /** GFLOP per CPU-second used, against one core's peak: the kernel's efficiency even when
   * other processes share the cores (wall-clock figures then understate it). */
  pctOfCorePeakPerCpuS?: number;
  tokensPerS?: number;
  /** CUDA rows: model FLOPs utilisation against the device's peak dense bf16 rate (src/policy/flops.ts). */
  mfu?: number;
  /** CUDA rows: the engine's peak device memory during the measured calls. */
  peakMemoryGiB?: number;
  note?: string;
}

export interface PeakEstimate {
  cores: number;
  ghz: number;
  flopsPerCycle: number;
  gflops: number;
}

/** cores x clock x FLOPs per cycle per core (2 FMA pipes x 8 fp32 lanes x 2 with AVX2/FMA, else 8). */
export function peakEstimate(): PeakEstimate {
  const cores = native.numThreads();
  let mhz = 0;
  try {
    for (const line of readFileSync('/proc/cpuinfo', 'utf8').split('\n'))
      if (line.startsWith('cpu MHz')) mhz = Math.max(mhz, Number(line.split(':')[1]));
  } catch {
    mhz = 0;
  }
  if (!mhz) mhz = Math.max(...cpus().map((c) => c.speed));
  const flopsPerCycle = native.cpuFeatures().avx2 ? 32 : 8;
  const ghz = mhz / 1000;
  return { cores, ghz, flopsPerCycle, gflops: cores * ghz * flopsPerCycle };
}

function rand(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
}

/** Median and best wall ms, and the mean CPU ms (all threads) per call. */
function timeSync(fn: () => void, reps: number): { ms: number; bestMs: number; cpuMs: number } {
  fn();
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const cpu = process.cpuUsage(cpu0);
  return { ms: median(times), bestMs: Math.min(...times), cpuMs: (cpu.user + cpu.system) / 1000 / reps };
}

function benchGemm(quick: boolean, peak: PeakEstimate): EngineBenchRow[] {
  const rows: EngineBenchRow[] = [];
  // [m, n, k, transB, label]: square sizes, then a llama-20m layer at 512 tokens (x W^T).
  const shapes: [number, number, number, boolean, string][] = [
    [256, 256, 256, false, 'square'],
    [512, 512, 512, false, 'square'],
    [1024, 1024, 1024, false, 'square'],
    [512, 1152, 384, true, 'qkv projection, 512 tokens'],
    [512, 1024, 384, true, 'gate/up projection'],
    [512, 384, 1024, true, 'down projection'],
    [64, 8192, 384, true, 'LM head, 64 rows (decode)'],
  ];
  if (!quick) shapes.splice(3, 0, [2048, 2048, 2048, false, 'square']);
  for (const [m, n, k, transB, label] of quick ? shapes.slice(0, 2) : shapes) {
    const a = rand(m * k);
    const b = rand(k * n);
    const flops = 2 * m * n * k;
    const reps = Math.max(3, Math.min(30, Math.round(2e10 / flops)));
    const { ms, bestMs, cpuMs } = timeSync(() => native.gemm({ a, b, m, n, k, transB }), reps);
    const gflops = flops / ms / 1e6;
    const best = flops / bestMs / 1e6;
    const corePeak = peak.gflops / peak.cores;
    rows.push({
      bench: 'gemm',
      what: `${m}x${n}x${k} ${label}`,
      impl: 'dapo',
      medianMs: ms,
      gflops,
      pctOfPeak: (100 * gflops) / peak.gflops,
      pctOfCorePeakPerCpuS: (100 * (flops / cpuMs / 1e6)) / corePeak,
      bestGflops: best,
      bestPctOfPeak: (100 * best) / peak.gflops,
    });
    if (m * n * k <= 512 ** 3) {
      const nms = timeSync(() => native.gemm({ a, b, m, n, k, transB, naive: true }), 1).ms;
      const ng = flops / nms / 1e6;
      rows.push({ bench: 'gemm', what: `${m}x${n}x${k} ${label}`, impl: 'naive', medianMs: nms, gflops: ng, pctOfPeak: (100 * ng) / peak.gflops });
    }
  }
  return rows;
}

async function benchModel(model: string, quick: boolean): Promise<EngineBenchRow[]> {
  const rows: EngineBenchRow[] = [];
  const p = await Policy.load(`builtin:${model}`, { seed: 1 });
  const v = p.config.vocabSize;
  const seqs = model === 'tiny' ? 16 : 8;
  const promptLen = 32;
  const respLen = model === 'tiny' ? 96 : quick ? 64 : 224;
  const pairs = Array.from({ length: seqs }, (_, s) => ({
    prompt: Int32Array.from({ length: promptLen }, (_, i) => (s * 31 + i * 7) % v),
    response: Int32Array.from({ length: respLen }, (_, i) => (s * 17 + i * 13 + 5) % v),
  }));
  const batch: TrainBatch = packBatch(pairs);
  const lp = await p.logprobs(batch);
  batch.oldLogprobs = lp;
  batch.advantages = Float32Array.from(lp, (_, i) => (i % 2 ? 1 : -1));
  const tokens = batch.tokens.length;
  const reps = quick ? 2 : 3;
  const acc = await timeMedianAsync(() => p.accumulate(batch, { kind: 'dapo' }), reps);
  const step = await timeMedianAsync(() => p.step({ lr: 1e-6 }), reps);
  const params = p.numParameters;
  // Forward + backward is about 6 FLOPs per parameter per token (attention not counted).
  const gflops = (6 * params * tokens) / acc / 1e6;
  rows.push({
    bench: 'train',
    what: `builtin:${model} (${(params / 1e6).toFixed(1)}M), ${seqs} x ${promptLen + respLen} tokens`,
    impl: 'accumulate (dapo)',
    medianMs: acc,
    tokensPerS: (tokens / acc) * 1000,
    gflops,
    note: `AdamW step ${step.toFixed(1)} ms`,
  });
  const lpMs = await timeMedianAsync(() => p.logprobs(batch), reps);
  rows.push({ bench: 'train', what: `builtin:${model}, same batch`, impl: 'logprobs (forward)', medianMs: lpMs, tokensPerS: (tokens / lpMs) * 1000 });
  const prompts = pairs.map((x) => x.prompt);
  const maxNew = model === 'tiny' ? 64 : quick ? 16 : 64;
  let generated = 0;
  const genMs = await timeMedianAsync(async () => {
    const groups = await p.generate(prompts, { n: 2, maxNewTokens: maxNew, seed: 1, stop: [] });
    generated = groups.flat().reduce((a, r) => a + r.tokens.length, 0);
  }, quick ? 1 : 2);
  rows.push({
    bench: 'generate',
    what: `builtin:${model}, ${prompts.length} prompts x 2 samples, ${maxNew} new tokens`,
    impl: 'generate (KV cache)',
    medianMs: genMs,
    tokensPerS: (generated / genMs) * 1000,
  });
  p.dispose();
  return rows;
}

export async function benchEngine(quick = false, log: (line: string) => void = console.log): Promise<EngineBenchRow[]> {
  const peak = peakEstimate();
  const load = loadavg()[0];
  log(`engine: load average ${load.toFixed(2)} on ${cpus().length} cores before the run (other processes slow the wall-clock figures)`);
  log(
    `engine: peak estimate ${peak.gflops.toFixed(1)} GFLOP/s = ${peak.cores} cores x ${peak.ghz.toFixed(2)} GHz x ${peak.flopsPerCycle} FLOPs/cycle` +
      ` (${native.cpuFeatures().avx2 ? 'AVX2/FMA' : 'generic'} kernels)`,
  );
  const rows = benchGemm(quick, peak);
  for (const model of quick ? ['tiny'] : ['tiny', 'llama-20m']) rows.push(...(await benchModel(model, quick)));
  return rows;
}

export function printEngineRows(rows: EngineBenchRow[]): void {
  console.table(
    rows.map((r) => ({
      bench: r.bench,
      what: r.what,
      impl: r.impl,
      ms: +r.medianMs.toFixed(2),
      'GFLOP/s': r.gflops === undefined ? '' : +r.gflops.toFixed(1),
      '% peak': r.pctOfPeak === undefined ? '' : +r.pctOfPeak.toFixed(1),
      'best % peak': r.bestPctOfPeak === undefined ? '' : +r.bestPctOfPeak.toFixed(1),
      '% core peak per CPU-s': r.pctOfCorePeakPerCpuS === undefined ? '' : +r.pctOfCorePeakPerCpuS.toFixed(1),
      'tokens/s': r.tokensPerS === undefined ? '' : Math.round(r.tokensPerS),
      MFU: r.mfu === undefined ? '' : `${(100 * r.mfu).toFixed(1)}%`,
      'peak GiB': r.peakMemoryGiB === undefined ? '' : +r.peakMemoryGiB.toFixed(2),
      note: r.note ?? '',
    })),
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  benchEngine(process.argv.includes('--quick'))
    .then((rows) => {
      printEngineRows(rows);
      if (process.argv.includes('--json')) console.log(JSON.stringify(rows));
    })
    .catch((error) => {
      console.error(error);
      process.exitCode = 1;
    });
}
