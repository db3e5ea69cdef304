// The DAPO-Math answer rule, as verl scores it (verl/utils/reward_score/math_dapo.py,
// `compute_score` with strict_box_verify=False, and the strict \boxed{} variant).
//
// verl runs on Python strings, so this module mimics Python where JavaScript differs:
// slices count code points (not UTF-16 units), `\s` / str.strip() use Python's
// whitespace set, `.` never matches "\n" only, str.isdigit() accepts Unicode digits,
// and the "Answer:" search is case-insensitive with Unicode case folding.

export interface MathRewardResult {
  /** +1 when the normalised prediction equals the normalised ground truth, else -1. */
  score: 1 | -1;
  acc: boolean;
  /** The normalised prediction, or "[INVALID]" when no answer was found. */
  pred: string;
}

export const INVALID_PRED = '[INVALID]';

/** verl keeps only this many characters (code points) of the response. */
export const DAPO_TAIL_CHARS = 300;
/** ...and the strict box rule only the last 100 of those. */
export const BOXED_TAIL_CHARS = 100;

// Python's str.isspace() set, which is also what `\s` matches in a str pattern.
const PY_WS = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const ANSWER_RE = new RegExp(`Answer[${PY_WS}]*:[${PY_WS}]*([^\\n]+)`, 'giu');
const STRIP_RE = new RegExp(`^[${PY_WS}]+|[${PY_WS}]+$`, 'gu');

/** Python's `s[-n:]`: the last n code points. */
export function lastCodePoints(s: string, n: number): string {
  // Fast path: no surrogate pairs possible in the tail if the string is short in units.
  if (s.length <= n) return s;
  const cps = Array.from(s);
  return cps.length <= n ? s : cps.slice(cps.length - n).join('');
}

/** Python's str.strip() with no argument. */
export function pyStrip(s: string): string {
  return s.replace(STRIP_RE, '');
}

// Python's str.isdigit(): Unicode Nd plus the Numeric_Type=Digit characters
// (superscripts, subscripts, circled and parenthesised digits, ...).
const DIGIT_RE = new RegExp(
  '^[\\p{Nd}\\u00b2\\u00b3\\u00b9\\u1369-\\u1371\\u19da\\u2070\\u2074-\\u2079\\u2080-\\u2089' +
    '\\u2460-\\u2468\\u2474-\\u247c\\u2488-\\u2490\\u24ea\\u24f5-\\u24fd\\u24ff' +
    '\\u2776-\\u277e\\u2780-\\u2788\\u278a-\\u2792\\u{10a40}-\\u{10a43}\\u{1f100}-\\u{1f10a}]+$',
  'u',
);
export function pyIsDigit(s: string): boolean {
  return DIGIT_RE.test(s);
}

// Literal replacements, applied in order, every occurrence (Python str.replace).
const SUBSTITUTIONS: ReadonlyArray<readonly [string, string]> = [
  ['an ', ''],
  ['a ', ''],
  ['.$', '$'],
  ['\\$', ''],
  ['\\ ', ''],
  [' ', ''],
  ['mbox', 'text'],
  [',\\text{and}', ','],
  ['\\text{and}', ','],
  ['\\text{m}', '\\text{}'],
];

// Units and filler words deleted outright. Note "\\text{\ns}" in verl's source is a
// Python escape: backslash, "text{", a real newline, "s}".
const REMOVED_EXPRESSIONS: readonly string[] = [
  'square', 'ways', 'integers', 'dollars', 'mph', 'inches', 'hours', 'km', 'units',
  '\\ldots', 'sue', 'points', 'feet', 'minutes', 'digits', 'cents', 'degrees', 'cm',
  'gm', 'pounds', 'meters', 'meals', 'edges', 'students', 'childrentickets', 'multiples',
  '\\text{s}', '\\text{.}', '\\text{\ns}', '\\text{}^2', '\\text{}^3', '\\text{\n}',
  '\\text{}', '\\mathrm{th}', '^\\circ', '^{\\circ}', '\\;', ',\\!', '{,}', '"', '\\dots',
];

