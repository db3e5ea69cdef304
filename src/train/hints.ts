// The trainer says why when a run cannot learn, and what to try: a settings check before the
// first step (batches larger than the dataset, the 32B recipe's sizes on a CPU), and a
// diagnosis when no group has carried a signal for several steps (every response wrong: the
// model may not write the answer the way the reward rule reads it; every response right: the
// prompts are too easy).
import { isInformative } from '../rollout/dynamic-sampling.js';
import type { Group } from '../rollout/types.js';
import type { TrainConfig } from './config.js';
import type { Metrics } from './metrics.js';

/** Steps in a row with no informative group before the diagnosis is printed. */
export const SILENT_STEPS = 3;
/** Characters of a sample response shown (its end, where the answer is). */
const SHOWN_CHARS = 300;

/** What one step's generated groups said, for the diagnosis. */
export interface GroupSignal {
  groups: number;
  informative: number;
  allWrong: number;
  allRight: number;
  responses: number;
  /** Responses cut at maxResponseLen. */
  truncated: number;
  /** One response of an uninformative group, to show. */
  example?: { text: string; answer: string; score: number; finished: boolean };
}

export function groupSignal(groups: Group[]): GroupSignal {
  const signal: GroupSignal = { groups: groups.length, informative: 0, allWrong: 0, allRight: 0, responses: 0, truncated: 0 };
  for (const group of groups) {
    signal.responses += group.rollouts.length;
    signal.truncated += group.rollouts.filter((r) => !r.finished).length;
    if (isInformative(group)) signal.informative++;
    else if (group.rollouts.every((r) => r.acc)) signal.allRight++;
    else signal.allWrong++;
    if (!signal.example && !isInformative(group) && group.rollouts.length > 0) {
      const r = group.rollouts[0];
      signal.example = { text: r.text, answer: group.row.answer, score: r.taskScore, finished: r.finished };
    }
  }
  return signal;
}

/** The reward rule in words, for a --reward value. */
export function describeReward(spec: string): string {
  if (spec === 'dapo-math')
    return 'dapo-math: the last line that starts with "Answer:" must hold the ground truth (+1 right, -1 wrong or missing)';
  if (spec === 'boxed') return 'boxed: the last \\boxed{...} must hold the ground truth (+1 right, -1 wrong or missing)';
  return `${spec}: your module's function`;
}

function shown(text: string): string {
  const tail = text.length > SHOWN_CHARS ? `...${text.slice(-SHOWN_CHARS)}` : text;
  return JSON.stringify(tail);
}

/** What to try when every response is wrong, from what the sample response shows. */
function allWrongAdvice(config: Pick<TrainConfig, 'reward' | 'maxResponseLen'>, signal: GroupSignal): string[] {
  const tips: string[] = [];
  const text = signal.example?.text ?? '';
  if (signal.truncated > signal.responses / 2)
    tips.push(`${Math.round((100 * signal.truncated) / signal.responses)}% of the responses hit maxResponseLen ${config.maxResponseLen} before finishing: raise --max-response-len`);
  if (config.reward === 'dapo-math' && !/^\s*Answer:/m.test(text))
    tips.push(
      /\\boxed\{/.test(text)
        ? 'the response puts its answer in \\boxed{}: use --reward boxed'
        : 'the response has no "Answer:" line: ask for one with --instruction (the DAPO-Math prompt ends with \'Answer: $Answer\'), or start from an instruct model that follows the prompt',
    );
  tips.push('a random or base model rarely writes the format: warm it up with supervised examples, or start from an instruct model');
  tips.push('easier prompts, or a larger --n, make a right answer in a group more likely');
  return tips;
}

/** Tracks the steps without signal and says why once a streak reaches SILENT_STEPS. */
export class TrainingHints {
  private silent = 0;
  private saidShort = false;
  private readonly streak = { allWrong: 0, allRight: 0 };

  constructor(private readonly config: Pick<TrainConfig, 'reward' | 'maxResponseLen' | 'trainBatch'>) {}

  afterStep(step: number, metrics: Metrics, signal: GroupSignal, exhausted: boolean): string[] {
    const out: string[] = [];
    if (metrics['train/batch_short'] && !this.saidShort) {
      this.saidShort = true;
      out.push(
        `dapo: step ${step}: only ${metrics['train/kept_groups']}/${this.config.trainBatch} groups kept after ${metrics['train/num_gen_batches']} ` +
          `generation batches${exhausted ? ' (data exhausted)' : ''}; trained on those (later such steps are counted, see train/batch_short)`,
      );
    }
    if (signal.groups === 0 || signal.informative > 0) {
      this.silent = 0;
      this.streak.allWrong = this.streak.allRight = 0;
      return out;
    }
    this.silent++;
    this.streak.allWrong += signal.allWrong;
    this.streak.allRight += signal.allRight;
    if (this.silent === SILENT_STEPS) out.push(...this.diagnosis(signal));
    return out;
  }

  private diagnosis(signal: GroupSignal): string[] {
    const { allWrong, allRight } = this.streak;
    const total = allWrong + allRight;
    const head = `dapo: no group has had a learning signal for ${SILENT_STEPS} steps (0 < right answers < n in none of ${total} groups)`;
    const example = signal.example
      ? [`  a response (score ${signal.example.score}, ground truth ${JSON.stringify(signal.example.answer)}${signal.example.finished ? '' : ', cut at maxResponseLen'}): ${shown(signal.example.text)}`]
      : [];
    if (allRight > allWrong)
      return [
        `${head}: every response was right in ${allRight} of them, so the prompts are too easy for this model.`,
        ...example,
        '  try: harder prompts (filter the dataset by difficulty), or move on to the next curriculum stage',
      ];
    return [
      `${head}: every response was wrong in ${allWrong} of them. Does the model write its answer the way the reward reads it?`,
      `  reward rule: ${describeReward(this.config.reward)}`,
      ...example,
      ...allWrongAdvice(this.config, signal).map((tip) => `  try: ${tip}`),
    ];
  }
}

/** Settings that cannot work as the user expects, said before the first step. */
export function runWarnings(
  config: Pick<TrainConfig, 'trainBatch' | 'genBatch' | 'epochs' | 'steps' | 'preset' | 'n' | 'maxResponseLen' | 'dataset'>,
  trainPrompts: number,
  device: string,
): string[] {
  const warnings: string[] = [];
  if (config.trainBatch > trainPrompts)
    warnings.push(
      `dapo: warning: trainBatch ${config.trainBatch} exceeds the ${trainPrompts} prompts of ${config.dataset}: a step cannot fill its batch ` +
        `from one pass over the data; use --train-batch ${Math.max(1, Math.floor(trainPrompts / 2))} or fewer (or --preset small)`,
    );
  else if (config.steps * config.trainBatch > trainPrompts * config.epochs)
    warnings.push(
      `dapo: note: ${config.steps} steps x ${config.trainBatch} prompts need more than ${config.epochs} epoch(s) of the ${trainPrompts} prompts; ` +
        `the run stops when the data runs out (--epochs raises the limit)`,
    );
  if (device === 'cpu' && config.preset === 'recipe' && (config.trainBatch >= 128 || config.maxResponseLen >= 4096))
    warnings.push(
      `dapo: note: the DAPO recipe's sizes (train batch ${config.trainBatch} prompts x n ${config.n}, responses up to ${config.maxResponseLen} tokens) ` +
        `make a step take hours on a CPU; --preset small scales them to a small machine`,
    );
  return warnings;
}
