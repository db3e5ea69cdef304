// dapo train: the DAPO loop on a parquet file, or with no arguments the built-in task.
import type { CommandModule } from 'yargs';

import { readConfigFile, resolveConfig } from '../../train/config.js';
import { train } from '../../train/trainer.js';
import { givenOptions, withTrainOptions } from '../options.js';

type TrainArgs = Record<string, unknown> & { config?: string; resume?: string };

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'train with DAPO (no options: builtin:tiny on the built-in arithmetic task, on the CPU)',
  builder: (y) => withTrainOptions(y) as never,
  handler: async (argv) => {
    const fromFile = argv.config ? readConfigFile(argv.config) : {};
    const config = resolveConfig(fromFile, givenOptions(argv));
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
