// Run folders as `dapo compare` reads them: metrics.jsonl (required) and config.json (when
// present: it is what tells variants apart).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { readMetrics } from '../train/plot.js';

export class CompareError extends Error {
  readonly code = 'E_COMPARE';
  constructor(message: string) {
    super(message);
    this.name = 'CompareError';
  }
}

export interface LoadedRun {
  dir: string;
  /** The run's config.json, or undefined when it has none. */
  config: Record<string, unknown> | undefined;
  rows: Array<Record<string, number>>;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CompareError(`cannot read ${path}: ${(error as Error).message}`);
  }
}

export function loadRun(dir: string): LoadedRun {
  const metrics = join(dir, 'metrics.jsonl');
  if (!existsSync(metrics)) throw new CompareError(`${dir} is not a run folder: it has no metrics.jsonl`);
  let rows: Array<Record<string, number>>;
  try {
    rows = readMetrics(metrics);
  } catch (error) {
    throw new CompareError(`cannot read ${metrics}: ${(error as Error).message}`);
  }
  const configPath = join(dir, 'config.json');
  const config = existsSync(configPath) ? readJson(configPath) : undefined;
  if (config !== undefined && (typeof config !== 'object' || config === null || Array.isArray(config)))
    throw new CompareError(`${configPath} must hold a JSON object`);
  return { dir: resolve(dir), config: config as Record<string, unknown> | undefined, rows };
}

/** The metric keys any of the runs logged, in first-seen order. */
export function loggedMetrics(runs: LoadedRun[]): string[] {
  const keys = new Set<string>();
  for (const run of runs) for (const row of run.rows) for (const key of Object.keys(row)) if (key !== 'step') keys.add(key);
  return [...keys];
}
