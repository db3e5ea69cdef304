// Errors of the policy engine's TypeScript side, each with a stable `code`.
export type PolicyErrorCode =
  | 'E_MODEL_NOT_FOUND'
  | 'E_MODEL_CONFIG'
  | 'E_SAFETENSORS'
  | 'E_WEIGHTS'
  | 'E_DEVICE'
  | 'E_DISPOSED';

export class PolicyError extends Error {
  readonly code: PolicyErrorCode;
  constructor(code: PolicyErrorCode, message: string) {
    super(message);
    this.name = 'PolicyError';
    this.code = code;
  }
}
