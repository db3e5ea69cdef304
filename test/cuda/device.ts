// Shared by the CUDA suite: whether a device is usable (else every test is skipped with the
// reason from cudaInfo(), never counted as passed), tolerances, and error reporting.
// Imports stay inside src/loss, src/policy and src/native.ts so that scripts/cuda-device-bundle.sh
// can bundle the suite for the GPU machine without the data and tokenizer packages.
import { join } from 'node:path';

import { numberToBf16 } from '../../src/loss/reference.js';
import { native, packageRoot, type Aggregation, type NativeLossArgs } from '../../src/native.js';
import { maxRelError, randomSeqIds, Rng } from '../helpers/random.js';

const info = native.cudaInfo();
/** Why the CUDA tests cannot run here, or undefined when they can. */
export const skipReason: string | undefined =
  info.loaded && info.devices > 0 ? undefined : `no usable CUDA device: ${info.reason ?? 'unknown reason'}`;
if (skipReason) console.log(`CUDA tests skipped: ${skipReason}`);
else console.log(`CUDA tests on ${info.deviceNames?.join(', ')}`);
/** Why the CUDA policy engine's tests cannot run here (no device, or a module without the engine). */
export const engineSkipReason: string | undefined =
  skipReason ?? (info.engine ? undefined : `the CUDA module has no policy engine: ${info.engineReason ?? 'unknown reason'}`);

/**
 * A path in the repository (fixtures). The GPU machine runs these suites as bundles from
 * .devcarry/dapo/dist/, where packageRoot is the bundle's folder: scripts/device-check.sh sets
 * DAPO_REPO_ROOT to the checkout.
 */
export function repoPath(relative: string): string {
  return join(process.env.DAPO_REPO_ROOT ?? packageRoot, relative);
}

/** The tolerances on max relative error. */
export const TOLERANCE = { f32: 1e-5, bf16: 2e-2 } as const;

/** Max relative errors by name, printed, then each checked against `tolerance`. */
export function checkErrors(label: string, errors: Record<string, number>, tolerance: number): void {
  const shown = Object.entries(errors).map(([k, v]) => `${k}=${v.toExponential(2)}`).join(' ');
  console.log(`  ${label}: max relative error ${shown} (tolerance ${tolerance})`);
  for (const [name, e] of Object.entries(errors)) {
    if (!(e <= tolerance)) throw new Error(`${label}: ${name} max relative error ${e} is above ${tolerance}`);
  }
}

export { maxRelError, randomSeqIds };


/** Random loss inputs whose ratios straddle both clip edges (as test/helpers/loss-inputs.ts). */
export function randomLossArgs(
  rng: Rng,
  c: { n: number; v: number; dtype: 'f32' | 'bf16'; aggregation: Aggregation; clipC?: number; entropy?: boolean },
): NativeLossArgs {
  const logitsF32 = rng.floats(c.n * c.v, 2);
  const logits = c.dtype === 'bf16' ? Uint16Array.from(logitsF32, numberToBf16) : logitsF32;
  const tokens = Int32Array.from({ length: c.n }, () => rng.int(c.v));
  const advantages = Float32Array.from({ length: c.n }, () => (rng.next() < 0.5 ? -1 : 1) * rng.uniform(0.1, 2));
  const mask = Uint8Array.from({ length: c.n }, () => (rng.next() < 0.8 ? 1 : 0));
  const current = native.dapoLoss({ logits, vocabSize: c.v, tokens, oldLogprobs: new Float32Array(c.n), advantages, mask }).logprobs;
  const oldLogprobs = Float32Array.from(current, (lp) => lp - Math.log(rng.uniform(0.55, 1.7)));
  return { logits, vocabSize: c.v, tokens, oldLogprobs, advantages, mask, seqIds: randomSeqIds(rng, c.n),
    aggregation: c.aggregation, clipC: c.clipC, entropy: c.entropy };
}

/** Random inputs of the log-probs mode, ratios across both clip edges. */
export function randomLogprobArgs(rng: Rng, n: number): NativeLossArgs {
  const logprobs = Float32Array.from({ length: n }, () => -rng.uniform(0.01, 5));
  return {
    logprobs,
    oldLogprobs: Float32Array.from(logprobs, (lp) => lp - Math.log(rng.uniform(0.55, 1.7))),
    advantages: Float32Array.from({ length: n }, () => rng.uniform(-2, 2)),
    mask: Uint8Array.from({ length: n }, () => (rng.next() < 0.8 ? 1 : 0)),
  };
}
