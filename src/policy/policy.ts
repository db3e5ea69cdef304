// The policy: a causal LM whose weights, gradients, AdamW state and KV cache live natively.
// TypeScript hands over token ids and gets back tokens, log-probs and statistics. The CPU and
// CUDA engines both sit behind NativePolicyEngine (src/policy/backend.ts picks one).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, copyFileSync, writeFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { LossSettings, LossStats } from '../native.js';
import { asPolicyError, createEngine, resolvePolicyDevice, resolvePolicyDType, type EngineChoice, type PolicyDevice, type PolicyDType } from './backend.js';
import type { EngineMemory, NativeAccumulateResult, NativePolicyEngine } from './native-types.js';
import type { CharTokenizer } from '../tokenizer/char.js';
import type { PackedBatch, TrainBatch } from './batch.js';
import { builtinConfig } from './builtin.js';
import { parseHfConfig, toHfConfig, type PolicyConfig } from './config.js';
import { PolicyError } from './errors.js';
import { rangeError, shown, typeError } from '../errors.js';
import { checkConfigAgainstHeaders } from './load-checks.js';
import { readModelHeaders, readSafetensorsHeader, readTensorBytes, readTensorBytesAsync, writeSafetensors, type TensorToWrite } from './safetensors.js';


export interface PolicyLoadOptions {
  /**
   * 'cpu' (default), 'cuda' (a PolicyError E_DEVICE with the reason where it is unusable), or
   * 'auto': CUDA when cudaInfo() says its engine is usable, else the CPU.
   */
  device?: PolicyDevice;
  /** Seed of the random initialisation of builtin models (default 0). */
  seed?: number;
  /** Standard deviation of the random initialisation (default 0.02). */
  initStd?: number;
  /** Load optimizer.safetensors when the folder has one (default true). */
  loadOptimizer?: boolean;
  /**
   * Compute dtype. CUDA: 'bfloat16' (default; fp32 master weights, gradients and AdamW moments)
   * or 'float32'. The CPU engine computes in 'float32' only (bf16 / fp16 files are widened) and
   * refuses 'bfloat16'.
   */
  dtype?: PolicyDType;
  /** CUDA: recompute each layer in the backward pass instead of keeping its activations (less memory). */
  recompute?: boolean;
}

function engineChoice(options: PolicyLoadOptions): EngineChoice {
  const device = resolvePolicyDevice(options.device);
  return { device, dtype: resolvePolicyDType(device, options.dtype), recompute: options.recompute };
}

export type PolicyLoss =
  | ({
      kind: 'dapo';
      /** Weight of the KL penalty to a frozen reference (verl's low_var_kl); needs batch.refLogprobs. */
      klCoef?: number;
      /** The loss sees logits / temperature: the rollouts' sampling temperature (default 1), as verl. */
      temperature?: number;
    } & LossSettings)
  | { kind: 'nll'; tokenCount?: number; entropy?: boolean };

export interface AccumulateResult {
  /** This call's share of the loss (already divided by tokenCount). */
  loss: number;
  /** Targets counted (mask = 1). */
  tokens: number;
  /** log p of every target under the current weights. */
  logprobs: Float32Array;
  entropy?: Float32Array;
  stats: LossStats;
}

export interface StepOptions {
  lr: number;
  /** Decoupled weight decay on matrices (embeddings and projections), not norms or biases. Default 0. */
  weightDecay?: number;
  betas?: [number, number];
  eps?: number;
  /** Global gradient-norm clip; 0 or absent: none. */
  clipGradNorm?: number;
}

export interface StepResult {
  /** Global gradient norm before clipping. */
  gradNorm: number;
  clipped: boolean;
  /** Optimizer steps taken so far. */
  step: number;
}

