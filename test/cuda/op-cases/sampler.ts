// Rows of the op table (test/cuda/ops.test.ts) for the sampler: sample_rows against the CPU's
// sample_token with the same Philox draws (native/cuda/model/checks/sampler_check.cu).
//   dims:   [rows, vocab, top_k, layout, ld_pad, kind]
//           top_k 0: no limit; layout 0: sample_rows' own (a cluster per row on sm_90),
//           1: one block per row streaming the row from global memory (the sm_80 path),
//           2: one block per row holding it in shared memory; ld_pad: floats between rows (an
//           odd pad misaligns rows for 16-byte loads); kind 0: mixed rows, 3: flat, 4: masked
//           (-inf), 5: all equal, 6: few distinct values (ties at every cut)
//   params: [temperature (0: greedy), top_p]
// Tokens must match exactly (the check reports mismatches as a count, so one fails the row).
// Ties cannot split the two sides: equal logits weigh the same on both and both order them by
// id, and distinct logits give distinct probabilities on these inputs. What is left, a draw
// within rounding of a boundary (~1e-12 of the mass), the check steers clear of: it verifies in
// long double that every row's u and top-p cut sit well away from the boundaries they depend on,
// and draws the row again (a new position, or new logits) when they do not. bf16 rounds the
// logits (still fp32 in memory), which makes exact ties common.
import type { OpCaseRow } from '../op-cases.js';

const QWEN = 151936;

/** One sampler row: `what` says what it covers. */
function row(what: string, dims: number[], temperature: number, topP = 1): OpCaseRow {
  return { op: 'sample_rows', dims, params: [temperature, topP], label: `${what} ${JSON.stringify(dims)} T=${temperature} top_p=${topP}` };
}

export const ROWS: OpCaseRow[] = [
  // Greedy: argmax, lowest id on ties, untempered log-prob.
  row('greedy', [64, QWEN, 0, 0, 0, 0], 0),
  row('greedy, one row', [1, 7, 0, 0, 0, 0], 0),
  row('greedy, all logits equal', [256, 32768, 0, 0, 0, 5], 0),
  // Nothing filtered: inverse CDF in id order.
  row('decode step, Qwen vocabulary', [256, QWEN, 0, 0, 0, 0], 1),
  row('misaligned rows', [64, 1000, 0, 0, 3, 0], 0.6),
  row('largest vocabulary', [64, 262144, 0, 0, 0, 0], 1.3),
  row('one row, tiny vocabulary', [1, 7, 0, 0, 0, 0], 1),
  row('masked logits', [64, 32768, 0, 0, 0, 4], 1),
  // top-k, then top-p over what it keeps.
  row('top-k 1', [64, 32768, 1, 0, 0, 0], 1),
  // With top-k 50, top_p is never a multiple of 1/50: mixed rows include all-equal ones (kind 5),
  // whose 50 kept weights put a cut at 0.9 exactly on an element's edge (see 'all logits equal').
  row('top-k 50 and top-p', [64, QWEN, 50, 0, 0, 0], 0.6, 0.93),
  row('top-k 50', [256, 1000, 50, 0, 0, 0], 1.3),
  row('top-k 50 and top-p, largest vocabulary', [64, 262144, 50, 0, 0, 0], 1, 0.7),
  row('top-k beyond the vocabulary', [64, 7, 50, 0, 0, 0], 1, 0.7),
  // top-p alone.
  row('top-p', [256, QWEN, 0, 0, 0, 0], 1, 0.9),
  row('top-p, one row', [1, QWEN, 0, 0, 0, 0], 1, 0.9),
  row('top-p', [64, 32768, 0, 0, 0, 0], 0.6, 0.7),
  row('top-p keeps one token', [64, QWEN, 0, 0, 0, 0], 1.3, 1e-6),
  row('top-p, tiny vocabulary, misaligned', [256, 7, 0, 0, 1, 0], 1.3, 0.9),
  // Shapes that stress the selection: big nuclei, ties at every cut, masked tokens.
  row('flat rows, large nucleus', [64, 32768, 0, 0, 0, 3], 1, 0.9),
  // top_p 0.93, not 0.9: over 50 equal weights 0.9 is the 45th element's edge exactly, so the check
  // (rightly) finds no draw away from the cut's rounding boundary and the row could never pass.
  row('all logits equal', [64, 1000, 50, 0, 0, 5], 1, 0.93),
  row('few distinct values', [64, 32768, 50, 0, 0, 6], 0.6, 0.7),
  row('masked logits, top-p', [64, QWEN, 0, 0, 0, 4], 1, 0.9),
  // The other layouts: streaming from global memory (sm_80), one resident block.
  row('streamed', [16, QWEN, 50, 1, 0, 0], 1, 0.93),
  row('streamed', [16, 32768, 0, 1, 1, 0], 1),
  row('streamed, greedy', [16, 1000, 0, 1, 0, 0], 0),
  row('one resident block', [16, 1000, 0, 2, 0, 0], 1, 0.7),
  row('one resident block', [16, 20000, 50, 2, 2, 0], 0.6),
];
