// The fused DAPO loss, native against the TypeScript reference, with the machine's copy
// bandwidth measured in the same run as the ceiling.
import { freemem } from 'node:os';

import { runTrial, type BenchRow } from './trial.js';

const REFERENCE_MAX_ELEMENTS = 2048 * 32768; // the reference takes seconds beyond this

export function lossSizes(quick: boolean): Array<{ n: number; v: number; dtype: string }> {
  const ns = quick ? [512] : [512, 2048, 8192];
  const vs = quick ? [32768] : [32768, 151936];
  return ns.flatMap((n) => vs.flatMap((v) => ['f32', 'bf16'].map((dtype) => ({ n, v, dtype }))));
}

export async function benchLoss(quick: boolean, log: (line: string) => void): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const copy = runTrial('loss-trial.ts', ['copy', String(256 * 1024 * 1024)])[0];
  rows.push(copy);
  log(`memory copy: ${copy.gbPerS.toFixed(1)} GB/s (read + write, 256 MiB)`);
  for (const { n, v, dtype } of lossSizes(quick)) {
    const bytes = n * v * ((dtype === 'bf16' ? 2 : 4) + 4 + 4); // logits, gradient, and the trial's own copy
    if (bytes > 0.6 * freemem()) {
      log(`dapoLoss N=${n} V=${v} ${dtype}: skipped, needs ${(bytes / 2 ** 30).toFixed(1)} GiB`);
      continue;
    }
    const native = runTrial('loss-trial.ts', ['native', String(n), String(v), dtype, '7'])[0];
    rows.push(native);
    let line = `dapoLoss N=${n} V=${v} ${dtype}: native ${native.medianMs.toFixed(1)} ms, ${native.gbPerS.toFixed(1)} GB/s (${(
      (100 * native.gbPerS) /
      copy.gbPerS
    ).toFixed(0)}% of copy)`;
    if (n * v <= REFERENCE_MAX_ELEMENTS) {
      const reference = runTrial('loss-trial.ts', ['reference', String(n), String(v), dtype, quick ? '1' : '3'])[0];
      rows.push(reference);
      line += `, reference ${reference.medianMs.toFixed(0)} ms, speedup ${(reference.medianMs / native.medianMs).toFixed(1)}x`;
    }
    log(line);
  }
  return rows;
}
