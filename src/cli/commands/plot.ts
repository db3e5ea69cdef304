// dapo plot DIR: redraws DIR/training_metrics.png from DIR/metrics.jsonl.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandModule } from 'yargs';

import { plotRun } from '../../train/plot.js';

export const plotCommand: CommandModule<object, { dir: string }> = {
  command: 'plot <dir>',
  describe: 'redraw training_metrics.png of a run from its metrics.jsonl',
  builder: (y) => y.positional('dir', { type: 'string', demandOption: true, describe: 'run folder' }),
  handler: async ({ dir }) => {
    if (!existsSync(join(dir, 'metrics.jsonl'))) throw new Error(`${dir} has no metrics.jsonl`);
    console.log(`wrote ${await plotRun(dir)}`);
  },
};
