// Resuming a run from one of its earlier checkpoints (step-2 while step-4 and final/ exist)
// starts a new branch of the run from there. What the old branch wrote after that step is moved
// aside, not deleted (nothing a user saved is lost) and not left in place: a later checkpoint
// of the old branch would otherwise be what the next `--resume DIR` picks up (the newest step),
// mixing the two branches, and --save-limit would prune the new branch's checkpoints first.
import { copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';

import { checkpointSteps } from './checkpoint.js';
import { SET_ASIDE_FOLDER, trainedPast } from './run-folder.js';

/**
 * Moves the checkpoints after `step` and final/ of the run in dir into
 * dir/abandoned/after-step-<step>-<time>/ (with copies of config.json and metrics.jsonl as they
 * were). final/ goes only when the run had trained past `step` (a run continued from the
 * checkpoint its final/ was saved with leaves it, to be replaced at its end as before).
 * Returns that folder, or undefined when the run has nothing after `step`.
 */
export function setAsideLaterProgress(dir: string, step: number, now: Date = new Date()): string | undefined {
  const later = checkpointSteps(dir).filter((s) => s > step);
  const final = join(dir, 'final');
  const moveFinal = existsSync(final) && (later.length > 0 || trainedPast(dir, step));
  if (later.length === 0 && !moveFinal) return undefined;
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const target = join(dir, SET_ASIDE_FOLDER, `after-step-${step}-${stamp}`);
  mkdirSync(join(target, 'checkpoints'), { recursive: true });
  for (const file of ['config.json', 'metrics.jsonl'])
    if (existsSync(join(dir, file))) copyFileSync(join(dir, file), join(target, file));
  for (const s of later) renameSync(join(dir, 'checkpoints', `step-${s}`), join(target, 'checkpoints', `step-${s}`));
  if (moveFinal) renameSync(final, join(target, 'final'));
  return target;
}