// `.` in Python matches anything but "\n"; JS's `.` also refuses "\r" and U+2028/9.
const DOT = '[^\\n]';
const DOLLAR_RE = new RegExp(`(${DOT}*?)(\\$)(${DOT}*?)(\\$)(${DOT}*)`, 'gu');
const TEXT_RE = new RegExp(`(\\\\text\\{)(${DOT}*?)(\\})`, 'gu');
const TEXTBF_RE = new RegExp(`(\\\\textbf\\{)(${DOT}*?)(\\})`, 'gu');
const OVERLINE_RE = new RegExp(`(\\\\overline\\{)(${DOT}*?)(\\})`, 'gu');
const BOXED_RE = new RegExp(`(\\\\boxed\\{)(${DOT}*)(\\})`, 'gu');
const FRAC_RE = new RegExp(`(frac)([^{])(${DOT})`, 'gu');
const SQRT_RE = /(sqrt)([^{])/gu;

/**
 * verl's normalize_final_answer: keep what follows the last "=", apply the literal
 * substitutions and removals, keep only the first $...$ span, unwrap \text{}, \textbf{},
 * \overline{}, \boxed{}, brace shorthand \fracab / \sqrta, drop "$", drop thousands
 * commas from a plain number, strip.
 */
export function normalizeFinalAnswer(finalAnswer: string): string {
  let s = finalAnswer.split('=').pop() as string;
  for (const [before, after] of SUBSTITUTIONS) s = s.split(before).join(after);
  for (const expr of REMOVED_EXPRESSIONS) s = s.split(expr).join('');

  s = s.replace(DOLLAR_RE, (_m, _a, _d1, inner: string) => `$${inner}$`);
  s = s.replace(TEXT_RE, (_m, _a, inner: string) => inner);
  s = s.replace(TEXTBF_RE, (_m, _a, inner: string) => inner);
  s = s.replace(OVERLINE_RE, (_m, _a, inner: string) => inner);
  s = s.replace(BOXED_RE, (_m, _a, inner: string) => inner);

  s = s.replace(FRAC_RE, (_m, _f, a: string, b: string) => `frac{${a}}{${b}}`);
  s = s.replace(SQRT_RE, (_m, _f, a: string) => `sqrt{${a}}`);
  s = s.split('$').join('');

  const noCommas = s.split(',').join('');
  if (pyIsDigit(noCommas)) s = noCommas;
  return pyStrip(s);
}

/** The last `\boxed{...}` in s with balanced braces, or null (verl's last_boxed_only_string). */
export function lastBoxedOnlyString(s: string): string | null {
  const start = s.lastIndexOf('\\boxed{');
  if (start < 0) return null;
  let depth = 0;
  for (let i = start; i < s.length; i++) {
    const c = s[i];
    if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) return s.slice(start, i + 1);
    }
  }
  return null;
}

/** `\boxed{x}` -> `x`; throws on anything else (verl asserts). */
export function removeBoxed(s: string): string {
  const left = '\\boxed{';
  if (!s.startsWith(left) || !s.endsWith('}')) throw new Error(`box error: ${s}`);
  return s.slice(left.length, -1);
}

/** The last "Answer: ..." line's text, or undefined (regex `(?i)Answer\s*:\s*([^\n]+)`). */
export function extractAnswerLine(text: string): string | undefined {
  let last: string | undefined;
  for (const m of text.matchAll(ANSWER_RE)) last = m[1];
  return last;
}

function result(acc: boolean, pred: string): MathRewardResult {
  return { score: acc ? 1 : -1, acc, pred };
}

/**
 * DAPO-Math reward, as verl's math_dapo.compute_score (strict_box_verify=False):
 * the last "Answer:" line within the response's last 300 characters, both sides
 * normalised with normalizeFinalAnswer, exact string comparison.
 */
export function dapoMathReward(response: string, groundTruth: string): MathRewardResult {
  const tail = lastCodePoints(String(response), DAPO_TAIL_CHARS);
  const extracted = extractAnswerLine(tail) ?? INVALID_PRED;
  const pred = normalizeFinalAnswer(extracted);
  const gt = normalizeFinalAnswer(String(groundTruth));
  return result(pred === gt, pred);
}

export interface BoxedRewardOptions {
  /**
   * verl's strict box rule compares the raw box content with the raw ground truth.
   * Set true to pass both through normalizeFinalAnswer first (more forgiving).
   * Default false (verl's behaviour).
   */
  normalize?: boolean;
}

/**
 * The strict \boxed{} variant (verl's compute_score with strict_box_verify=True):
 * the last balanced `\boxed{...}` within the response's last 100 characters,
 * compared exactly with the ground truth. pred is the box content or "[INVALID]".
 */
export function dapoBoxedReward(response: string, groundTruth: string, options: BoxedRewardOptions = {}): MathRewardResult {
  const tail = lastCodePoints(lastCodePoints(String(response), DAPO_TAIL_CHARS), BOXED_TAIL_CHARS);
  const boxed = lastBoxedOnlyString(tail);
  const raw = boxed === null ? INVALID_PRED : removeBoxed(boxed);
  if (options.normalize) {
    const pred = normalizeFinalAnswer(raw);
    return result(boxed !== null && pred === normalizeFinalAnswer(String(groundTruth)), pred);
  }
  return result(raw === String(groundTruth), raw);
}
