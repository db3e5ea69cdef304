// Types of the CUDA backend's part of the addon (bindings/cuda_*.cc) and of the LM-head loss.
import type { LossSettings, LossStats, NativeLossArgs, NativeLossResult } from '../native.js';

export type DeviceDType = 'float32' | 'bfloat16' | 'int32' | 'uint8';

/** Memory on the GPU, kept between calls. Free it with dispose() (or let it be collected). */
export interface DeviceTensor {
  readonly dtype: DeviceDType;
  readonly length: number;
  readonly byteLength: number;
  readonly disposed: boolean;
  /** Copies to the host: into `out` when given (same type and length), else a fresh array. */
  download<T extends Float32Array | Uint16Array | Int32Array | Uint8Array>(out?: T): T;
  download(): Float32Array | Uint16Array | Int32Array | Uint8Array;
  /**
   * Frees the memory now, or, while a call uses the tensor (an async loss still running), when
   * that call ends; `disposed` is true at once and later calls refuse the tensor.
   */
  dispose(): void;
}

export interface DeviceTensorClass {
  /** Float32Array -> 'float32', Uint16Array -> 'bfloat16' (bits), Int32Array -> 'int32', Uint8Array -> 'uint8'. */
  upload(array: Float32Array | Uint16Array | Int32Array | Uint8Array): DeviceTensor;
  empty(dtype: DeviceDType, length: number): DeviceTensor;
}

type Arr<T> = T | DeviceTensor;

/** dapoLoss arguments on CUDA: any array may be a DeviceTensor of the same element type. */
export interface CudaLossArgs extends Omit<NativeLossArgs, 'logits' | 'tokens' | 'logprobs' | 'oldLogprobs' | 'advantages' | 'mask' | 'seqIds' | 'refLogprobs' | 'gradOut'> {
  logits?: Arr<Float32Array | Uint16Array>;
  tokens?: Arr<Int32Array>;
  logprobs?: Arr<Float32Array>;
  oldLogprobs: Arr<Float32Array>;
  advantages: Arr<Float32Array>;
  mask: Arr<Uint8Array>;
  seqIds?: Arr<Int32Array>;
  refLogprobs?: Arr<Float32Array>;
  gradOut?: Arr<Float32Array>;
  /** Write the gradient over the logits DeviceTensor (same dtype as the logits). */
  inPlace?: boolean;
}

export interface CudaLossResult extends Omit<NativeLossResult, 'grad'> {
  /** A Float32Array, or a DeviceTensor when the logits (or log-probs) were one, or the logits tensor itself in place. */
  grad: Float32Array | DeviceTensor;
  /** Device time of the call's kernels (CUDA events), host copies excluded. */
  kernelMs: number;
}

/** Arguments of dapoLossFromHidden: logits = hidden weight^T, never materialised whole. */
export interface HiddenLossArgs extends LossSettings {
  /** [N * hiddenSize]: bfloat16 bits (Uint16Array) or, on the CPU only, Float32Array. */
  hidden: Arr<Uint16Array | Float32Array>;
  /** [vocabSize * hiddenSize], the LM head, same dtype as hidden. */
  weight: Arr<Uint16Array | Float32Array>;
  hiddenSize: number;
  vocabSize: number;
  tokens: Arr<Int32Array>;
  oldLogprobs: Arr<Float32Array>;
  advantages: Arr<Float32Array>;
  mask: Arr<Uint8Array>;
  seqIds?: Arr<Int32Array>;
  /** Log-probs under a frozen reference policy, for the KL penalty (with klCoef > 0). */
  refLogprobs?: Arr<Float32Array>;
  /** Weight of the KL penalty to the reference (verl's low_var_kl); 0 or absent: none. */
  klCoef?: number;
  /** CPU: vocabulary entries per logits chunk (default 4096). CUDA: tokens per chunk (default: what fits in maxChunkBytes). */
  chunkSize?: number;
  /** CUDA: bytes of device scratch for the two chunks in flight (fp32 logits and their gradient; default 896 MiB). */
  maxChunkBytes?: number;
}

export interface HiddenLossResult {
  loss: number;
  /** d loss / d hidden [N * hiddenSize] (a DeviceTensor when hidden was one). */
  gradHidden: Float32Array | DeviceTensor;
  /** d loss / d weight [vocabSize * hiddenSize] (a DeviceTensor when weight was one). */
  gradWeight: Float32Array | DeviceTensor;
  logprobs: Float32Array;
  entropy?: Float32Array;
  stats: LossStats;
  /** CUDA only: device time and the scratch the call held at its peak. */
  kernelMs?: number;
  peakExtraBytes?: number;
}

/** One case of the table-driven op test (native/cuda/model/op_check.cuh says what dims mean per op). */
export interface CudaOpCase {
  op: string;
  dtype: 'f32' | 'bf16';
  seed: number;
  dims?: number[];
  lengths?: number[];
  params?: number[];
}

/** Largest absolute and relative (to the output's scale) error of each output against the CPU twin. */
export interface CudaOpResult {
  errors: Record<string, { abs: number; rel: number }>;
  cudaMs: number;
}

/** The addon's CUDA members and the LM-head loss; src/native.ts's NativeAddon extends this. */
export interface CudaAddon {
  DeviceTensor: DeviceTensorClass;
  cudaDapoLoss(args: CudaLossArgs): CudaLossResult;
  cudaDapoLossAsync(args: CudaLossArgs): Promise<CudaLossResult>;
  cudaGroupAdvantages(rewards: Arr<Float32Array>, groupSize: number, opts?: { std?: boolean; eps?: number }): Float32Array | DeviceTensor;
  /** Median ms of a device-to-device copy of `bytes` (timed by CUDA events). */
  cudaCopyBench(bytes: number, iterations?: number): number;
  cudaMemInfo(): { free: number; total: number };
  dapoLossFromHidden(args: HiddenLossArgs): HiddenLossResult;
  cudaDapoLossFromHidden(args: HiddenLossArgs): HiddenLossResult;
  cudaDapoLossFromHiddenAsync(args: HiddenLossArgs): Promise<HiddenLossResult>;
  /** Runs one registered op check on the device (throws ERR_DAPO_CUDA_UNAVAILABLE without one). */
  cudaOpCheck(c: CudaOpCase): CudaOpResult;
  cudaOpNames(): string[];
}
