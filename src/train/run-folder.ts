// The run folder: where a run writes, decided so that nothing a user saved is mixed up or
// overwritten by accident.
// - A resume writes into the run folder it resumes (the folder of the checkpoint given), never
//   the `out` recorded in that run's config.json, which still names the folder the run was
//   first written to (a copied or moved run would otherwise write into the original).
// - A new run into a folder that already holds one is refused, naming --resume and --overwrite;
//   --overwrite removes the old run's files first, so it really starts clean.
// - Temporary files and folders left by writes that were killed (checkpoints, models, JSON
//   written atomically) are removed when their writer is gone.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

import { isCheckpoint } from './checkpoint.js';

export type RunFolderErrorCode = 'E_RUN_EXISTS' | 'E_RUN_FOLDER';

export class RunFolderError extends Error {
  readonly code: RunFolderErrorCode;
  readonly dir: string;
  constructor(code: RunFolderErrorCode, dir: string, message: string) {
    super(message);
    this.name = 'RunFolderError';
    this.code = code;
    this.dir = dir;
  }
}

/** Where a resume from an earlier checkpoint moves what the run wrote after it (set-aside.ts). */
export const SET_ASIDE_FOLDER = 'abandoned';

/** What a run writes into its folder: the files --overwrite removes. */
export const RUN_FILES = ['config.json', 'metrics.jsonl', 'training_metrics.png', 'checkpoints', 'final', 'warmup-model', SET_ASIDE_FOLDER] as const;

/** True when dir holds (part of) a run. */
export function holdsRun(dir: string): boolean {
  return RUN_FILES.some((f) => existsSync(join(dir, f)));
}

/** The run folder a resume path belongs to: the path itself, or the run around a checkpoint. */
export function runFolderOf(resumePath: string): string | undefined {
  const path = resolve(resumePath);
  if (!isCheckpoint(path)) return path;
  const parent = dirname(path);
  return basename(parent) === 'checkpoints' ? dirname(parent) : undefined;
}

/** True when the run in dir has logged a metrics row past `step` (it trained beyond it). */
export function trainedPast(dir: string, step: number): boolean {
  const metrics = join(dir, 'metrics.jsonl');
  if (!existsSync(metrics)) return false;
  return readFileSync(metrics, 'utf8')
    .split('\n')
    .some((line) => {
      const m = /"step":\s*(\d+)/.exec(line);
      return m !== null && Number(m[1]) > step;
    });
}

/** True when the run in dir has trained at least one step or finished (a row past step 0, or final/). */
export function runHasProgress(dir: string): boolean {
  return existsSync(join(dir, 'final')) || trainedPast(dir, 0);
}

export interface RunFolderRequest {
  /** --out, when given (on the command line or in a --config file). */
  out: string | undefined;
  /** --resume: a run folder or one of its checkpoints. */
  resume: string | undefined;
  /** --overwrite: start a new run in a folder that holds one, removing the old run's files. */
  overwrite: boolean;
  /** Where a new run goes when out is not given. */
  defaultOut: () => string;
}

/**
 * The folder this run writes into (absolute), checked: a new run never lands on an old one
 * unless overwrite says so, and a resume writes where the run it resumes lives.
 */
export function chooseRunFolder(req: RunFolderRequest): string {
  if (req.resume !== undefined) {
    if (req.overwrite) throw new RunFolderError('E_RUN_FOLDER', resolve(req.resume), '--overwrite starts a new run; it cannot be combined with --resume');
    const own = runFolderOf(req.resume);
    if (req.out === undefined || (own !== undefined && resolve(req.out) === own)) {
      if (own === undefined)
        throw new RunFolderError(
          'E_RUN_FOLDER',
          resolve(req.resume),
          `${req.resume} is a checkpoint outside a run folder (not in <run>/checkpoints/): give --out for the run to continue in`,
        );
      return own;
    }
    // Continuing from another run's checkpoint into a folder of its own: that folder must be new.
    const out = resolve(req.out);
    if (holdsRun(out))
      throw new RunFolderError(
        'E_RUN_EXISTS',
        out,
        `${out} already holds a run; a run resumed from ${req.resume} cannot write into it. ` +
          `Leave out --out to continue in ${own ?? 'the run folder'}, or give an empty folder`,
      );
    return out;
  }
  const out = resolve(req.out ?? req.defaultOut());
  if (holdsRun(out)) {
    if (!req.overwrite)
      throw new RunFolderError(
        'E_RUN_EXISTS',
        out,
        `${out} already holds a run. Continue it with --resume ${out}, start a new run elsewhere with another --out, ` +
          'or replace it with --overwrite (which deletes its checkpoints, metrics and final model)',
      );
    clearRun(out);
  }
  return out;
}

/** Removes the files a run wrote into dir (and only those). */
export function clearRun(dir: string): void {
  for (const f of RUN_FILES) rmSync(join(dir, f), { recursive: true, force: true });
}

// Temporaries of the run's own writes: folders renamed into place (Policy.save, saveCheckpoint)
// are `.<name>.tmp-<pid>[-<time>][.old]`, files written atomically `<name>.tmp-<pid>`. Only
// these names, so no file of the user's that happens to end in .tmp-<n> is touched.
const TEMPORARY = /^(?:\.(?:final|warmup-model|step-\d+)\.tmp-(\d+)(?:-\d+)?(?:\.old)?|(?:config\.json|metrics\.jsonl|training_metrics\.png)\.tmp-(\d+))$/;

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';  // exists, another user's
  }
}

/** Removes temporaries in dir and dir/checkpoints whose writing process is gone; returns their names. */
export function removeStaleTemporaries(dir: string): string[] {
  const removed: string[] = [];
  for (const folder of [dir, join(dir, 'checkpoints')]) {
    if (!existsSync(folder)) continue;
    for (const name of readdirSync(folder)) {
      const m = TEMPORARY.exec(name);
      if (!m || alive(Number(m[1] ?? m[2]))) continue;
      rmSync(join(folder, name), { recursive: true, force: true });
      removed.push(join(folder, name));
    }
  }
  return removed;
}

/** The command that resumes the run in dir, as this process was started (quoted for a POSIX shell). */
export function resumeCommand(dir: string): string {
  const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  if (process.env.npm_lifecycle_event === 'train' && process.env.npm_lifecycle_script?.includes('cli/main'))
    return `npm run train -- --resume ${quote(dir)}`;
  return [process.execPath, ...process.execArgv, process.argv[1], 'train', '--resume', dir].map(quote).join(' ');
}
