// yargs options built from the one option table in src/train/config.ts. No yargs defaults:
// a flag counts only when given, so presets and config files can fill the rest; the
// defaults are printed in --help from the table.
import type { Argv } from 'yargs';

import { OPTIONS, RECIPE_DEFAULTS, BUILTIN_SCALE, type TrainConfig } from '../train/config.js';

export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function shownDefault(key: keyof TrainConfig): string {
  const recipe = RECIPE_DEFAULTS[key];
  const builtin = BUILTIN_SCALE[key];
  const show = (v: unknown) => (v === undefined ? 'none' : String(v));
  return builtin === undefined ? show(recipe) : `${show(recipe)}; built-in task: ${show(builtin)}`;
}

export function withTrainOptions<T>(y: Argv<T>): Argv<T> {
  let out = y;
  for (const spec of OPTIONS) {
    out = out.option(kebab(spec.key), {
      type: spec.kind,
      describe: spec.describe,
      group: `${spec.group}:`,
      choices: spec.choices as string[] | undefined,
      defaultDescription: shownDefault(spec.key),
    });
  }
  return out
    .option('config', { type: 'string', describe: 'JSON or YAML file with any of the options above, keys in kebab-case, camelCase or snake_case (flags win)', group: 'Run:' })
    .option('resume', { type: 'string', describe: 'continue a run from DIR (a run folder or one of its checkpoints)', group: 'Run:' });
}

/** The options the user actually gave, as config keys. */
export function givenOptions(argv: Record<string, unknown>): Partial<TrainConfig> {
  const given: Record<string, unknown> = {};
  for (const spec of OPTIONS) {
    const value = argv[spec.key] ?? argv[kebab(spec.key)];
    if (value !== undefined) given[spec.key] = value;
  }
  return given as Partial<TrainConfig>;
}
