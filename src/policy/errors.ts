// Errors of the policy engine's TypeScript side, each with a stable `code`.
export type PolicyErrorCode =
  | 'E_MODEL_NOT_FOUND'
  | 'E_MODEL_CONFIG'
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
