// DAPO-Math reward: every expected value below was produced by verl's own
// math_dapo.py (normalize_final_answer / compute_score) run under Python 3.11.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  dapoMathReward,
  dapoBoxedReward,
  normalizeFinalAnswer,
  lastBoxedOnlyString,
  removeBoxed,
  extractAnswerLine,
} from '../src/reward/index.js';

const NORMALIZE: Array<[string, string]> = [
  ["34", "34"],
  ["1,234", "1234"],
  ["1,234,567", "1234567"],
  ["12,34", "1234"],
  ["\\frac{1}{2}", "\\frac{1}{2}"],
  ["\\frac12", "\\frac{1}{2}"],
  ["\\dfrac{1}{2}", "\\dfrac{1}{2}"],
  ["\\frac1{2}", "\\frac{1}{{}2}"],
  ["\\sqrt2", "\\sqrt{2}"],
  ["\\sqrt{2}", "\\sqrt{2}"],
  ["3\\sqrt2", "3\\sqrt{2}"],
  ["$5$", "5"],
  ["$x = 5$", "5"],
  ["x = 5", "5"],
  ["The answer is 42", "Theansweris42"],
  ["The answer is $42$.", "42"],
  ["\\text{(A)}", "(A)"],
  ["\\textbf{B}", "B"],
  ["\\boxed{12}", "12"],
  ["\\boxed{\\frac{3}{4}}", "\\frac{3}{4}"],
  ["10 dollars", "10"],
  ["5 \\text{ cm}", "5"],
  ["90^\\circ", "90"],
  ["90^{\\circ}", "90"],
  ["\\$100", "100"],
  ["5 meters", "5"],
  ["1{,}000", "1000"],
  ["1,\\!000", "1000"],
  ["a", "a"],
  ["an", "an"],
  ["an apple", "apple"],
  ["a b", "b"],
  ["3\\ldots", "3"],
  ["\\overline{AB}", "AB"],
  ["  7  ", "7"],
  ["3 \\text{ and } 4", "34"],
  ["3, \\text{and} 4", "34"],
  ["\\mbox{yes}", "yes"],
  ["\\text{m}", ""],
  ["6\\text{m}", "6"],
  ["100\\%", "100\\%"],
  ["-5", "-5"],
  ["0.5", "0.5"],
  ["5.$", "5"],
  ["[INVALID]", "[INVALID]"],
  ["", ""],
  ["x=1,y=2", "2"],
  ["\u00b2\u00b3", "\u00b2\u00b3"],
  ["\uff11\uff12", "\uff11\uff12"],
  ["12\u00a0", "12"],
  ["\\text{\ns}8", "8"],
  ["\"7\"", "7"],
  ["\\;3", "3"],
  ["2\\dots", "2"],
  ["\\frac{a}{b} + 1", "\\frac{a}{b}+1"],
  ["fracab", "frac{a}{b}"],
  ["$1$ and $2$", "1"],
  ["\\(5\\)", "\\(5\\)"],
  ["\\text{Bob}\\text{Alice}", "BobAlice"],
  ["3 square units", "3"],
  ["\\boxed{1}\\boxed{2}", "1}\\boxed{2"],
  ["sue3", "3"],
  ["2 hours and 30 minutes", "2and30"],
];
const SCORED: Array<[kind: 'math' | 'box', response: string, groundTruth: string, pred: string, acc: boolean]> = [
  ['math', "The answer is 34.\nAnswer: 34", "34", "34", true],
  ['math', "Answer: $\\frac{1}{2}$", "\\frac{1}{2}", "\\frac{1}{2}", true],
  ['math', "answer: 1,000", "1000", "1000", true],
  ['math', "ANSWER :  7", "7", "7", true],
  ['math', "Answer:\n7", "7", "7", true],
  ['math', "Answer: 3\nAnswer: 4", "4", "4", true],
  ['math', "Answer: 3\nAnswer: 4", "3", "4", false],
  ['math', "no answer here", "5", "[INVALID]", false],
  ['math', "Final Answer: \\boxed{10}", "10", "10", true],
  ['math', "Answer: 12 dollars", "12", "12", true],
  ['math', "Answer: \\text{(C)}", "C", "(C)", false],
  ['math', "Answer: x = 5", "5", "5", true],
  ['math', "Answer: 12 ", "12", "12", true],
  ['math', "Answer: 5.", "5", "5.", false],
  ['math', "Answer: 5.$", "5", "5", true],
  ['math', "Answer\u00a0:\u00a05", "5", "5", true],
  ['math', "The answer is 5", "5", "[INVALID]", false],
  ['math', "Answer: [INVALID]", "[INVALID]", "[INVALID]", true],
  ['math', "Answer: 90^\\circ", "90", "90", true],
  ['math', "Answer: 0.5", "\\frac{1}{2}", "0.5", false],
  ['box', "so \\boxed{34}", "34", "34", true],
  ['box', "\\boxed{34} then \\boxed{35}", "35", "35", true],
  ['box', "\\boxed{\\frac{1}{2}}", "\\frac{1}{2}", "\\frac{1}{2}", true],
  ['box', "\\boxed{ 34 }", "34", " 34 ", false],
  ['box', "no box", "1", "[INVALID]", false],
  ['box', "\\boxed{34", "34", "[INVALID]", false],
  ['box', "\\boxed{a{b}c}", "a{b}c", "a{b}c", true],
  ['box', "\\boxed{$5$}", "5", "$5$", false],
];

