// dapo train: the DAPO loop on a parquet file, or with no arguments the built-in task.
import type { CommandModule } from 'yargs';

import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { readConfigFile, resolveConfig, type TrainConfig } from '../../train/config.js';
import { resumeCommand, runFolderOf } from '../../train/run-folder.js';
import { train } from '../../train/trainer.js';
import { givenOptions, withTrainOptions } from '../options.js';

type TrainArgs = Record<string, unknown> & { config?: string; resume?: string; overwrite?: boolean };

/** The config.json a run wrote, found from the run folder or one of its checkpoints/step-N. */
function savedRunConfig(resume: string): string | undefined {
  const dir = runFolderOf(resume);
  return dir && existsSync(join(dir, 'config.json')) ? join(dir, 'config.json') : undefined;
}

/**
 * The settings a command line asks for. A resume takes the run's saved config.json, except its
 * `out`: that names the folder the run was first written to, and a resume writes into the folder
 * it resumes (a copy or a move of the run must not write into the original).
 */
function requestedConfig(argv: TrainArgs, notes: string[]): TrainConfig {
  const saved = argv.resume !== undefined && argv.config === undefined ? savedRunConfig(argv.resume) : undefined;
  const file = argv.config ?? saved;
  const fromFile = file ? readConfigFile(file) : {};
  if (saved) delete fromFile.out;
  return resolveConfig(fromFile, givenOptions(argv), notes);
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'train with DAPO (no options: builtin:tiny on the built-in arithmetic task, on the CPU)',
  builder: (y) =>
    withTrainOptions(y).option('overwrite', {
      type: 'boolean',
      describe: 'start a new run in an --out folder that holds one, deleting its checkpoints, metrics and final model',
      group: 'Run:',
    }) as never,
  handler: async (argv) => {
    // Resuming continues with the run's own settings unless --config or flags say otherwise.
    const notes: string[] = [];
    const config = requestedConfig(argv, notes);
    for (const note of notes) console.error(`dapo: ${note}`);
    const started = Date.now();
    const summary = await train(config, { resume: argv.resume, overwrite: argv.overwrite, handleSignals: true });
    const minutes = ((Date.now() - started) / 60000).toFixed(1);
    if (summary.stoppedInWarmup) {
      console.log(`dapo: stopped by ${summary.signal} during the supervised warm-up, before any step`);
      console.log(`dapo: resume    ${resumeCommand(summary.outDir)}`);
      return;
    }
    const acc = (v?: { 'val/acc': number }) => (v ? `${(100 * v['val/acc']).toFixed(1)}%` : 'n/a');
    console.log(`dapo: ${summary.interrupted ? 'stopped' : 'finished'} after ${summary.steps} steps in ${minutes} min`);
    if (summary.startVal || summary.endVal) {
      const how = config.valTemperature === 0 ? 'greedy' : `mean of ${config.valSamples} samples at temperature ${config.valTemperature}, top-p ${config.valTopP}`;
      console.log(`dapo: held-out val/acc ${acc(summary.startVal)} at the start -> ${acc(summary.endVal)} at the end (${how})`);
    }
    console.log(`dapo: metrics   ${summary.outDir}/metrics.jsonl`);
    console.log(`dapo: picture   ${summary.plot}`);
    console.log(`dapo: model     ${summary.finalModel}`);
    if (summary.signal) console.log(`dapo: resume    ${resumeCommand(summary.outDir)}`);
  },
};
