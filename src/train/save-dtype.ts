// --save-dtype: the dtype of final/model.safetensors. The engines keep fp32 master weights;
// 'auto' writes what the source model was saved in, so a bf16 model comes back bf16 (half the
// size of fp32), rounded from the fp32 weights to nearest even as PyTorch's .to(bfloat16).
// Checkpoints stay fp32: a resume must continue from the exact weights.
import { resolve } from 'node:path';

import { readModelHeaders } from '../policy/safetensors.js';
import type { TrainConfig } from './config.js';

export type SavedDtype = 'float32' | 'bfloat16';

/**
 * The dtype a model folder's weights are stored in, as dapo can write it: 'bfloat16' when its
 * floating tensors are all BF16, else 'float32' (fp32, mixed, and fp16, which bf16 would
 * round more coarsely than the source: fp32 keeps every fp16 value exactly).
 */
export function sourceDtype(modelDir: string): SavedDtype {
  const dtypes = new Set([...readModelHeaders(resolve(modelDir)).values()].map((t) => t.dtype).filter((d) => d.startsWith('F') || d === 'BF16'));
  return dtypes.size === 1 && dtypes.has('BF16') ? 'bfloat16' : 'float32';
}

/** The dtype final/ is written in for this run. */
export function finalModelDtype(config: Pick<TrainConfig, 'saveDtype' | 'model'>): SavedDtype {
  if (config.saveDtype !== 'auto') return config.saveDtype;
  return config.model.startsWith('builtin:') ? 'float32' : sourceDtype(config.model);
}
