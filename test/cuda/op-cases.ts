// The table of test/cuda/ops.test.ts: one row per (op, shape); each row runs in fp32 and bf16
// unless it names its dtypes. What `dims`, `lengths` and `params` mean is documented at each
// op's check (native/cuda/model/checks/*.cu). Rows live in op-cases/<family>.ts.
import { ROWS as attention } from './op-cases/attention.js';
import { ROWS as engine } from './op-cases/engine.js';
import { ROWS as layers } from './op-cases/layers.js';
import { ROWS as loss } from './op-cases/loss.js';
import { ROWS as sampler } from './op-cases/sampler.js';

export interface OpCaseRow {
  op: string;
  dims?: number[];
  lengths?: number[];
  params?: number[];
  dtypes?: ReadonlyArray<'f32' | 'bf16'>;
  /** Overrides the default tolerance (f32 1e-5, bf16 2e-2); say why in `label`. */
  tolerance?: Partial<Record<'f32' | 'bf16', number>>;
  label?: string;
}

export const OP_CASES: OpCaseRow[] = [...layers, ...attention, ...sampler, ...engine, ...loss];
