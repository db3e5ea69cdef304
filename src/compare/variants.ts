// Runs whose configs differ only in the seed (and in where they were written) are one
// variant; each variant is named by what sets its config apart from the others'.
import { basename } from 'node:path';

import { ALGO_PRESETS, RECIPE_DEFAULTS } from '../train/config.js';
import type { LoadedRun } from './runs.js';

/** Config keys that do not make a different variant: the seed, where things are written and when. */
export const NON_VARIANT_KEYS: ReadonlySet<string> = new Set(['seed', 'out', 'warmupCache', 'saveEvery', 'plotEvery']);

export interface Variant {
  label: string;
  runs: LoadedRun[];
  /** The differing settings, as shown in the label (empty for the baseline). */
  settings: Record<string, unknown>;
}

type Config = Record<string, unknown>;

function identity(config: Config): Config {
  return Object.fromEntries(Object.entries(config).filter(([key]) => !NON_VARIANT_KEYS.has(key)).sort(([a], [b]) => a.localeCompare(b)));
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** clipHigh -> clip_high, as verl names its settings. */
export function settingName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Keys an --algo preset sets, and the value it gives them. */
function presetValue(algo: unknown, key: string): unknown {
  const presets = ALGO_PRESETS as Record<string, Record<string, unknown>>;
  const inSomePreset = Object.values(presets).some((p) => key in p);
  if (typeof algo !== 'string' || !(algo in presets) || !inSomePreset) return undefined;
  return key in presets[algo] ? presets[algo][key] : (RECIPE_DEFAULTS as unknown as Config)[key];
}

function algoName(config: Config): string {
  return typeof config.algo === 'string' ? config.algo.toUpperCase() : 'baseline';
}

/**
 * The settings that set `config` apart from the reference. When the algorithm differs, the
 * config is compared with the reference under that algorithm's preset: GRPO is "GRPO", not a
 * list of five settings, and a label still lists everything that sets it apart.
 */
function distinguishing(config: Config, reference: Config): { algo: string | undefined; settings: Config } {
  const algoDiffers = !same(config.algo, reference.algo);
  const base: Config = { ...reference };
  if (algoDiffers) {
    base.algo = config.algo;
    for (const key of Object.keys(base)) if (presetValue(config.algo, key) !== undefined) base[key] = presetValue(config.algo, key);
  }
  const settings: Config = {};
  for (const key of new Set([...Object.keys(config), ...Object.keys(base)])) if (!same(config[key], base[key])) settings[key] = config[key];
  return { algo: algoDiffers ? algoName(config) : undefined, settings };
}

/** How far a config strays from its own algorithm's preset (a plain "DAPO" strays nowhere). */
function presetDeviations(config: Config): number {
  return Object.keys(config).filter((key) => presetValue(config.algo, key) !== undefined && !same(config[key], presetValue(config.algo, key))).length;
}

/**
 * The baseline the labels are written against: the variant that makes them shortest in all
 * (with DAPO and its one-component ablations, full DAPO), then the one closest to its
 * algorithm's preset, then the one given first.
 */
function referenceConfig(configs: Config[]): Config {
  const cost = (reference: Config) =>
    configs.reduce((sum, c) => {
      const found = distinguishing(c, reference);
      return sum + Object.keys(found.settings).length + (found.algo ? 1 : 0);
    }, 0);
  let best = configs[0] ?? {};
  let bestScore = [Infinity, Infinity];
  for (const candidate of configs) {
    const score = [cost(candidate), presetDeviations(candidate)];
    if (score[0] < bestScore[0] || (score[0] === bestScore[0] && score[1] < bestScore[1])) [best, bestScore] = [candidate, score];
  }
  return best;
}

function labelOf(algo: string | undefined, settings: Config, reference: Config): string {
  const parts = Object.entries(settings).map(([key, value]) => `${settingName(key)}=${value === undefined ? 'unset' : typeof value === 'string' ? value : JSON.stringify(value)}`);
  if (algo) parts.unshift(algo);
  return parts.length > 0 ? parts.join(', ') : algoName(reference);
}

/** Groups runs into variants, in the order their first run was given, and names them. */
export function groupVariants(runs: LoadedRun[]): Variant[] {
  const groups = new Map<string, LoadedRun[]>();
  for (const run of runs) {
    // A folder without config.json cannot be matched with others: it is its own variant.
    const key = run.config ? JSON.stringify(identity(run.config)) : `dir:${run.dir}`;
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  const members = [...groups.values()];
  const configs = members.filter((m) => m[0].config).map((m) => identity(m[0].config!));
  const reference = referenceConfig(configs);
  const taken = new Set<string>();
  return members.map((group) => {
    let label: string;
    let settings: Config = {};
    if (group[0].config) {
      const found = distinguishing(identity(group[0].config), reference);
      settings = found.settings;
      label = labelOf(found.algo, settings, reference);
    } else {
      label = basename(group[0].dir);
    }
    // Labels from configs are distinct by construction; folder names can repeat.
    for (let i = 2; taken.has(label); i++) label = `${label.replace(/ #\d+$/, '')} #${i}`;
    taken.add(label);
    return { label, runs: group, settings };
  });
}

/** "DAPO (8 seeds)": the label with the number of runs behind the line. */
export function legendLabel(variant: Variant): string {
  const n = variant.runs.length;
  if (n === 1) return variant.label;
  const seeds = new Set(variant.runs.map((r) => JSON.stringify(r.config?.seed)));
  return `${variant.label} (${n} ${seeds.size === n ? 'seeds' : 'runs'})`;
}
