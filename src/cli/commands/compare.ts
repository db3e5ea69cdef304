// dapo compare RUN_DIR...: one picture of several runs side by side, a panel per metric and a
// line per variant (runs that differ only in the seed are one variant: their mean and a
// min-max band), named by what differs in their config.json.
import { existsSync } from 'node:fs';
import type { CommandModule } from 'yargs';

import { checkMetrics, DEFAULT_COMPARE_METRICS, plotComparison, type CompareSection } from '../../compare/chart.js';
import { CompareError, loadRun, loggedMetrics } from '../../compare/runs.js';
import { groupVariants, legendLabel } from '../../compare/variants.js';

interface CompareArgs {
  runs: string[];
  out: string;
  metrics?: string[];
  smooth: number;
  columns: number;
  title?: string;
  overwrite: boolean;
}

export const compareCommand: CommandModule<object, CompareArgs> = {
  command: 'compare <runs..>',
  describe: 'draw several runs side by side: a panel per metric, a line per variant (seeds pooled: mean and min-max band)',
  builder: (y) =>
    y
      .positional('runs', { type: 'string', array: true, demandOption: true, describe: 'run folders (each with metrics.jsonl, and config.json to name the variants)' })
      .option('out', { type: 'string', default: 'compare.png', describe: 'the PNG to write' })
      .option('metrics', { type: 'string', array: true, describe: `metric keys, one panel each (default: ${DEFAULT_COMPARE_METRICS.join(' ')}; those no run logged are left out)` })
      .option('smooth', { type: 'number', default: 1, describe: 'average each run over this many steps (trailing) before pooling seeds; 1: none' })
      .option('columns', { type: 'number', default: 4, describe: 'panels per row' })
      .option('title', { type: 'string', describe: 'title above the picture' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'replace --out if it exists' })
      .check((argv) => {
        if (!Number.isInteger(argv.smooth) || argv.smooth < 1) throw new CompareError(`--smooth must be a whole number >= 1, got ${argv.smooth}`);
        if (!Number.isInteger(argv.columns) || argv.columns < 1) throw new CompareError(`--columns must be a whole number >= 1, got ${argv.columns}`);
        return true;
      }) as never,
  handler: async (argv) => {
    if (existsSync(argv.out) && !argv.overwrite) throw new CompareError(`${argv.out} exists: choose another --out, or pass --overwrite to replace it`);
    const runs = argv.runs.map(loadRun);
    let metrics: readonly string[];
    if (argv.metrics) {
      metrics = argv.metrics;
      checkMetrics({ runs, metrics });
    } else {
      const logged = new Set(loggedMetrics(runs));
      metrics = DEFAULT_COMPARE_METRICS.filter((m) => logged.has(m));
    }
    const section: CompareSection = { runs, metrics };
    for (const variant of groupVariants(runs)) console.log(`dapo: ${legendLabel(variant)}: ${variant.runs.map((r) => r.dir).join(', ')}`);
    const png = await plotComparison([section], argv.out, { title: argv.title, smooth: argv.smooth, columns: argv.columns });
    console.log(`dapo: wrote ${png.path} (${png.width} x ${png.height}, ${metrics.length} panels)`);
  },
};
