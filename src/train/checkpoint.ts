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
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
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

/** The newest checkpoints/step-N under a run folder, or the folder itself when it is one. */
export function findCheckpoint(path: string): string {
  if (existsSync(join(path, 'trainer-state.json'))) return path;
  const root = join(path, 'checkpoints');
  const steps = existsSync(root)
    ? readdirSync(root)
        .map((name) => /^step-(\d+)$/.exec(name))
        .filter((m) => m !== null)
        .map((m) => Number(m![1]))
    : [];
  if (steps.length === 0) throw new CheckpointError(`${path} holds no checkpoint (no trainer-state.json and no checkpoints/step-N/)`);
  return join(root, `step-${Math.max(...steps)}`);
}

export function readTrainerState(checkpoint: string): TrainerState {
  const file = join(checkpoint, 'trainer-state.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as TrainerState;
  } catch (error) {
    throw new CheckpointError(`cannot read ${file}: ${(error as Error).message}`);
  }
}
