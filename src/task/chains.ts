// builtin:chains, the ablation task: sums of 2, 3 or 4 one-digit numbers, answered with the
// running totals and then "Answer: <sum>" ("3+4+5=" -> "7 Answer: 12"), for builtin:tiny.
//
// It is built so that each part of DAPO has something to act on (README, "Ablation"):
// - Mixed difficulty. The warm-up (the stand-in for pretraining) writes each running total
//   right with a probability that falls with the number of operands, and one wrong total makes
//   the answer wrong: the warm model solves 2-number sums almost always and 4-number sums
//   rarely, so many groups of 8 samples are all right or all wrong (dynamic sampling).
// - Lengths that vary and overrun. A correct answer takes 10 to 17 tokens, growing with the
//   operand count; some warm-up answers ramble (" . . .") before the work, which pushes long
//   problems into the overlong buffer and past L_max (token-level loss, overlong shaping).
// - Room to sharpen. The warm model is unsure (high entropy), and RL runs long enough for its
//   entropy to fall (clip-higher).
import { Rng, type PromptRow } from '../data/index.js';
import type { BuiltinTask, WarmupExample } from './types.js';

export const CHAINS_DATASET = 'builtin:chains';

export interface ChainTaskOptions {
  seed: number;
  /** Training prompts per operand count (2, 3, 4); the 85 two-number problems repeat to fill theirs. */
  trainPerTier: number;
  /** Held-out prompts per operand count (never trained on, nor seen in the warm-up). */
  valPerTier: number;
  /** Per operand count 2, 3, 4: chance that the warm-up writes a running total right. */
  warmupStepCorrect: [number, number, number];
  /** Share of warm-up answers that ramble before the work. */
  warmupFiller: number;
  /** The rambling is " ." repeated 1 to this many times. */
  maxFiller: number;
  /** Supervised warm-up steps (of 64 answers): enough for the warm model to know the short sums. */
  warmupSteps: number;
}

export const CHAIN_DEFAULTS: ChainTaskOptions = {
  seed: 1,
  trainPerTier: 340,
  valPerTier: 20,
  warmupStepCorrect: [0.95, 0.75, 0.45],
  warmupFiller: 0.4,
  maxFiller: 7,
  warmupSteps: 2500,
};

const OPERAND_COUNTS = [2, 3, 4] as const;

function prompt(operands: number[]): string {
  return `${operands.join('+')}=`;
}

/** The running totals after each addition but the last, then the answer line. */
export function chainResponse(totals: number[]): string {
  return [...totals.slice(0, -1).map(String), `Answer: ${totals[totals.length - 1]}`].join(' ');
}

export function runningTotals(operands: number[]): number[] {
  const totals: number[] = [];
  let sum = operands[0];
  for (let i = 1; i < operands.length; i++) totals.push((sum += operands[i]));
  return totals;
}

/** Every distinct problem with k one-digit operands, in a seeded random order. */
function shuffledProblems(k: number, rng: Rng): number[][] {
  const all: number[][] = [];
  for (let code = 0; code < 10 ** k; code++) all.push(Array.from({ length: k }, (_, i) => Math.floor(code / 10 ** i) % 10));
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all;
}

function row(id: number, operands: number[]): PromptRow {
  const totals = runningTotals(operands);
  return {
    id,
    sourceIndex: id,
    messages: [{ role: 'user', content: prompt(operands) }],
    answer: String(totals[totals.length - 1]),
    dataSource: `${CHAINS_DATASET}/${operands.length}`,
  };
}

/** A warm-up answer: each running total is the previous written one plus the operand, off by 1-3 with probability 1 - stepCorrect. */
function noisyTotals(operands: number[], stepCorrect: number, r: Rng): number[] {
  const totals: number[] = [];
  let written = operands[0];
  for (let i = 1; i < operands.length; i++) {
    written += operands[i];
    if (r.next() >= stepCorrect) {
      const off = 1 + Math.floor(r.next() * 3);
      written = written - off >= 0 && r.next() < 0.5 ? written - off : written + off;
    }
    totals.push(written);
  }
  return totals;
}

export function makeChainTask(options: Partial<ChainTaskOptions> = {}): BuiltinTask {
  const o = { ...CHAIN_DEFAULTS, ...options };
  const rng = new Rng(o.seed, 2);
  const train: number[][] = [];
  const val: number[][] = [];
  for (const k of OPERAND_COUNTS) {
    const problems = shuffledProblems(k, rng);
    const held = Math.min(o.valPerTier, Math.floor(problems.length * 0.15));
    val.push(...problems.slice(0, held));
    const pool = problems.slice(held);
    for (let i = 0; i < o.trainPerTier; i++) train.push(pool[i % pool.length]);
  }
  const trainRows = train.map((operands, i) => row(i, operands));
  return {
    train: trainRows,
    val: val.map((operands, i) => row(i, operands)),
    warmupSteps: o.warmupSteps,
    warmup(count, seed): WarmupExample[] {
      const r = new Rng(seed, 3);
      return Array.from({ length: count }, () => {
        const operands = train[Math.floor(r.next() * train.length)];
        const totals = noisyTotals(operands, o.warmupStepCorrect[operands.length - 2], r);
        const filler = r.next() < o.warmupFiller ? ' .'.repeat(1 + Math.floor(r.next() * o.maxFiller)) + ' ' : '';
        return { prompt: prompt(operands), response: `${filler}${chainResponse(totals)}` };
      });
    },
  };
}
