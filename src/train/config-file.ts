// --config FILE: JSON or YAML (verl users write YAML), with option names in camelCase (as
// config.json of a run), kebab-case (as --help shows them) or snake_case (as verl and TRL
// spell theirs). Every key is checked against the option table.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';

import { parse as parseYaml } from 'yaml';

import { checkOption, ConfigError, OPTIONS, type OptionSpec, type TrainConfig } from './config.js';

/** 'max-response-len', 'max_response_len' and 'maxResponseLen' all name maxResponseLen. */
export function camelCaseKey(key: string): string {
  return key.replace(/[-_]+([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase());
}

export interface ReadConfigOptions {
  /**
   * Skip keys the option table does not know instead of refusing them, and report them here
   * (a run's config.json may come from a newer or older dapo).
   */
  unknown?: string[];
}

function parseFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  const yaml = ['.yaml', '.yml'].includes(extname(path).toLowerCase());
  try {
    // YAML is a superset of JSON, but JSON's own parser gives the better message for a .json file.
    return yaml ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length];
}

/** The known option closest in spelling, for "did you mean": a prefix of one, or a few edits away. */
function closest(key: string): string | undefined {
  const lower = key.toLowerCase();
  const prefixOf = OPTIONS.find((o) => lower.length >= 4 && o.key.toLowerCase().startsWith(lower));
  if (prefixOf) return prefixOf.key;
  const ranked = OPTIONS.map((o) => ({ key: o.key, d: editDistance(lower, o.key.toLowerCase()) })).sort((x, y) => x.d - y.d);
  return ranked[0] && ranked[0].d <= Math.max(2, Math.floor(lower.length / 3)) ? ranked[0].key : undefined;
}

/**
 * The options a config file sets, keyed as TrainConfig. Unknown keys, a key given twice in two
 * spellings, and values of the wrong type are ConfigErrors naming the file and the key.
 */
export function readConfigFile(path: string, options: ReadConfigOptions = {}): Partial<TrainConfig> {
  const parsed = parseFile(path);
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config file ${path} must hold an object of options (key: value)`);
  const known = new Map<string, OptionSpec>(OPTIONS.map((o) => [o.key, o]));
  const out: Record<string, unknown> = {};
  const spelledAs = new Map<string, string>();
  for (const [raw, value] of Object.entries(parsed)) {
    const key = camelCaseKey(raw);
    const spec = known.get(key);
    if (!spec) {
      if (options.unknown) {
        options.unknown.push(raw);
        continue;
      }
      const hint = closest(key);
      throw new ConfigError(`config file ${path}: unknown option '${raw}'${hint ? ` (did you mean '${hint}'?)` : ''}`);
    }
    const earlier = spelledAs.get(key);
    if (earlier !== undefined) throw new ConfigError(`config file ${path}: '${earlier}' and '${raw}' both set ${key}`);
    spelledAs.set(key, raw);
    // YAML writes a missing value as null; an optional string option takes it as "not set".
    if (value === null) continue;
    checkOption(spec, value, `config file ${path}:`);
    out[key] = value;
  }
  return out as Partial<TrainConfig>;
}
