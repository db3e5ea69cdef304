// The ablation's training runs: one `dapo train` process each, a few at a time, each costed in
// CPU and wall time. A finished run (its record matches the command) is reused, so an
// interrupted ablation picks up where it stopped.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';

export interface RunRecord {
  args: string[];
  wallSeconds: number;
  userSeconds: number;
  systemSeconds: number;
  /** The 1-minute load average when the run ended. */
  loadAtEnd: number;
}

export interface RunSpec {
  dir: string;
  args: string[];
  label: string;
}

const RECORD = 'ablation-run.json';

export function finishedRecord(spec: RunSpec): RunRecord | undefined {
  const path = join(spec.dir, RECORD);
  if (!existsSync(path)) return undefined;
  const saved = JSON.parse(readFileSync(path, 'utf8')) as Partial<RunRecord>;
  if (JSON.stringify(saved.args) !== JSON.stringify(spec.args) || saved.userSeconds === undefined) return undefined;
  return saved as RunRecord;
}

function runOne(root: string, spec: RunSpec, env: NodeJS.ProcessEnv): Promise<RunRecord> {
  rmSync(spec.dir, { recursive: true, force: true });
  const usageFile = `${spec.dir}.usage.json`;
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', join(root, 'scripts/ablation/usage.mjs'), join(root, 'src/cli/main.ts'), ...spec.args], {
    cwd: root,
    env: { ...env, CI: '1', DAPO_USAGE_FILE: usageFile },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`run failed (exit ${code}): dapo ${spec.args.join(' ')}\n${stderr}`));
      const usage = JSON.parse(readFileSync(usageFile, 'utf8')) as { userSeconds: number; systemSeconds: number };
      rmSync(usageFile, { force: true });
      const record: RunRecord = { args: spec.args, wallSeconds: (Date.now() - started) / 1000, ...usage, loadAtEnd: loadavg()[0] };
      const path = join(spec.dir, RECORD);
      writeFileSync(`${path}.tmp`, JSON.stringify(record, null, 2) + '\n');
      renameSync(`${path}.tmp`, path);
      resolve(record);
    });
  });
}

/** Runs every spec not already finished, `jobs` at a time; returns the records in spec order. */
export async function runAll(root: string, specs: RunSpec[], jobs: number, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<RunRecord[]> {
  const records: RunRecord[] = new Array(specs.length);
  const todo: number[] = [];
  specs.forEach((spec, i) => {
    const done = finishedRecord(spec);
    if (done) records[i] = done;
    else todo.push(i);
  });
  log(`ablation: ${specs.length - todo.length} of ${specs.length} runs already finished, ${todo.length} to run, ${jobs} at a time`);
  let next = 0;
  let finished = 0;
  const worker = async () => {
    while (next < todo.length) {
      const i = todo[next++];
      const r = await runOne(root, specs[i], env);
      records[i] = r;
      finished++;
      log(
        `ablation: [${finished}/${todo.length}] ${specs[i].label}: ${(r.userSeconds + r.systemSeconds).toFixed(0)} s CPU, ` +
          `${r.wallSeconds.toFixed(0)} s wall, load ${r.loadAtEnd.toFixed(1)}`,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  return records;
}
