// Rows of the op table (test/cuda/ops.test.ts) for the layer ops: cast, embedding, rmsnorm,
// rope, swiglu, bias, gemm, adamw. What each dim and param means is documented at the op's
// check (native/cuda/model/checks/<op>_check.cu). Shapes cover: one row or one element, odd
// sizes and sizes that are not a multiple of the 16-byte vector width (bf16 x 8, f32 x 4: the
// scalar paths), misaligned pointers, the Qwen2.5-0.5B shapes (hidden 896, intermediate 4864,
// 14 heads and 2 KV heads of 64, vocab 151936, 8192 tokens a batch), and large row counts.
// Every row runs with the default tolerances (f32 1e-5, bf16 2e-2 relative to the output's
// scale): in bf16 mode the CPU twin runs in fp32 on the same bf16-rounded inputs, so the only
// bf16 error is the rounding of a bf16 output (2^-9 of a value).
import type { OpCaseRow } from '../op-cases.js';

/** Qwen2.5-0.5B. */
const H = 896;
const I = 4864;
const TOKENS = 8192;
const VOCAB = 151936;

const cast: OpCaseRow[] = [
  { op: 'cast', dims: [1, 0], label: 'one element' },
  { op: 'cast', dims: [1000003, 0], label: 'odd n: vector body and scalar tail' },
  { op: 'cast', dims: [4099, 1], label: 'pointers off 16-byte alignment: scalar path' },
  { op: 'cast', dims: [1 << 25, 0], label: '2^25 elements' },
];

const embedding: OpCaseRow[] = [
  { op: 'embedding_forward', dims: [1, 7, 11], label: 'one row, odd hidden (scalar path)' },
  { op: 'embedding_forward', dims: [37, 100, 50], label: 'hidden 100: f32 vector path, bf16 scalar path' },
  { op: 'embedding_forward', dims: [TOKENS, H, 32768], label: 'Qwen hidden, 8192 tokens, vocab 32768' },
  {
    op: 'embedding_forward',
    dims: [TOKENS, H, VOCAB],
    dtypes: ['bf16'],
    label: 'Qwen2.5-0.5B table (bf16 only: the f32 path is the rows above, and a 136M-value table costs seconds of host time per dtype)',
  },
  { op: 'embedding_backward', dims: [1, 7, 3], label: 'one row, odd hidden' },
  { op: 'embedding_backward', dims: [513, H, 5], label: 'vocab 5: ~100 rows per token (the long serial groups)' },
  { op: 'embedding_backward', dims: [1000, 13, 40], label: 'odd hidden (scalar path), repeated tokens' },
  { op: 'embedding_backward', dims: [TOKENS, H, 32768], label: 'Qwen hidden, 8192 tokens, most table rows untouched' },
];

const rmsnorm: OpCaseRow[] = [
  { op: 'rmsnorm_forward', dims: [1, H], label: 'one row' },
  { op: 'rmsnorm_forward', dims: [3, 7], label: 'odd dim (scalar path, 4 threads a row)' },
  { op: 'rmsnorm_forward', dims: [5, 12], params: [1e-5], label: 'dim 12: f32 vector, bf16 scalar; eps 1e-5' },
  { op: 'rmsnorm_forward', dims: [TOKENS, H], label: 'Qwen hidden, 8192 tokens' },
  { op: 'rmsnorm_forward', dims: [TOKENS * 14, 64], label: 'qk-norm shape: 14 heads x 8192 tokens of 64' },
  { op: 'rmsnorm_forward', dims: [64, 8192], label: 'wide rows: each thread loops' },
  { op: 'rmsnorm_forward', dims: [513, 100, 1], label: 'in place (y over x), dim 100' },
  { op: 'add_rmsnorm_forward', dims: [1, H, 0], label: 'one row' },
  { op: 'add_rmsnorm_forward', dims: [7, 13, 0], label: 'odd dim' },
  { op: 'add_rmsnorm_forward', dims: [33, 100, 1], label: 'sum written over a, dim 100' },
  { op: 'add_rmsnorm_forward', dims: [TOKENS, H, 1], label: 'Qwen residual stream, in place' },
  { op: 'rmsnorm_backward', dims: [1, H, 0, 1], label: 'one row with dw' },
  { op: 'rmsnorm_backward', dims: [17, 13, 1, 1], label: 'odd dim, accumulate dx, dw' },
  { op: 'rmsnorm_backward', dims: [5, 24, 0, 0], label: 'no dw (dw must stay as it was)' },
  { op: 'rmsnorm_backward', dims: [200, 4100, 0, 1], label: 'dim 4100: f32 vector, bf16 scalar' },
  { op: 'rmsnorm_backward', dims: [TOKENS, H, 1, 1], label: 'Qwen hidden, 8192 tokens, accumulate dx' },
  { op: 'rmsnorm_backward', dims: [TOKENS * 14, 64, 0, 1], label: 'qk-norm shape: 1792 dw chunks' },
];

