// One loss benchmark trial (run in a fresh process by benchmarks/loss.ts):
//   loss-trial.ts copy <bytes>                  plain memory copy, for the bandwidth ceiling
//   loss-trial.ts <impl> <n> <v> <dtype> <reps>  impl: native | reference
import { dapoLoss, numberToBf16, referenceDapoLoss } from '../src/index.js';
import type { NativeLossArgs } from '../src/native.js';
import { Rng } from '../test/helpers/random.js';
import { timeMedian, type BenchRow } from './trial.js';

function copyTrial(bytes: number): BenchRow[] {
  const src = new Float32Array(bytes / 4);
  for (let i = 0; i < src.length; i += 1024) src[i] = i;
  const dst = new Float32Array(src.length);
  const ms = timeMedian(() => dst.set(src), 7, 2);
  // A copy reads and writes every byte once.
  return [{ kernel: 'memcpy', impl: 'TypedArray.set', device: 'cpu', n: 0, v: 0, dtype: 'bytes', medianMs: ms, gbPerS: (2 * bytes) / ms / 1e6 }];
}

function lossArgs(n: number, v: number, dtype: string): NativeLossArgs {
  const rng = new Rng(n * 7919 + v);
  // Filled in place: a float32 copy of a multi-GiB bf16 input would not fit the JS heap.
  const logits = dtype === 'bf16' ? new Uint16Array(n * v) : new Float32Array(n * v);
  if (logits instanceof Uint16Array) for (let i = 0; i < logits.length; i++) logits[i] = numberToBf16((rng.next() - 0.5) * 8);
  else for (let i = 0; i < logits.length; i++) logits[i] = (rng.next() - 0.5) * 8;
  return {
    logits,
    vocabSize: v,
    tokens: Int32Array.from({ length: n }, () => rng.int(v)),
    oldLogprobs: Float32Array.from({ length: n }, () => -Math.log(v) + rng.uniform(-0.3, 0.3)),
    advantages: Float32Array.from({ length: n }, () => rng.uniform(-1, 1)),
    mask: new Uint8Array(n).fill(1),
    clipC: 10,
    entropy: true,
  };
}

function lossTrial(impl: string, n: number, v: number, dtype: string, reps: number): BenchRow[] {
  const args = lossArgs(n, v, dtype);
  const gradOut = new Float32Array(n * v);
  const run = impl === 'native' ? () => dapoLoss({ ...args, gradOut }) : () => referenceDapoLoss(args);
  const ms = timeMedian(run, reps, impl === 'native' ? 2 : 0);
  const bytes = n * v * ((dtype === 'bf16' ? 2 : 4) + 4); // logits read + gradient written
  return [{ kernel: 'dapoLoss', impl, device: 'cpu', n, v, dtype, medianMs: ms, gbPerS: bytes / ms / 1e6 }];
}

const [what, ...rest] = process.argv.slice(2);
const rows = what === 'copy' ? copyTrial(Number(rest[0])) : lossTrial(what, Number(rest[0]), Number(rest[1]), rest[2], Number(rest[3]));
console.log(JSON.stringify(rows));
