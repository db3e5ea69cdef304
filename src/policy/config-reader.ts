// Reads typed values out of a config.json object; every refusal is a ModelConfigError that
// names the file, the key and the value found.
import { ModelConfigError } from './errors.js';

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value as the message shows it: strings quoted, the rest as JSON, cut when long. */
export function showValue(v: unknown): string {
  const s = typeof v === 'string' ? `'${v}'` : v === undefined ? 'undefined' : JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

export class ConfigReader {
  constructor(
    readonly raw: JsonObject,
    readonly file: string,
  ) {}

  /** A malformed value (or a missing one), with what it must be. */
  invalid(key: string, value: unknown, mustBe: string): never {
    const found = value === undefined ? `${key} is missing` : `${key} ${showValue(value)} is invalid`;
    throw new ModelConfigError('E_MODEL_CONFIG', `${this.file}: ${found}; it must be ${mustBe}`, { file: this.file, key, value });
  }

  /** A setting transformers has and dapo's engines do not implement. */
  unsupported(key: string, value: unknown, supported: string, why?: string): never {
    const message = `${this.file}: ${key} ${showValue(value)} is not supported; supported: ${supported}${why ? ` (${why})` : ''}`;
    throw new ModelConfigError('E_MODEL_UNSUPPORTED', message, { file: this.file, key, value });
  }

  /** The transformers 4 and transformers 5 spellings of one setting disagree. */
  conflict(key4: string, value4: unknown, key5: string, value5: unknown): never {
    const message =
      `${this.file}: ${key4} ${showValue(value4)} and ${key5} ${showValue(value5)} disagree ` +
      `(transformers 4 reads ${key4}, transformers 5 reads ${key5}); remove one or make them equal`;
    throw new ModelConfigError('E_MODEL_CONFIG', message, { file: this.file, key: key4, value: value4, otherKey: key5 });
  }

  /** A positive integer at `key` of `obj` (the top level by default), or the fallback when absent. */
  positiveInt(key: string, fallback?: number, obj: JsonObject = this.raw, path = key): number {
    const v = obj[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) this.invalid(path, obj[key], 'a positive integer');
    return v;
  }

  /** A finite positive number at `key` of `obj`, or the fallback when absent. */
  positiveNumber(key: string, fallback?: number, obj: JsonObject = this.raw, path = key): number {
    const v = obj[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) this.invalid(path, obj[key], 'a finite number > 0');
    return v;
  }

  /** A boolean, or the fallback when absent or null. */
  bool(key: string, fallback: boolean): boolean {
    const v = this.raw[key] ?? fallback;
    if (typeof v !== 'boolean') this.invalid(key, this.raw[key], 'true or false');
    return v;
  }

  /** An object, or undefined when absent or null. */
  object(key: string): JsonObject | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    if (!isObject(v)) this.invalid(key, v, 'an object or null');
    return v;
  }
}
