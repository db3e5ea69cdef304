// Model FLOPs and device peaks, for MFU (model FLOPs utilisation, PaLM's appendix B):
// the FLOPs a step must do by the model's arithmetic, over the time it took, over the device's
// peak dense bf16 tensor-core rate. Recomputation (--recompute) is not counted: it is work the
// engine chooses to redo, not work of the model.
import type { NativePolicyConfig } from './native-types.js';

/** Weights that take part in a matrix product per token: the projections and the LM head (the embedding lookup costs none). */
export function matmulParameters(c: NativePolicyConfig): number {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const perLayer = c.hiddenSize * q + 2 * c.hiddenSize * kv + q * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize;
  return c.numLayers * perLayer + c.vocabSize * c.hiddenSize;
}

/**
 * Forward FLOPs of one sequence of `length` tokens: 2 per matmul weight per token, and causal
 * attention, QK^T and PV over the lower triangle (2 x 2 x heads x headDim x length(length + 1)/2
 * per layer). PaLM's 12 L H Q T counts the full square; counting the triangle the kernels
 * compute gives a lower, stricter MFU at long lengths.
 */
export function forwardFlops(c: NativePolicyConfig, length: number): number {
  const attention = c.numLayers * 2 * c.numHeads * c.headDim * length * (length + 1);
  return 2 * matmulParameters(c) * length + attention;
}

/** Forward + backward (the backward costs twice the forward). */
export function trainFlops(c: NativePolicyConfig, length: number): number {
  return 3 * forwardFlops(c, length);
}

/**
 * Peak dense bf16 tensor-core FLOP/s by device name (NVIDIA's data sheets, without sparsity),
 * first match wins. Undefined for a device not listed: MFU is then not reported.
 */
export const PEAK_BF16_FLOPS: ReadonlyArray<{ match: RegExp; flops: number; name: string }> = [
  { match: /\bB200\b/, flops: 2250e12, name: 'B200' },
  { match: /\bGH200\b/, flops: 989.4e12, name: 'GH200' },
  { match: /\bH200 NVL\b/, flops: 835e12, name: 'H200 NVL' },
  { match: /\bH200\b/, flops: 989.4e12, name: 'H200 SXM' },
  { match: /\bH100 NVL\b/, flops: 835e12, name: 'H100 NVL' },
  { match: /\bH100 PCIe\b/, flops: 756e12, name: 'H100 PCIe' },
  { match: /\bH100\b/, flops: 989.4e12, name: 'H100 SXM' },
  { match: /\bA100\b/, flops: 312e12, name: 'A100' },
  { match: /\bL40S\b/, flops: 362.05e12, name: 'L40S' },
  { match: /\bL4\b/, flops: 121e12, name: 'L4' },
  { match: /\bA10\b/, flops: 125e12, name: 'A10' },
];

export function peakBf16Flops(deviceName: string | undefined): number | undefined {
  if (!deviceName) return undefined;
  return PEAK_BF16_FLOPS.find((p) => p.match.test(deviceName))?.flops;
}