const rope: OpCaseRow[] = [];
for (const op of ['rope', 'rope_inverse']) {
  rope.push(
    { op, dims: [1, 1, 2, 0, 1], label: 'one row, one head of 2' },
    { op, dims: [37, 3, 10, 3, 50], label: 'head_dim 10 (scalar path), padded rows' },
    { op, dims: [64, 4, 24, 4, 100], label: 'head_dim 24: f32 vector, bf16 scalar' },
    { op, dims: [TOKENS, 14, 64, 0, 1024], params: [1e6], label: 'Qwen q heads, theta 1e6' },
    { op, dims: [300, 8, 128, 0, 4096], params: [5e5, 8, 8192], label: 'llama3 scaling, head_dim 128' },
  );
}
rope.push({
  op: 'rope',
  dims: [TOKENS, 2, 64, 1024, 1024],
  params: [1e6],
  label: 'Qwen k heads inside a fused q|k|v row (ld 1152)',
});

const swiglu: OpCaseRow[] = [
  { op: 'swiglu_forward', dims: [1, 1, 0, 0, 0], label: 'one value' },
  { op: 'swiglu_forward', dims: [33, 1001, 0, 3, 0], label: 'odd cols, padded rows' },
  { op: 'swiglu_forward', dims: [10, 20, 1, 4, 0], label: 'fused halves, cols 20: f32 vector, bf16 scalar' },
  { op: 'swiglu_forward', dims: [TOKENS, I, 1, 0, 0], label: 'Qwen gate|up GEMM output, 8192 tokens' },
  { op: 'swiglu_forward', dims: [1024, I, 0, 0, 0], label: 'Qwen intermediate, separate buffers, 1024 tokens' },
  { op: 'swiglu_backward', dims: [1, 1, 0, 0, 0], label: 'one value' },
  { op: 'swiglu_backward', dims: [33, 1001, 1, 3, 0], label: 'fused, odd cols, padded rows' },
  { op: 'swiglu_backward', dims: [10, 20, 0, 4, 1], label: 'in place over g and u, cols 20' },
  { op: 'swiglu_backward', dims: [TOKENS, I, 1, 0, 1], label: 'Qwen: in place over the gate|up output' },
  { op: 'swiglu_backward', dims: [1024, I, 0, 0, 0], label: 'Qwen intermediate, separate buffers, 1024 tokens' },
];

const bias: OpCaseRow[] = [
  { op: 'add_bias', dims: [1, 1, 0], label: 'one value' },
  { op: 'add_bias', dims: [33, 13, 3], label: 'odd cols, padded rows' },
  { op: 'add_bias', dims: [TOKENS, H, 0], label: 'Qwen q bias, 8192 tokens' },
  { op: 'add_bias', dims: [TOKENS, 128, 1024], label: 'Qwen k bias inside a fused q|k|v row' },
  { op: 'add_column_sums', dims: [1, 1, 0], label: 'one value' },
  { op: 'add_column_sums', dims: [1000, 13, 3], label: 'odd cols, padded rows' },
  { op: 'add_column_sums', dims: [TOKENS, H, 0], label: 'Qwen q bias gradient, 8192 tokens' },
  { op: 'add_column_sums', dims: [TOKENS, 128, 1024], label: 'Qwen k bias gradient inside a fused q|k|v row' },
  { op: 'add_column_sums', dims: [100000, 8, 0], label: '100000 rows: 1563 chunks' },
];

