// Rows of the op table (test/cuda/ops.test.ts) for the attention ops. What dims and lengths mean
// is documented at the top of native/cuda/model/checks/attention_check.cu:
//   attention_forward / attention_backward: dims [heads, kv_heads, head_dim, variant, layout],
//     variant 0 = the launchers' choice (MMA for bf16 with head_dim 64 / 128), 1 = SIMT, 2 = MMA;
//     layout 1 = q, k, v in one fused buffer and a padded out stride; lengths = packed sequences.
//   attention_decode: dims [heads, kv_heads, head_dim, slots, capacity, max_length (0: capacity)],
//     lengths = one decoded row per entry.
//   kv_cache: dims [kv_heads, head_dim, slots, capacity, rows written, copy length].
// Head dims: 6 (llama / qwen2 fixtures), 8 (qwen3 fixture), 16 (builtin:tiny), 64 (Qwen2.5-0.5B,
// builtin:llama-20m), 128, and the edges 2, 80, 256. Tiles are 16 / 32 / 64 rows, so lengths
// straddle them. Every row runs in fp32 and bf16 unless it names one.
import type { OpCaseRow } from '../op-cases.js';

const AUTO = 0;
const SIMT = 1;
const MMA = 2;

/** Lengths 1 .. n with a few tile edges mixed in. */
const SHORT = [3, 1, 7, 12, 2, 9, 5, 16, 1, 4, 30, 11, 17, 33];
const EDGES = [63, 64, 65, 0, 127, 129, 31, 32, 33];

const PACKED: OpCaseRow[] = [
  { op: '', dims: [4, 2, 6, AUTO, 0], lengths: [1], label: 'one sequence of 1, head_dim 6 (llama / qwen2 fixtures)' },
  { op: '', dims: [4, 2, 8, AUTO, 1], lengths: SHORT, label: 'many short sequences, head_dim 8 (qwen3 fixture), fused qkv' },
  { op: '', dims: [4, 2, 16, AUTO, 0], lengths: [17, 100, 5, 65], label: 'head_dim 16 (builtin:tiny), lengths off the tiles' },
  { op: '', dims: [6, 2, 64, AUTO, 1], lengths: EDGES, label: 'GQA 3, head_dim 64 (builtin:llama-20m), tile edges and an empty sequence' },
  { op: '', dims: [14, 2, 64, AUTO, 1], lengths: [1024], label: 'Qwen2.5-0.5B heads (GQA 7, head_dim 64), one sequence of 1024, fused qkv' },
  { op: '', dims: [14, 2, 64, SIMT, 1], lengths: [1024], dtypes: ['bf16'], label: 'as above on the SIMT kernels' },
  { op: '', dims: [14, 2, 64, MMA, 0], lengths: [300, 1, 77, 64, 190], dtypes: ['bf16'], label: 'MMA, GQA 7, head_dim 64, mixed lengths' },
  { op: '', dims: [8, 8, 128, MMA, 1], lengths: [200, 77, 129, 1], dtypes: ['bf16'], label: 'MMA, MHA (GQA 1), head_dim 128, fused qkv' },
  { op: '', dims: [8, 4, 128, AUTO, 0], lengths: [513, 40], label: 'GQA 2, head_dim 128 (MMA in bf16)' },
  { op: '', dims: [8, 4, 128, SIMT, 0], lengths: [513, 40], dtypes: ['bf16'], label: 'GQA 2, head_dim 128 on the SIMT kernels' },
  { op: '', dims: [4, 1, 80, AUTO, 0], lengths: [50, 33], label: 'head_dim 80: lanes past the head idle' },
  { op: '', dims: [2, 2, 256, AUTO, 1], lengths: [70, 3], label: 'head_dim 256, the largest' },
  { op: '', dims: [3, 3, 2, AUTO, 0], lengths: [40, 1, 9], label: 'head_dim 2, the smallest' },
];

// A lone row's dq and dk are 0 exactly (P = 1, dP = delta), so their reference is rounding noise
// and a relative error says nothing: the backward sees the sequence of 1 beside one of 2.
const BACKWARD = PACKED.map((r, i) =>
  i === 0 ? { ...r, lengths: [1, 2], label: 'a sequence of 1 beside one of 2, head_dim 6 (llama / qwen2 fixtures)' } : r,
);

export const ROWS: OpCaseRow[] = [
  ...PACKED.map((r) => ({ ...r, op: 'attention_forward' })),
  ...BACKWARD.map((r) => ({ ...r, op: 'attention_backward' })),
  {
    op: 'attention_decode',
    dims: [14, 2, 64, 16, 1100, 0],
    lengths: [1, 2, 127, 128, 129, 255, 256, 257, 640, 1000, 1100],
    label: 'Qwen2.5-0.5B heads, lengths 1 .. 1100 over 9 splits of 128 keys (few blocks)',
  },
  {
    op: 'attention_decode',
    dims: [14, 2, 64, 64, 640, 0],
    lengths: Array.from({ length: 64 }, (_, i) => 1 + ((i * 97) % 640)),
    label: '64 rows of lengths 1 .. 640: enough blocks for splits of 256 keys',
  },
  { op: 'attention_decode', dims: [4, 2, 8, 4, 128, 100], lengths: [1, 50, 100, 0], label: 'one split (no combine pass), a length of 0' },
  { op: 'attention_decode', dims: [8, 8, 128, 8, 300, 0], lengths: [300, 1, 299, 150, 129], label: 'MHA, head_dim 128' },
  { op: 'attention_decode', dims: [16, 2, 256, 4, 200, 0], lengths: [200, 3, 129, 64, 5, 200], label: 'GQA 8, head_dim 256' },
  { op: 'attention_decode', dims: [4, 2, 6, 6, 260, 0], lengths: [260, 1, 131, 7, 6, 9, 200], label: 'head_dim 6: rows not 16-byte aligned, element loads' },
  { op: 'kv_cache', dims: [2, 64, 4, 50, 60, 33], label: 'head_dim 64: 16-byte copies' },
  { op: 'kv_cache', dims: [2, 6, 70, 10, 100, 7], label: 'head_dim 6, 69 copy targets (two launches), element copies' },
];
