// dapo eval: scores a model folder on a parquet file (or a built-in task's held-out split):
// avg@k and pass@k per data source, in verl's val-core layout. Settings come from the run that
// wrote the model (its config.json beside or above final/), or --config, then from flags.
import { writeFileSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';

import { readConfigFile } from '../../train/config-file.js';
import { OPTIONS, resolveConfig, type TrainConfig } from '../../train/config.js';
import { dataSourceMetrics, scorePrompts, summarize, type PromptScore } from '../../train/evaluate.js';
import { Progress } from '../../train/progress.js';
import { setupRun } from '../../train/setup.js';
import { evalPlan, findRunConfig, generationMeter, resultTable } from '../eval-report.js';
import { givenOptions, kebab } from '../options.js';

type EvalArgs = Record<string, unknown> & { model: string; config?: string; output?: string };

/** The training options that mean something to eval, with eval's own aliases. */
const EVAL_OPTIONS: Array<[string, string[]]> = [
  ['dataset', []],
  ['inputKey', []],
  ['answerKey', []],
  ['instruction', []],
  ['dedupe', []],
  ['maxPromptLen', []],
  ['promptOverflow', []],
  ['reward', []],
  ['rewardTimeout', []],
  ['seed', []],
  ['device', []],
  ['dtype', []],
  ['valSamples', ['k', 'n']],
  ['valTemperature', ['temperature']],
  ['valTopP', ['top-p']],
  ['valLimit', ['limit']],
  ['maxResponseLen', []],
  ['genBatch', []],
  ['overlongBuffer', []],
];

function withEvalOptions<T>(y: Argv<T>): Argv<T> {
  let out = y
    .option('model', { type: 'string', demandOption: true, describe: 'Hugging Face model folder (a run\'s final/, a checkpoint\'s model/), or builtin:tiny' })
    .option('config', { type: 'string', describe: "the run's config.json or a JSON / YAML file of options (default: the config.json of the run the model came from)" })
    .option('output', { type: 'string', describe: 'also write the metrics to this JSON file' });
  for (const [key, aliases] of EVAL_OPTIONS) {
    const spec = OPTIONS.find((o) => o.key === key);
    // Skipped where this build's option table lacks one (--dtype, --reward-timeout).
    if (!spec) continue;
    out = out.option(kebab(key), {
      type: spec.kind,
      alias: aliases,
      describe: key === 'overlongBuffer' ? 'accepted so a train command line works; validation scores the task only (no overlong shaping)' : spec.describe,
      choices: spec.choices as string[] | undefined,
    });
  }
  return out;
}

/**
 * The settings: defaults < the run's config.json (or --config) < flags. The model is --model;
 * the prompts are --dataset, else the run's validation file, else its training file.
 */
function evalConfig(argv: EvalArgs, notes: string[]): { config: TrainConfig; source?: string } {
  const source = argv.config ?? findRunConfig(argv.model);
  const unknown: string[] = [];
  const fromFile: Partial<TrainConfig> = source ? readConfigFile(source, argv.config ? {} : { unknown }) : {};
  if (unknown.length) notes.push(`${source}: ignored ${unknown.join(', ')} (not options of this dapo)`);
  const given = givenOptions(argv);
  if (given.dataset === undefined && fromFile.valDataset !== undefined) {
    fromFile.dataset = fromFile.valDataset;
    notes.push(`prompts: the run's validation file ${fromFile.valDataset}`);
  } else if (given.dataset === undefined && fromFile.dataset !== undefined && !fromFile.dataset.startsWith('builtin:')) {
    notes.push(`prompts: the run's training file ${fromFile.dataset} (it had no --val-dataset; --dataset names another)`);
  }
  if (given.overlongBuffer !== undefined) notes.push('--overlong-buffer has no effect here: validation scores the task only');
  // Validation never shapes rewards, so the training-only checks (overlong buffer, batch sizes)
  // must not refuse a shorter --max-response-len.
  const config = resolveConfig({ ...fromFile, valDataset: undefined, out: undefined, overlongShaping: false }, { ...given, model: argv.model }, notes);
  return { config, source };
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'score a model on a dataset: avg@k and pass@k per data source (settings from the run that wrote it)',
  builder: (y) => withEvalOptions(y) as never,
  handler: async (argv) => {
    const notes: string[] = [];
    const { config, source } = evalConfig(argv, notes);
    const run = await setupRun(config);
    for (const note of [...run.notes, ...notes]) console.error(`dapo: ${note}`);
    // A built-in task is scored on its held-out split; a parquet file on its rows.
    const prompts = config.dataset.startsWith('builtin:') && run.val ? run.val : run.train;
    const limit = config.valLimit > 0 ? Math.min(config.valLimit, prompts.rows.length) : prompts.rows.length;
    console.error(evalPlan(config, limit, prompts.rows.length, source, run.policy.device));
    const progress = new Progress(1, 0);
    let scores: PromptScore[];
    try {
      scores = await scorePrompts(run.policy, run.tokenizer, run.reward, prompts.rows.slice(0, limit), prompts.ids.slice(0, limit), config, config.seed, {
        onProgress: generationMeter((line) => progress.status(line)),
      });
    } finally {
      progress.finish();
      run.policy.dispose();
    }
    const metrics = { ...summarize(scores), ...dataSourceMetrics(scores) };
    console.log(resultTable(scores));
    console.log(JSON.stringify(metrics, null, 2));
    if (argv.output) writeFileSync(argv.output, JSON.stringify(metrics, null, 2) + '\n');
  },
};
