// Shared by the CUDA suite: whether a device is usable (else every test is skipped with the
// reason from cudaInfo(), never counted as passed), tolerances, and error reporting.
import { cudaInfo } from '../../src/index.js';
import { maxRelError } from '../helpers/random.js';

const info = cudaInfo();
/** Why the CUDA tests cannot run here, or undefined when they can. */
export const skipReason: string | undefined =
  info.loaded && info.devices > 0 ? undefined : `no usable CUDA device: ${info.reason ?? 'unknown reason'}`;
if (skipReason) console.log(`CUDA tests skipped: ${skipReason}`);
else console.log(`CUDA tests on ${info.deviceNames?.join(', ')}`);

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

export { maxRelError };
