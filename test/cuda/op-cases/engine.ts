// Rows of the op table (test/cuda/ops.test.ts) for the engine ops.
import type { OpCaseRow } from '../op-cases.js';

export const ROWS: OpCaseRow[] = [];