export interface GenerateOptions {
  /** Samples per prompt (default 1). */
  n?: number;
  maxNewTokens: number;
  /** 0: greedy; otherwise at least MIN_TEMPERATURE (0.01). Default 1. */
  temperature?: number;
  topP?: number;
  /** 0: no limit. */
  topK?: number;
  seed?: number;
  /** Token ids that end a response (kept as its last token). Default: the model's eos ids. */
  stop?: ArrayLike<number>;
  /**
   * A stable id per prompt (e.g. its dataset row). Sampling draws are keyed by (seed, prompt id,
   * sample index, position), so a prompt gets the same rollouts in any batch. Default: the
   * prompt's index in this call.
   */
  promptIds?: number[];
}

export interface Rollout {
  tokens: Int32Array;
  /** log-softmax of logits / temperature at each generated token (the distribution sampled; untempered when greedy). */
  logprobs: Float32Array;
  /** Ended on a stop id. */
  finished: boolean;
  /** Cut at maxNewTokens or the context length. */
  truncated: boolean;
}

export interface SaveOptions {
  /** Weights dtype in model.safetensors (default 'float32', exact). */
  dtype?: 'float32' | 'bfloat16';
  /** Write optimizer.safetensors (AdamW moments and step). Default: when a step has been taken. */
  optimizer?: boolean;
}

const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.json',
  'merges.txt',
  'tokenizer.model',
  'added_tokens.json',
  'chat_template.jinja',
  'generation_config.json',
];


