// dapo train: the DAPO loop on a parquet file, or with no arguments the built-in task.
import type { CommandModule } from 'yargs';

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { readConfigFile, resolveConfig } from '../../train/config.js';
import { train } from '../../train/trainer.js';
import { givenOptions, withTrainOptions } from '../options.js';

type TrainArgs = Record<string, unknown> & { config?: string; resume?: string };

/** The config.json a run wrote, found from the run folder or one of its checkpoints/step-N. */
function savedRunConfig(resume: string): string | undefined {
  for (const dir of [resume, dirname(dirname(resume))]) if (existsSync(join(dir, 'config.json'))) return join(dir, 'config.json');
  return undefined;
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'train with DAPO (no options: builtin:tiny on the built-in arithmetic task, on the CPU)',
  builder: (y) => withTrainOptions(y) as never,
  handler: async (argv) => {
    // Resuming continues with the run's own settings unless --config or flags say otherwise.
    const file = argv.config ?? (argv.resume ? savedRunConfig(argv.resume) : undefined);
    const fromFile = file ? readConfigFile(file) : {};
    const notes: string[] = [];
    const config = resolveConfig(fromFile, givenOptions(argv), notes);
    for (const note of notes) console.error(`dapo: ${note}`);
    const started = Date.now();
    const summary = await train(config, { resume: argv.resume, handleSignals: true });
    const minutes = ((Date.now() - started) / 60000).toFixed(1);
    const acc = (v?: { 'val/acc': number }) => (v ? `${(100 * v['val/acc']).toFixed(1)}%` : 'n/a');
    console.log(`dapo: ${summary.interrupted ? 'stopped' : 'finished'} after ${summary.steps} steps in ${minutes} min`);
    if (summary.startVal || summary.endVal) {
      const how = config.valTemperature === 0 ? 'greedy' : `mean of ${config.valSamples} samples at temperature ${config.valTemperature}, top-p ${config.valTopP}`;
      console.log(`dapo: held-out val/acc ${acc(summary.startVal)} at the start -> ${acc(summary.endVal)} at the end (${how})`);
    }
    console.log(`dapo: metrics   ${summary.outDir}/metrics.jsonl`);
    console.log(`dapo: picture   ${summary.plot}`);
    console.log(`dapo: model     ${summary.finalModel}`);
  },
};