test('normalizeFinalAnswer matches verl case by case', () => {
  for (const [input, expected] of NORMALIZE) {
    assert.equal(normalizeFinalAnswer(input), expected, `normalize(${JSON.stringify(input)})`);
  }
});

test('dapoMathReward and dapoBoxedReward match verl compute_score', () => {
  for (const [kind, response, gt, pred, acc] of SCORED) {
    const got = kind === 'math' ? dapoMathReward(response, gt) : dapoBoxedReward(response, gt);
    assert.deepEqual(got, { score: acc ? 1 : -1, acc, pred }, `${kind}(${JSON.stringify(response)}, ${JSON.stringify(gt)})`);
  }
});

test('only the last 300 characters (code points) are read', () => {
  assert.deepEqual(dapoMathReward('x'.repeat(400) + 'Answer: 9', '9'), { score: 1, acc: true, pred: '9' });
  // The answer line falls outside the window.
  assert.deepEqual(dapoMathReward('Answer: 9' + 'x'.repeat(400), '9'), { score: -1, acc: false, pred: '[INVALID]' });
  // "Answer: 9\n" is 10 characters; 295 more push "A" out of the window, 290 keep it.
  assert.equal(dapoMathReward('Answer: 9\n' + 'y'.repeat(295), '9').pred, '[INVALID]');
  assert.equal(dapoMathReward('Answer: 9\n' + 'y'.repeat(290), '9').pred, '9');
  // Astral characters count once (Python slices code points, not UTF-16 units).
  assert.equal(dapoMathReward('\u{1F600}'.repeat(295) + 'Answer: 1', '1').acc, true);
  assert.equal(dapoMathReward('Answer: 1\n' + '\u{1F600}'.repeat(290), '1').pred, '1');
  assert.equal(dapoMathReward('Answer: 1\n' + '\u{1F600}'.repeat(291), '1').pred, '[INVALID]');
});

test('strict box reads the last 100 characters', () => {
  assert.equal(dapoBoxedReward('\\boxed{34}' + 'z'.repeat(90), '34').acc, true);
  assert.equal(dapoBoxedReward('\\boxed{34}' + 'z'.repeat(95), '34').pred, '[INVALID]');
  assert.equal(dapoBoxedReward('\\boxed{ 34 }', '34', { normalize: true }).acc, true);
  assert.equal(dapoBoxedReward('\\boxed{$5$}', '5', { normalize: true }).acc, true);
  assert.equal(dapoBoxedReward('no box', '[INVALID]', { normalize: true }).acc, false);
});

test('box helpers', () => {
  assert.equal(lastBoxedOnlyString('a \\boxed{1} b \\boxed{x^{2}} c'), '\\boxed{x^{2}}');
  assert.equal(lastBoxedOnlyString('\\boxed{unclosed'), null);
  assert.equal(lastBoxedOnlyString('nothing'), null);
  assert.equal(removeBoxed('\\boxed{7}'), '7');
  assert.throws(() => removeBoxed('7'), /box error/);
  assert.equal(extractAnswerLine('answer: 1\nAnswer:2\nmore'), '2');
  assert.equal(extractAnswerLine('none'), undefined);
});

test('DAPO-Math-17k style responses', () => {
  const response =
    'We need the sum of 17 and 17.\n17 + 17 = 34.\n\nAnswer: 34';
  assert.deepEqual(dapoMathReward(response, '34'), { score: 1, acc: true, pred: '34' });
  assert.deepEqual(dapoMathReward(response, '35'), { score: -1, acc: false, pred: '34' });
  // The ground truth is normalised too.
  assert.equal(dapoMathReward('Answer: 1000', '1,000').acc, true);
  assert.equal(dapoMathReward('Answer: $\\frac12$', '\\frac{1}{2}').acc, true);
});