const gemm: OpCaseRow[] = [{ op: 'gemm', dims: [1, 1, 1, 0, 0, 0, 0, 0], label: '1 x 1 x 1' }];
for (const ta of [0, 1])
  for (const tb of [0, 1]) {
    gemm.push({ op: 'gemm', dims: [37, 29, 23, ta, tb, 0, 0, 0], label: `odd sizes, trans_a ${ta} trans_b ${tb}` });
    gemm.push({
      op: 'gemm',
      dims: [37, 29, 23, ta, tb, 0, 0, 1],
      dtypes: ['bf16'],
      label: `odd sizes, bf16 -> f32, trans_a ${ta} trans_b ${tb}`,
    });
  }
gemm.push(
  { op: 'gemm', dims: [37, 29, 23, 0, 1, 1, 0, 0], params: [1, 1], label: 'separate C, beta 1' },
  { op: 'gemm', dims: [17, 33, 65, 1, 1, 1, 5, 0], params: [0.5, 0.25], label: 'alpha 0.5, beta 0.25, padded rows' },
  { op: 'gemm', dims: [64, 48, 80, 1, 0, 2, 3, 1], params: [1, 1], label: 'in place (C is D), beta 1, bf16 -> f32' },
  { op: 'gemm', dims: [64, 48, 80, 1, 0, 2, 3, 0], params: [1, 1], label: 'in place (C is D), beta 1' },
  { op: 'gemm', dims: [2048, I, H, 0, 1, 0, 0, 0], label: 'Qwen up projection forward: X W^T, 2048 tokens' },
  { op: 'gemm', dims: [2048, I, H, 0, 0, 0, 0, 0], label: 'Qwen down projection backward: dY W, 2048 tokens' },
  {
    op: 'gemm',
    dims: [H, I, 2048, 1, 0, 2, 0, 1],
    params: [1, 1],
    label: 'Qwen down weight gradient: dW += dY^T X into fp32, 2048 tokens',
  },
);

const adamw: OpCaseRow[] = [
  { op: 'grad_norm', dims: [1, 0], dtypes: ['f32'], label: 'one value (no element type: f32 row only)' },
  { op: 'grad_norm', dims: [65537, 1], dtypes: ['f32'], label: 'one chunk and one value, unaligned' },
  { op: 'grad_norm', dims: [10000019, 0], dtypes: ['f32'], label: '10M values: 153 chunks' },
  { op: 'adamw_update', dims: [1, 1, 1, 1, 0], params: [1e-3, 0.1, 0], label: 'one parameter, first step' },
  { op: 'adamw_update', dims: [100003, 37, 5, 1, 0], params: [1e-3, 0.1, 1], label: 'clipped (norm ~316 > 1), step 5' },
  { op: 'adamw_update', dims: [100003, 37, 5, 1, 1], params: [1e-3, 0.1, 0], label: 'unaligned: scalar path' },
  { op: 'adamw_update', dims: [4099, 4096, 1, 0, 0], params: [1e-3, 0.1, 0], label: 'spans shorter than a vector, no compute copy' },
  { op: 'adamw_update', dims: [10000019, 300, 1000, 1, 0], params: [1e-4, 0.01, 0], label: '10M parameters, 300 spans, step 1000' },
];

export const ROWS: OpCaseRow[] = [...cast, ...embedding, ...rmsnorm, ...rope, ...swiglu, ...bias, ...gemm, ...adamw];
