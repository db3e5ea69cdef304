// Checkpoints: checkpoints/step-N/ holds the model with its optimizer state (model/, a Hugging
// Face folder plus optimizer.safetensors) and trainer-state.json (step, data cursor, carried
// groups). Everything is written to a temporary folder and renamed, so a kill never leaves a
// half checkpoint.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

import type { DataCursor } from '../data/index.js';
import type { Policy } from '../policy/index.js';
import type { Group } from '../rollout/types.js';

export interface TrainerState {
  /** Training steps completed. */
  step: number;
  optimizerSteps: number;
  cursor: DataCursor;
  /** Groups carried to the next step (keepSurplus), serialised. */
  surplus: SerializedGroup[];
  /** The model training started from (after any warm-up): the KL penalty's reference. */
  startModel: string;
}

export interface SerializedGroup {
  rowId: number;
  promptIds: number[];
  rollouts: Array<Omit<Group['rollouts'][number], 'response' | 'sampleLogprobs'> & { response: number[]; sampleLogprobs: number[] }>;
}

export class CheckpointError extends Error {
  readonly code = 'E_CHECKPOINT';
  /** The file that is wrong, and the field in it, when known. */
  readonly file?: string;
  readonly field?: string;
  constructor(message: string, where: { file?: string; field?: string } = {}) {
    super(message);
    this.name = 'CheckpointError';
    this.file = where.file;
    this.field = where.field;
  }
}

export function serializeGroups(groups: Group[]): SerializedGroup[] {
  return groups.map((g) => ({
    rowId: g.row.id,
    promptIds: Array.from(g.promptIds),
    rollouts: g.rollouts.map((r) => ({ ...r, response: Array.from(r.response), sampleLogprobs: Array.from(r.sampleLogprobs) })),
  }));
}

export function deserializeGroups(groups: SerializedGroup[], rowById: (id: number) => Group['row']): Group[] {
  return groups.map((g) => ({
    row: rowById(g.rowId),
    promptIds: Int32Array.from(g.promptIds),
    rollouts: g.rollouts.map((r) => ({ ...r, response: Int32Array.from(r.response), sampleLogprobs: Float32Array.from(r.sampleLogprobs) })),
  }));
}

export async function saveCheckpoint(dir: string, policy: Policy, state: TrainerState): Promise<void> {
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    await policy.save(join(tmp, 'model'), { optimizer: true });
    writeFileSync(join(tmp, 'trainer-state.json'), JSON.stringify(state) + '\n');
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
}

/** A checkpoint folder: one holding trainer-state.json. */
export function isCheckpoint(path: string): boolean {
  return existsSync(join(path, 'trainer-state.json'));
}

/** Checkpoint steps under dir/checkpoints, ascending. */
export function checkpointSteps(dir: string): number[] {
  const root = join(dir, 'checkpoints');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((name) => /^step-(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** The newest checkpoints/step-N under a run folder, or the folder itself when it is one. */
export function findCheckpoint(path: string): string {
  if (isCheckpoint(path)) return path;
  const steps = checkpointSteps(path);
  if (steps.length === 0) throw new CheckpointError(`${path} holds no checkpoint (no trainer-state.json and no checkpoints/step-N/)`);
  return join(path, 'checkpoints', `step-${steps[steps.length - 1]}`);
}

/** Keeps the newest `limit` checkpoints of a run (transformers' save_total_limit); 0 keeps all. Returns the removed steps. */
export function pruneCheckpoints(dir: string, limit: number): number[] {
  if (limit <= 0) return [];
  const steps = checkpointSteps(dir);
  const old = steps.slice(0, Math.max(0, steps.length - limit));
  for (const step of old) rmSync(join(dir, 'checkpoints', `step-${step}`), { recursive: true, force: true });
  return old;
}

export function readTrainerState(checkpoint: string): TrainerState {
  const file = join(checkpoint, 'trainer-state.json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CheckpointError(`cannot read ${file}: ${(error as Error).message}`, { file });
  }
  return validateTrainerState(parsed, file);
}

/** Checks every field a resume relies on; a CheckpointError names the file and the field. */
export function validateTrainerState(value: unknown, file: string): TrainerState {
  const fail = (field: string, why: string, got: unknown): never => {
    throw new CheckpointError(`${file}: ${field} ${why}, got ${JSON.stringify(got) ?? String(got)}`, { file, field });
  };
  const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  const count = (obj: Record<string, unknown>, key: string, prefix = '') => {
    const v = obj[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(prefix + key, 'must be a non-negative integer', v);
  };
  if (!isRecord(value)) return fail('(the whole file)', 'must be a JSON object', value);
  count(value, 'step');
  count(value, 'optimizerSteps');
  const cursor = value.cursor;
  if (!isRecord(cursor)) return fail('cursor', 'must be an object { epoch, index, seed, size, shuffle }', cursor);
  count(cursor, 'epoch', 'cursor.');
  count(cursor, 'index', 'cursor.');
  count(cursor, 'size', 'cursor.');
  if (typeof cursor.seed !== 'number' || !Number.isFinite(cursor.seed)) fail('cursor.seed', 'must be a number', cursor.seed);
  if (typeof cursor.shuffle !== 'boolean') fail('cursor.shuffle', 'must be a boolean', cursor.shuffle);
  if (!Array.isArray(value.surplus)) return fail('surplus', 'must be an array of groups', value.surplus);
  value.surplus.forEach((g: unknown, i: number) => {
    if (!isRecord(g) || !Array.isArray(g.promptIds) || !Array.isArray(g.rollouts)) fail(`surplus[${i}]`, 'must be a group { rowId, promptIds, rollouts }', g);
    count(g as Record<string, unknown>, 'rowId', `surplus[${i}].`);
  });
  if (typeof value.startModel !== 'string' || value.startModel === '') fail('startModel', 'must be a model folder or builtin name', value.startModel);
  return value as unknown as TrainerState;
}