function readJson(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PolicyError('E_MODEL_NOT_FOUND', `${file}: cannot read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new PolicyError('E_MODEL_CONFIG', `${file}: not valid JSON (${(e as Error).message})`);
  }
}

/**
 * The least sampling temperature other than 0 (greedy), in generate, logprobs and the dapo
 * loss: below it logits / temperature overflow float32 (the engine refuses it; vLLM clamps at
 * the same 0.01).
 */
export const MIN_TEMPERATURE = 0.01;

const isObject = (x: unknown): x is object => typeof x === 'object' && x !== null && !Array.isArray(x);

function requireObject(x: unknown, what: string): void {
  if (!isObject(x)) throw typeError(`${what} must be an object`);
}

/** generate's `stop`: token ids, each an integer (a string or 2^40 would silently become another id). */
function stopIds(stop: ArrayLike<number>): Int32Array {
  if (typeof stop !== 'object' || stop === null || typeof stop.length !== 'number') throw typeError('stop must be an array of token ids');
  if (!Number.isInteger(stop.length) || stop.length < 0 || stop.length > 1 << 20) throw rangeError(`stop has length ${stop.length}, at most 2^20 ids`);
  let ids: unknown[];
  try {
    ids = Array.from(stop);
  } catch (e) {
    throw typeError(`stop could not be read (${(e as Error).message})`);  // a typed array over a detached buffer
  }
  ids.forEach((id, i) => {
    if (typeof id !== 'number') throw typeError(`stop[${i}] must be a number`);
    if (!Number.isInteger(id) || id < 0 || id > 0x7fffffff) throw rangeError(`stop[${i}] = ${id} is not a token id`);
  });
  return Int32Array.from(ids);
}

/**
 * The engine for a config read from configFile. A config too large for this machine (or to
 * address) is an error naming the file, not a bare "out of memory".
 */
function createEngineFor(config: PolicyConfig, choice: EngineChoice, configFile: string): NativePolicyEngine {
  try {
    return createEngine(config, choice);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_DAPO_OUT_OF_MEMORY' || code === 'ERR_DAPO_RANGE')
      throw new PolicyError('E_MODEL_CONFIG', `${configFile}: the model it describes cannot be allocated: ${(e as Error).message}`);
    throw e;
  }
}

export class Policy {
  readonly config: PolicyConfig;
  /** The engine holding the weights. */
  readonly device: 'cpu' | 'cuda';
  /** Its compute dtype (the master weights are float32 on both). */
  readonly dtype: PolicyDType;
  /** Where the weights came from: a folder, or builtin:<name>. */
  readonly source: string;
  /** The character tokenizer of builtin:tiny; load HF tokenizers with loadTokenizer(dir). */
  readonly tokenizer?: CharTokenizer;
  private engine: NativePolicyEngine | null;
  private readonly names: string[];
  private readonly shapes: number[][];
  private queue: Promise<unknown> = Promise.resolve();
  private pending = 0;

  private constructor(config: PolicyConfig, engine: NativePolicyEngine, choice: EngineChoice, source: string, tokenizer?: CharTokenizer) {
    this.config = config;
    this.device = choice.device;
    this.dtype = choice.dtype;
    this.source = source;
    this.tokenizer = tokenizer;
    this.engine = engine;
    const params = engine.params();
    this.names = params.map((p) => p.name);
    this.shapes = params.map((p) => p.shape);
  }

  /** A folder in Hugging Face layout, or builtin:tiny / builtin:llama-20m (random weights). */
  static async load(pathOrBuiltin: string, options: PolicyLoadOptions = {}): Promise<Policy> {
    if (typeof pathOrBuiltin !== 'string' || pathOrBuiltin.length === 0) throw typeError('path must be a non-empty string');
    requireObject(options, 'options');
    const choice = engineChoice(options);
    if (pathOrBuiltin.startsWith('builtin:')) {
      const { config, tokenizer } = builtinConfig(pathOrBuiltin.slice('builtin:'.length));
      return Policy.fromConfig(config, options, pathOrBuiltin, tokenizer);
    }
    const dir = resolve(pathOrBuiltin);
    if (!existsSync(dir) || !statSync(dir).isDirectory())
      throw new PolicyError('E_MODEL_NOT_FOUND', `${pathOrBuiltin}: no such folder (expected a Hugging Face model folder or builtin:tiny)`);
    const configFile = join(dir, 'config.json');
    const config = parseHfConfig(readJson(configFile), configFile);
    const genFile = join(dir, 'generation_config.json');
    if (existsSync(genFile)) {
      const gen = readJson(genFile);
      const extra = typeof gen.eos_token_id === 'number' ? [gen.eos_token_id] : Array.isArray(gen.eos_token_id) ? gen.eos_token_id : [];
      for (const id of extra) if (typeof id === 'number' && !config.eosTokenIds.includes(id)) config.eosTokenIds.push(id);
    }
    if (!existsSync(join(dir, 'model.safetensors')) && !existsSync(join(dir, 'model.safetensors.index.json'))) {
      const hint = existsSync(join(dir, 'pytorch_model.bin')) ? ' (pytorch_model.bin is not read: convert it to safetensors)' : '';
      throw new PolicyError('E_MODEL_NOT_FOUND', `${dir}: no model.safetensors or model.safetensors.index.json${hint}`);
    }
    const headers = readModelHeaders(dir);
    checkConfigAgainstHeaders(config, headers, configFile, dir);
    const engine = createEngineFor(config, choice, configFile);
    const policy = new Policy(config, engine, choice, dir);
    try {
      for (let i = 0; i < policy.names.length; i++) {
        const name = policy.names[i];
        const entry = headers.get(name);
        if (!entry) throw new PolicyError('E_WEIGHTS', `${dir}: tensor ${name} is missing from the checkpoint`);
        const want = policy.shapes[i];
        if (entry.shape.length !== want.length || entry.shape.some((d, j) => d !== want[j]))
          throw new PolicyError('E_WEIGHTS', `${entry.file}: ${name} has shape [${entry.shape.join(', ')}], the config needs [${want.join(', ')}]`);
        if (entry.dtype !== 'F32' && entry.dtype !== 'BF16' && entry.dtype !== 'F16')
          throw new PolicyError('E_WEIGHTS', `${entry.file}: ${name} has dtype ${entry.dtype} (F32, BF16 or F16 are read)`);
        try {
          engine.setParam(i, await readTensorBytesAsync(entry), entry.dtype);
        } catch (e) {
          // NaN or infinite weights: name the file and tensor now, not fail later in generate.
          if ((e as { code?: string }).code === 'ERR_DAPO_NONFINITE') throw new PolicyError('E_WEIGHTS', `${entry.file}: ${(e as Error).message}`);
          throw e;
        }
      }
      if ((options.loadOptimizer ?? true) && existsSync(join(dir, 'optimizer.safetensors'))) policy.loadOptimizer(join(dir, 'optimizer.safetensors'));
    } catch (e) {
      engine.dispose();
      throw asPolicyError(e);
    }
    return policy;
  }

  /** A randomly initialised policy of the given shape. */
  static fromConfig(config: PolicyConfig, options: PolicyLoadOptions = {}, source = 'config', tokenizer?: CharTokenizer): Policy {
    requireObject(config, 'config');
    requireObject(options, 'options');
    const choice = engineChoice(options);
    const engine = createEngine(config, choice);
    try {
      engine.initRandom(options.seed ?? 0, options.initStd ?? 0.02);
    } catch (e) {
      engine.dispose();
      throw asPolicyError(e);
    }
    return new Policy(config, engine, choice, source, tokenizer);
  }

  private live(): NativePolicyEngine {
    if (!this.engine) throw new PolicyError('E_DISPOSED', 'the policy has been disposed');
    return this.engine;
  }

  /** A synchronous engine call; a device failure becomes a PolicyError. */
  private sync<T>(fn: (engine: NativePolicyEngine) => T): T {
    try {
      return fn(this.live());
    } catch (e) {
      throw asPolicyError(e);
    }
  }

  /** Runs calls one after another, so a second call waits instead of failing as busy. */
  private serial<T>(fn: (engine: NativePolicyEngine) => Promise<T>): Promise<T> {
    const start = () => fn(this.live()).catch((e: unknown) => Promise.reject(asPolicyError(e)));
    // An idle policy starts the call now, so a dispose() right after lets it finish.
    const run = this.pending === 0 ? new Promise<T>((resolve) => resolve(start())) : this.queue.then(start, start);
    this.pending++;
    this.queue = run.catch(() => undefined).finally(() => this.pending--);
    return run;
  }

  get numParameters(): number {
    return this.sync((e) => e.numParameters());
  }

  /**
   * Whether generate()'s log-probs are bitwise those of logprobs() for the same tokens: true on
   * the CPU; false on CUDA (its decode and packed kernels differ), where the trainer recomputes them.
   */
  get generationLogprobsExact(): boolean {
    return this.live().generationLogprobsExact ?? true;
  }

  /**
   * Device memory of a CUDA policy in bytes (allocated now, peak, free, total); undefined on the
   * CPU. resetPeak starts the peak afresh after reading it.
   */
  memory(options: { resetPeak?: boolean } = {}): EngineMemory | undefined {
    return this.sync((e) => e.memory?.(options));
  }

  /** Hugging Face names of the parameters, in the engine's order. */
  parameterNames(): string[] {
    return [...this.names];
  }

  parameterShape(name: string): number[] {
    return [...this.shapes[this.index(name)]];
  }

  private index(name: string): number {
    const i = this.names.indexOf(name);
    if (i < 0) throw rangeError(`no parameter named ${JSON.stringify(shown(name))}`);
    return i;
  }

  /** A copy of one parameter (fp32). */
  getParameter(name: string): Float32Array {
    return this.sync((e) => e.getParam(this.index(name)));
  }

  setParameter(name: string, values: Float32Array): void {
    if (!(values instanceof Float32Array)) throw typeError('values must be a Float32Array');
    this.sync((e) => e.setParam(this.index(name), values, 'F32'));
  }

  /** A copy of the accumulated gradient of one parameter. */
  getGradient(name: string): Float32Array {
    return this.sync((e) => e.getGrad(this.index(name)));
  }

  zeroGrad(): void {
    this.sync((e) => e.zeroGrad());
  }

  /** Logits [T * V] at every position of one sequence. */
  forwardLogits(ids: Int32Array): Promise<Float32Array> {
    return this.serial((e) => e.forwardLogits(ids));
  }

  /**
   * log p of every target token of a packed batch (the old log-probs of the ratio), under
   * softmax(logits / temperature) (default 1): pass the temperature the rollouts were sampled at.
   */
  logprobs(batch: PackedBatch, options: { temperature?: number } = {}): Promise<Float32Array> {
    if (!isObject(options)) return Promise.reject(typeError('options must be an object'));
    return this.serial(async (e) => (await e.logprobs(batch, { temperature: options.temperature })).logprobs);
  }

  /** Log-probs and the entropy of each predicting distribution. */
  logprobsWithEntropy(batch: PackedBatch, options: { temperature?: number } = {}): Promise<{ logprobs: Float32Array; entropy: Float32Array }> {
    if (!isObject(options)) return Promise.reject(typeError('options must be an object'));
    return this.serial(async (e) => {
      const r = await e.logprobs(batch, { entropy: true, temperature: options.temperature });
      return { logprobs: r.logprobs, entropy: r.entropy! };
    });
  }

  /** Forward, loss and backward; the gradients add to those of earlier calls until step(). */
  accumulate(batch: TrainBatch, loss: PolicyLoss): Promise<AccumulateResult> {
    if (!isObject(loss)) return Promise.reject(typeError('loss must be an object'));
    return this.serial((e) => e.accumulate(batch, loss) as Promise<NativeAccumulateResult>);
  }

  /** One AdamW update from the accumulated gradients, which are then cleared. */
  step(options: StepOptions): Promise<StepResult> {
    return this.serial((e) => e.step(options));
  }

  /** n rollouts per prompt with a KV cache, grouped by prompt. */
  generate(prompts: Int32Array[], options: GenerateOptions): Promise<Rollout[][]> {
    if (!Array.isArray(prompts) || prompts.length === 0) return Promise.reject(typeError('prompts must be a non-empty array of Int32Array'));
    if (!isObject(options)) return Promise.reject(typeError('options must be an object'));
    let total = 0;
    for (let i = 0; i < prompts.length; i++) {
      if (!(prompts[i] instanceof Int32Array)) return Promise.reject(typeError(`prompts[${i}] must be an Int32Array`));
      total += prompts[i].length;
    }
    if (total > 0x7fffffff) return Promise.reject(rangeError(`prompts hold ${total} tokens, more than an Int32Array offset can address`));
    const offsets = new Int32Array(prompts.length + 1);
    prompts.forEach((p, i) => (offsets[i + 1] = offsets[i] + p.length));
    const promptTokens = new Int32Array(offsets[prompts.length]);
    prompts.forEach((p, i) => promptTokens.set(p, offsets[i]));
    const n = options.n ?? 1;
    let stop: Int32Array;
    try {
      stop = options.stop === undefined ? Int32Array.from(this.config.eosTokenIds) : stopIds(options.stop);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.serial(async (e) => {
      const r = await e.generate({
        promptTokens,
        promptOffsets: offsets,
        promptIds: options.promptIds,
        n,
        maxNewTokens: options.maxNewTokens,
        temperature: options.temperature,
        topP: options.topP,
        topK: options.topK,
        seed: options.seed,
        stop,
      });
      const groups: Rollout[][] = [];
      for (let p = 0; p < prompts.length; p++) {
        const group: Rollout[] = [];
        for (let j = 0; j < n; j++) {
          const q = p * n + j;
          const finished = r.finished[q] === 1;
          group.push({
            tokens: r.tokens.slice(r.offsets[q], r.offsets[q + 1]),
            logprobs: r.logprobs.slice(r.offsets[q], r.offsets[q + 1]),
            finished,
            truncated: !finished,
          });
        }
        groups.push(group);
      }
      return groups;
    });
  }

  /**
   * Writes config.json, model.safetensors (HF names), optimizer.safetensors and the tokenizer
   * files into a temporary folder beside dir, then renames it into place.
   */
  save(dir: string, options: SaveOptions = {}): Promise<void> {
    if (typeof dir !== 'string' || dir.length === 0) return Promise.reject(typeError('dir must be a non-empty string'));
    if (!isObject(options)) return Promise.reject(typeError('options must be an object'));
    const dtype = options.dtype ?? 'float32';
    if (dtype !== 'float32' && dtype !== 'bfloat16') return Promise.reject(rangeError(`dtype must be 'float32' or 'bfloat16', got '${shown(dtype)}'`));
    return this.serial(async (e) => {
      const target = resolve(dir);
      mkdirSync(dirname(target), { recursive: true });
      const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${Date.now()}`);
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp);
      try {
        writeFileSync(join(tmp, 'config.json'), JSON.stringify(toHfConfig(this.config, dtype), null, 2) + '\n');
        const st = dtype === 'float32' ? 'F32' : 'BF16';
        const tensors: TensorToWrite[] = this.names.map((name, i) => ({
          name,
          dtype: st,
          shape: this.shapes[i],
          data: () => (st === 'F32' ? e.getParam(i) : e.getParam(i, 'BF16')),
        }));
        writeSafetensors(join(tmp, 'model.safetensors'), tensors, { format: 'pt' });
        if (options.optimizer ?? e.optimizerSteps() > 0) this.saveOptimizer(e, join(tmp, 'optimizer.safetensors'));
        if (this.tokenizer) {
          this.tokenizer.saveTo(tmp);
          if (!existsSync(join(tmp, 'generation_config.json')))
            writeFileSync(join(tmp, 'generation_config.json'), JSON.stringify({ eos_token_id: this.config.eosTokenIds, bos_token_id: this.config.bosTokenId }, null, 2) + '\n');
        } else if (!this.source.startsWith('builtin:') && this.source !== 'config') {
          for (const f of TOKENIZER_FILES) if (existsSync(join(this.source, f))) copyFileSync(join(this.source, f), join(tmp, f));
        }
        const old = `${tmp}.old`;
        if (existsSync(target)) renameSync(target, old);
        renameSync(tmp, target);
        rmSync(old, { recursive: true, force: true });
      } catch (err) {
        rmSync(tmp, { recursive: true, force: true });
        throw err;
      }
    });
  }

  private saveOptimizer(e: NativePolicyEngine, file: string): void {
    const tensors: TensorToWrite[] = [];
    this.names.forEach((name, i) => {
      tensors.push({ name: `${name}.exp_avg`, dtype: 'F32', shape: this.shapes[i], data: () => e.getOptimizerState(i, 'm') });
      tensors.push({ name: `${name}.exp_avg_sq`, dtype: 'F32', shape: this.shapes[i], data: () => e.getOptimizerState(i, 'v') });
    });
    writeSafetensors(file, tensors, { format: 'dapo-adamw', step: String(e.optimizerSteps()) });
  }

  private loadOptimizer(file: string): void {
    const e = this.live();
    const { tensors, metadata } = readSafetensorsHeader(file);
    const step = Number(metadata.step);
    if (metadata.format !== 'dapo-adamw' || !Number.isInteger(step) || step < 0)
      throw new PolicyError('E_SAFETENSORS', `${file}: not a dapo optimizer state (format ${JSON.stringify(metadata.format)}, step ${JSON.stringify(metadata.step)})`);
    this.names.forEach((name, i) => {
      for (const [suffix, moment] of [['exp_avg', 'm'], ['exp_avg_sq', 'v']] as const) {
        const entry = tensors.get(`${name}.${suffix}`);
        if (!entry || entry.dtype !== 'F32' || entry.end - entry.begin !== this.shapes[i].reduce((a, d) => a * d, 1) * 4)
          throw new PolicyError('E_SAFETENSORS', `${file}: ${name}.${suffix} is missing or has the wrong shape or dtype`);
        const bytes = readTensorBytes(entry);
        e.setOptimizerState(i, moment, new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
      }
    });
    e.setOptimizerSteps(step);
  }

  /**
   * Frees the native memory; the policy cannot be used afterwards. Calls still queued reject;
   * a call already running finishes first and the memory is freed when it does.
   */
  dispose(): void {
    const engine = this.engine;
    if (!engine) return;
    this.engine = null;
    if (this.pending === 0) engine.dispose();
    else void this.queue.finally(() => engine.dispose());
  }
}
