// The policy engine's part of the addon's typed surface (src/native.ts's NativeAddon names it).
import type { LossSettings, LossStats } from '../native.js';

/** The model shape handed to the native engine (src/policy/config.ts builds it). */
export interface NativePolicyConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  maxPositions: number;
  ropeTheta: number;
  rmsNormEps: number;
  qkvBias: boolean;
  qkNorm: boolean;
  tieWordEmbeddings: boolean;
  ropeScaling?: { factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };
}

export interface NativeParamInfo {
  name: string;
  shape: number[];
  size: number;
  decay: boolean;
}

/** A packed batch as the engine reads it; per-target arrays follow the targets in order. */
export interface NativePackedBatch {
  tokens: Int32Array;
  offsets: Int32Array;
  promptLengths?: Int32Array;
  oldLogprobs?: Float32Array;
  advantages?: Float32Array;
  mask?: Uint8Array;
  refLogprobs?: Float32Array;
}

export type NativeLossSpec =
  | ({ kind: 'dapo'; klCoef?: number; temperature?: number } & LossSettings)
  | { kind: 'nll'; tokenCount?: number; entropy?: boolean };

export interface NativeAccumulateResult {
  loss: number;
  tokens: number;
  logprobs: Float32Array;
  entropy?: Float32Array;
  stats: LossStats;
}

export interface NativeGenerateArgs {
  promptTokens: Int32Array;
  promptOffsets: Int32Array;
  promptIds?: number[];
  n?: number;
  maxNewTokens: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stop?: Int32Array;
}

export interface NativeGenerateResult {
  tokens: Int32Array;
  logprobs: Float32Array;
  offsets: Int32Array;
  finished: Uint8Array;
}

/** Device memory of a CUDA engine, in bytes. */
export interface EngineMemory {
  /** Held by the engine now. */
  allocated: number;
  /** The most it held since it was created (or the last resetPeak). */
  peak: number;
  /** cudaMemGetInfo: free and total on the device. */
  free: number;
  total: number;
}

/** The policy engine's native object: PolicyEngine (CPU) and CudaPolicyEngine implement it. */
export interface NativePolicyEngine {
  /**
   * Whether generate()'s log-probs are bitwise those logprobs() gives for the same tokens (then
   * the trainer uses them as old log-probs). Absent: true (the CPU engine). CUDA: false.
   */
  readonly generationLogprobsExact?: boolean;
  params(): NativeParamInfo[];
  numParameters(): number;
  initRandom(seed: number, std: number): void;
  setParam(index: number, data: Uint8Array | Float32Array | Uint16Array, dtype: 'F32' | 'BF16' | 'F16'): void;
  getParam(index: number, dtype?: 'F32'): Float32Array;
  getParam(index: number, dtype: 'BF16'): Uint16Array;
  getGrad(index: number): Float32Array;
  getOptimizerState(index: number, moment: 'm' | 'v'): Float32Array;
  setOptimizerState(index: number, moment: 'm' | 'v', state: Float32Array): void;
  optimizerSteps(): number;
  setOptimizerSteps(steps: number): void;
  zeroGrad(): void;
  forwardLogits(ids: Int32Array): Promise<Float32Array>;
  logprobs(batch: NativePackedBatch, opts?: { entropy?: boolean; temperature?: number }): Promise<{ logprobs: Float32Array; entropy?: Float32Array }>;
  accumulate(batch: NativePackedBatch, loss: NativeLossSpec): Promise<NativeAccumulateResult>;
  step(opts: { lr: number; weightDecay?: number; betas?: [number, number]; eps?: number; clipGradNorm?: number }): Promise<{
    gradNorm: number;
    clipped: boolean;
    step: number;
  }>;
  generate(args: NativeGenerateArgs): Promise<NativeGenerateResult>;
  /** Device memory (CUDA only). */
  memory?(options?: { resetPeak?: boolean }): EngineMemory;
  dispose(): void;
}

export interface NativeGemmArgs {
  a: Float32Array;
  b: Float32Array;
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  naive?: boolean;
}

export type CudaComputeDType = 'bfloat16' | 'float32';

export interface CudaPolicyEngineOptions {
  /** Compute copy of the weights and activations (default 'bfloat16'); 'float32' is the test mode. */
  dtype?: CudaComputeDType;
  /** Keep only each layer's input and recompute the layer in the backward pass (default false). */
  recompute?: boolean;
  /** Capture the decode step as a CUDA graph per batch-size bucket (default true). */
  cudaGraphs?: boolean;
  /** CUDA device index (default 0). */
  device?: number;
}

/** The CUDA engine (bindings/cuda_policy_bindings.cc): PolicyEngine's surface and device memory. */
export interface NativeCudaPolicyEngine extends NativePolicyEngine {
  readonly dtype: CudaComputeDType;
  readonly generationLogprobsExact: boolean;
  memory(options?: { resetPeak?: boolean }): EngineMemory;
}

/** The members the policy bindings add to the addon. */
export interface PolicyAddon {
  PolicyEngine: new (config: NativePolicyConfig) => NativePolicyEngine;
  /** Throws ERR_DAPO_CUDA_UNAVAILABLE (with the reason) where CUDA or its engine is unusable. */
  CudaPolicyEngine: new (config: NativePolicyConfig, options?: CudaPolicyEngineOptions) => NativeCudaPolicyEngine;
  /** C[m, n] = op(A) op(B) with the engine's GEMM (or the naive triple loop). */
  gemm(args: NativeGemmArgs): Float32Array;
  /** The distribution the sampler draws from after temperature, top-k and top-p. */
  samplingDistribution(logits: Float32Array, opts?: { temperature?: number; topP?: number; topK?: number }): Float64Array;
}
