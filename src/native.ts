// The one place that loads the native addon. Everything else imports the typed surface below.
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CudaAddon } from './loss/cuda-types.js';
import type { PolicyAddon } from './policy/native-types.js';
export type {
  NativePolicyConfig,
  NativeParamInfo,
  NativePackedBatch,
  NativeLossSpec,
  NativeAccumulateResult,
  NativeGenerateArgs,
  NativeGenerateResult,
  NativePolicyEngine,
  NativeCudaPolicyEngine,
  CudaPolicyEngineOptions,
  CudaComputeDType,
  EngineMemory,
  NativeGemmArgs,
  PolicyAddon,
} from './policy/native-types.js';

export type Aggregation = 'token-mean' | 'seq-mean-token-mean' | 'seq-mean-token-sum';

/** How the per-token DAPO loss is clipped and aggregated: shared by every loss entry point. */
export interface LossSettings {
  /** eps_low of Clip-Higher (default 0.2). */
  clipLow?: number;
  /** eps_high of Clip-Higher (default 0.28). */
  clipHigh?: number;
  /** Dual-clip bound (> 1) for negative advantages; off when absent. */
  clipC?: number;
  aggregation?: Aggregation;
  /** Divisor of token-mean: the mini-batch's token count under gradient accumulation. */
  tokenCount?: number;
  /** Divisor of the seq-mean modes, likewise. */
  seqCount?: number;
  entropy?: boolean;
}

export interface NativeLossArgs extends LossSettings {
  logits?: Float32Array | Uint16Array;
  vocabSize?: number;
  tokens?: Int32Array;
  logprobs?: Float32Array;
  oldLogprobs: Float32Array;
  advantages: Float32Array;
  mask: Uint8Array;
  seqIds?: Int32Array;
  /** Log-probs under a frozen reference policy, for the KL penalty (with klCoef > 0). */
  refLogprobs?: Float32Array;
  /** Weight of the KL penalty to the reference (verl's low_var_kl); 0 or absent: none, as DAPO. */
  klCoef?: number;
  gradOut?: Float32Array;
}

export interface LossStats {
  clipFracLow: number;
  clipFracHigh: number;
  clipFracDual: number;
  approxKl: number;
  /** Mean KL penalty to the reference over counted tokens (0 without klCoef). */
  klRef: number;
  tokens: number;
}

export interface NativeLossResult {
  loss: number;
  grad: Float32Array;
  logprobs: Float32Array;
  entropy?: Float32Array;
  stats: LossStats;
}

export interface CudaInfo {
  built: boolean;
  loaded: boolean;
  devices: number;
  reason?: string;
  deviceNames?: string[];
  /** The module has the policy engine's entry points and a device (CudaPolicyEngine is usable). */
  engine: boolean;
  /** Why the loaded module has no policy engine. */
  engineReason?: string;
  /** Set when the module is the CPU emulator of CUDA (DAPO_CUDA_MODULE, tools/cuda-emu): what it is. */
  emulator?: string;
}

/** Everything the addon exports, typed. Engine bindings add their members here. */
export interface NativeAddon extends CudaAddon, PolicyAddon {
  dapoLoss(args: NativeLossArgs): NativeLossResult;
  dapoLossAsync(args: NativeLossArgs): Promise<NativeLossResult>;
  groupAdvantages(rewards: Float32Array, groupSize: number, opts?: { std?: boolean; eps?: number }): Float32Array;
  numThreads(): number;
  setNumThreads(threads: number): void;
  cpuFeatures(): { avx2: boolean };
  cudaInfo(): CudaInfo;
}

export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function loadAddon(): NativeAddon {
  const require = createRequire(import.meta.url);
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
  try {
    return nodeGypBuild(packageRoot) as NativeAddon;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `dapo: could not load the native addon (${reason}). Looked in ${packageRoot}/prebuilds/` +
        `${process.platform}-${process.arch}/ and ${packageRoot}/build/Release/. ` +
        'Build it with `npm run build:native` (needs cmake and a C++17 compiler), or reinstall dapo.',
    );
  }
}

export const native: NativeAddon = loadAddon();
