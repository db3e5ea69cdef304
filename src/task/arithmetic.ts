// The built-in task: addition problems for the character-level builtin:tiny model, with a
// held-out split of problems never seen in training.
//
// Why it exercises DAPO: the model is first warmed up (supervised) on answers that are right
// only part of the time and sometimes padded with filler, so a sampled response is right by
// chance often enough for groups to be mixed, and rambling responses run past L_max (no answer,
// and the overlong punishment before that). RL has to sharpen the answer distribution and
// shorten the responses; validation asks problems the model has never been trained on.
import type { PromptRow } from '../data/index.js';
import { Rng } from '../data/index.js';
import type { BuiltinTask } from './types.js';

export interface ArithmeticTaskOptions {
  seed: number;
  /** The first operand is in [0, maxA], the second in [0, maxB]. */
  maxA: number;
  maxB: number;
  /** Share of problems held out for validation. */
  valFraction: number;
  /** Warm-up answers that are right (the rest are random numbers in range). */
  warmupCorrect: number;
  /** Warm-up responses with a filler prefix before "Answer:". */
  warmupFiller: number;
}

export const ARITHMETIC_DEFAULTS: ArithmeticTaskOptions = {
  seed: 1,
  maxA: 19,
  maxB: 19,
  valFraction: 0.15,
  warmupCorrect: 0.6,
  warmupFiller: 0.3,
};

export type ArithmeticTask = BuiltinTask;

function row(id: number, a: number, b: number): PromptRow {
  return { id, sourceIndex: id, messages: [{ role: 'user', content: `${a}+${b}=` }], answer: String(a + b), dataSource: 'builtin:arithmetic' };
}

export function makeArithmeticTask(options: Partial<ArithmeticTaskOptions> = {}): ArithmeticTask {
  const o = { ...ARITHMETIC_DEFAULTS, ...options };
  const rng = new Rng(o.seed);
  const pairs: Array<[number, number]> = [];
  for (let a = 0; a <= o.maxA; a++) for (let b = 0; b <= o.maxB; b++) pairs.push([a, b]);
  for (let i = pairs.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [pairs[i], pairs[j]] = [pairs[j], pairs[i]];
  }
  const valCount = Math.round(pairs.length * o.valFraction);
  const val = pairs.slice(0, valCount).map(([a, b], i) => row(i, a, b));
  const train = pairs.slice(valCount).map(([a, b], i) => row(i, a, b));
  const maxSum = o.maxA + o.maxB;

  return {
    train,
    val,
    warmup(count, seed) {
      const r = new Rng(seed);
      return Array.from({ length: count }, () => {
        const problem = train[Math.floor(r.next() * train.length)];
        const answer = r.next() < o.warmupCorrect ? problem.answer : String(Math.floor(r.next() * (maxSum + 1)));
        const filler = r.next() < o.warmupFiller ? ' .'.repeat(1 + Math.floor(r.next() * 5)) + ' ' : '';
        return { prompt: problem.messages[0].content, response: `${filler}Answer: ${answer}` };
      });
    },
  };
}
