// Errors of the policy engine's TypeScript side, each with a stable `code`.
export type PolicyErrorCode =
  | 'E_MODEL_NOT_FOUND'
  | 'E_MODEL_CONFIG'
  | 'E_MODEL_UNSUPPORTED'
  | 'E_SAFETENSORS'
  | 'E_WEIGHTS'
  | 'E_DEVICE'
  | 'E_DISPOSED'
  /** Out of GPU memory: the message names what was being allocated, the bytes asked and free; the policy stays usable. */
  | 'E_OOM'
  /** The CUDA context is lost (illegal address, ECC...): every later call refuses. */
  | 'E_DEVICE_LOST'
  /** A CUDA kernel failed; the message names it. */
  | 'E_KERNEL';

export class PolicyError extends Error {
  readonly code: PolicyErrorCode;
  constructor(code: PolicyErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PolicyError';
    this.code = code;
  }
}

/**
 * A model's config.json that dapo will not load, raised before any weight is read.
 * - E_MODEL_CONFIG: a value that is malformed, or two keys (the transformers 4 and the
 *   transformers 5 spelling of one setting) that disagree; `otherKey` names the second.
 * - E_MODEL_UNSUPPORTED: a setting transformers implements and dapo's engines do not
 *   (YaRN RoPE, sliding-window attention, ...); loading it anyway would train another model.
 */
export class ModelConfigError extends PolicyError {
  /** The file, as given to the loader. */
  readonly file: string;
  /** The key, a dotted path for nested ones: `rope_parameters.rope_type`, `layer_types[1]`. */
  readonly key: string;
  /** The value found there (undefined when the key is missing). */
  readonly value: unknown;
  readonly otherKey?: string;
  constructor(code: 'E_MODEL_CONFIG' | 'E_MODEL_UNSUPPORTED', message: string, where: { file: string; key: string; value: unknown; otherKey?: string }) {
    super(code, message);
    this.name = 'ModelConfigError';
    this.file = where.file;
    this.key = where.key;
    this.value = where.value;
    if (where.otherKey !== undefined) this.otherKey = where.otherKey;
  }
}
