// Rows of the op table (test/cuda/ops.test.ts) for the engine's own kernels
// (native/cuda/model/engine_rows.cuh). A copy is exact: the tolerance is 0 in both dtypes.
import type { OpCaseRow } from '../op-cases.js';

const exact = { f32: 0, bf16: 0 };

// copy_rows dims: [n, cols, src rows, dst rows, mode (0 gather, 1 scatter, 2 both), row padding]
export const ROWS: OpCaseRow[] = [
  { op: 'copy_rows', dims: [1, 1, 1, 1, 0, 0], tolerance: exact, label: 'one element' },
  { op: 'copy_rows', dims: [100, 896, 300, 100, 0, 0], tolerance: exact, label: 'gather targets (16-byte path)' },
  { op: 'copy_rows', dims: [100, 896, 100, 300, 1, 0], tolerance: exact, label: 'scatter target gradients' },
  { op: 'copy_rows', dims: [37, 61, 50, 80, 2, 3], tolerance: exact, label: 'odd width, padded rows (scalar path)' },
  { op: 'copy_rows', dims: [64, 4096, 8, 64, 0, 8], tolerance: exact, label: 'prompt rows to sequences, repeated' },
];
