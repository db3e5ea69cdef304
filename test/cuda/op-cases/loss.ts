// Rows of the op table (test/cuda/ops.test.ts) for the loss kernels: every variant of the row
// sweep (native/cuda/row_loss.cuh) at the lab's vocabularies, in place and not, and the chunked
// LM head (native/cuda/lm_head_loss.cuh); with the temperature, the KL penalty, the NLL term and
// log-probs-only sweeps that only the CUDA engine reaches. What dims and params mean:
// native/cuda/model/checks/row_loss_check.cu and lm_head_loss_check.cu.
import type { OpCaseRow } from '../op-cases.js';

/** RowLossVariant (row_loss.cuh); -1 is the plan table's choice. */
const VARIANTS = { auto: -1, streaming: 0, residentWide: 1, residentLean: 2, l2TwoPass: 3, bulkCluster: 4 } as const;

/** params of a loss check: [temperature (0: 1), klCoef, term (0 DAPO, 1 NLL), log-probs only]. */
const TEMPERED = [0.7, 0, 0, 0];
const KL = [1, 0.3, 0, 0];
const NLL = [1, 0, 1, 0];
const LOGPROBS_ONLY = [1, 0, 0, 1];

function rowLoss(name: keyof typeof VARIANTS, n: number, v: number, inPlace: boolean,
  extra: Partial<OpCaseRow> = {}): OpCaseRow {
  const label = `${name} N=${n} V=${v}${inPlace ? ' in place' : ''}${extra.label ? ` ${extra.label}` : ''}`;
  return { op: 'row_loss', ...extra, dims: [n, v, VARIANTS[name], inPlace ? 1 : 0], label };
}

// Every variant at the lab's vocabularies (which are whole 16-byte vectors, as the bulk-copy
// variant needs), in place and not.
const VARIANT_ROWS: OpCaseRow[] = (Object.keys(VARIANTS) as Array<keyof typeof VARIANTS>).flatMap((name) => [
  rowLoss(name, 3, 5000, false),
  rowLoss(name, 4, 32768, false),
  rowLoss(name, 4, 32768, true),
  rowLoss(name, 2, 151936, false),
  rowLoss(name, 2, 151936, true),
  // 262144 fp32 values do not fit in the lean kernel's registers at its largest cluster.
  rowLoss(name, 2, 262144, true, name === 'residentLean' ? { dtypes: ['bf16'] } : {}),
]);

// Rows that are not whole 16-byte vectors: every variant but the bulk copies takes them.
const ODD_ROWS: OpCaseRow[] = (['auto', 'streaming', 'residentWide', 'residentLean', 'l2TwoPass'] as const).flatMap(
  (name) => [rowLoss(name, 5, 4099, false), rowLoss(name, 3, 1001, true), rowLoss(name, 1, 7, false)],
);

// The terms and modes the engine uses, across designs.
const MODE_ROWS: OpCaseRow[] = (['auto', 'streaming', 'residentLean', 'l2TwoPass', 'bulkCluster'] as const).flatMap(
  (name) => [
    rowLoss(name, 6, 32768, false, { params: TEMPERED, label: 'temperature 0.7' }),
    rowLoss(name, 6, 32768, true, { params: KL, label: 'KL 0.3' }),
    rowLoss(name, 6, 32768, false, { params: NLL, label: 'NLL' }),
    rowLoss(name, 6, 32768, false, { params: LOGPROBS_ONLY, label: 'log-probs only' }),
  ],
);

function lmHead(n: number, h: number, v: number, chunk: number, params: number[], label: string): OpCaseRow {
  return { op: 'lm_head_loss', dims: [n, h, v, chunk], params, label: `N=${n} H=${h} V=${v} chunk=${chunk || 'auto'} ${label}` };
}

const LM_HEAD_ROWS: OpCaseRow[] = [
  lmHead(17, 64, 1001, 0, [1, 0, 0, 0], 'one chunk'),
  lmHead(40, 48, 3000, 7, [1, 0, 0, 0], 'six chunks, the last short'),
  lmHead(33, 32, 2048, 11, TEMPERED, 'three chunks (a group of one), temperature 0.7'),
  lmHead(20, 40, 1500, 6, NLL, 'NLL'),
  lmHead(24, 40, 1500, 5, KL, 'KL 0.3'),
  lmHead(30, 32, 1000, 8, [0.8, 0, 0, 1], 'log-probs only, temperature 0.8'),
  lmHead(16, 24, 777, 4, [1.3, 0.2, 0, 0], 'temperature 1.3 and KL 0.2'),
];

export const ROWS: OpCaseRow[] = [
  ...VARIANT_ROWS,
  ...ODD_ROWS,
  rowLoss('auto', 2, 300007, false, { label: 'past every resident limit' }),
  rowLoss('streaming', 2, 300007, true),
  ...MODE_ROWS,
  ...LM_HEAD_ROWS,
];
