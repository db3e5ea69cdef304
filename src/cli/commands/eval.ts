// dapo eval: held-out accuracy of a model folder on a parquet file (or the built-in task's
// held-out split): val/acc over k samples per prompt and val/pass@k.
import type { CommandModule } from 'yargs';

import { DEVICES, DTYPES, resolveConfig } from '../../train/config.js';
import { evaluate } from '../../train/evaluate.js';
import { setupRun } from '../../train/setup.js';
import { givenOptions } from '../options.js';

type EvalArgs = Record<string, unknown> & { model: string; dataset?: string };

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'evaluate a model on a dataset (val/acc over k samples, pass@k)',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'Hugging Face model folder (or builtin:tiny)' })
      .option('dataset', { type: 'string', describe: "parquet file, or 'builtin:arithmetic' for the built-in held-out split", default: 'builtin:arithmetic' })
      .option('input-key', { type: 'string', describe: 'prompt column' })
      .option('answer-key', { type: 'string', describe: 'answer column' })
      .option('instruction', { type: 'string', describe: 'template around each question; {question} marks where it goes' })
      .option('reward', { type: 'string', describe: "'dapo-math', 'boxed', or a JS module" })
      .option('val-samples', { type: 'number', describe: 'k samples per prompt' })
      .option('val-temperature', { type: 'number', describe: 'sampling temperature (0: greedy)' })
      .option('val-top-p', { type: 'number', describe: 'top-p' })
      .option('val-limit', { type: 'number', describe: 'prompts at most (0: all)' })
      .option('max-response-len', { type: 'number', describe: 'response tokens at most' })
      .option('seed', { type: 'number', describe: 'sampling seed' })
      .option('device', { type: 'string', choices: DEVICES, describe: "where the policy runs ('auto': CUDA when usable, else the CPU)" })
      .option('dtype', { type: 'string', choices: DTYPES, describe: "compute dtype ('auto': bfloat16 on CUDA, float32 on the CPU)" }) as never,
  handler: async (argv) => {
    const given = givenOptions(argv);
    const config = resolveConfig({}, given);
    // The prompts to score: the parquet file itself, or the built-in task's held-out split.
    const run = await setupRun({ ...config, valDataset: config.dataset === 'builtin:arithmetic' ? undefined : config.dataset });
    const prompts = run.val ?? run.train;
    const limit = config.valLimit > 0 ? Math.min(config.valLimit, prompts.rows.length) : prompts.rows.length;
    const result = await evaluate(run.policy, run.tokenizer, run.reward, prompts.rows.slice(0, limit), prompts.ids.slice(0, limit), config, config.seed);
    run.policy.dispose();
    const how = config.valTemperature === 0 ? 'greedy' : `${config.valSamples} samples at temperature ${config.valTemperature}, top-p ${config.valTopP}`;
    console.log(`dapo: ${limit} prompts, ${how}`);
    console.log(JSON.stringify(result, null, 2));
  },
};
