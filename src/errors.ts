// Errors for bad arguments to the public API, with the `code` the native bindings give theirs,
// so a caller can branch on `code` whichever side found the problem.
export type ArgumentErrorCode = 'ERR_DAPO_TYPE' | 'ERR_DAPO_RANGE';

/** A TypeError with code ERR_DAPO_TYPE: an argument of the wrong kind. */
export function typeError(message: string): TypeError & { code: 'ERR_DAPO_TYPE' } {
  return Object.assign(new TypeError(message), { code: 'ERR_DAPO_TYPE' as const });
}

/** A RangeError with code ERR_DAPO_RANGE: an argument of the right kind with a value out of range. */
export function rangeError(message: string): RangeError & { code: 'ERR_DAPO_RANGE' } {
  return Object.assign(new RangeError(message), { code: 'ERR_DAPO_RANGE' as const });
}

/** An Error with the given code (a state, not an argument, is wrong: CUDA unavailable, ...). */
export function codedError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/**
 * A value as an error message shows it. String(x) itself can throw (a Symbol in a template, a
 * typed array over a detached buffer, an object whose toString throws), which would replace
 * the error being built with one that has no code.
 */
export function shown(value: unknown): string {
  try {
    return typeof value === 'symbol' ? value.toString() : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
