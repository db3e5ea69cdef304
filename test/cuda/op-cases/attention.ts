// Rows of the op table (test/cuda/ops.test.ts) for the attention ops.
import type { OpCaseRow } from '../op-cases.js';

export const ROWS: OpCaseRow[] = [];
