// Writes a small parquet file in exactly the DAPO-Math-17k schema, deterministic from a
// seed, then reads it back and checks the schema.
//
//   node --import tsx scripts/make-math17k-fixture.ts [out.parquet] [--problems N] [--repeat K] [--seed S]
//
// Default: test/fixtures/data/math17k-mini.parquet, 12 problems each repeated 3 times
// (the public file repeats every problem ~100 times, which is what --dedupe is for).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MATH17K_SCHEMA, math17kPrompt, math17kTable, type Math17kRow } from '../src/data/math17k.js';
import { readParquetFile, tableToParquet } from '../src/data/parquet.js';
import { Rng } from '../src/data/rng.js';

export interface FixtureOptions {
  problems?: number;
  repeat?: number;
  seed?: number;
}

function uuid(rng: Rng): string {
  const hex = Array.from({ length: 32 }, () => rng.int(16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Problems whose answers exercise the normaliser: integers, thousands, fractions, negatives. */
function problem(rng: Rng, k: number): { text: string; answer: string } {
  const a = 2 + rng.int(98);
  const b = 2 + rng.int(98);
  switch (k % 4) {
    case 0:
      return { text: `What is $${a} + ${b}$?`, answer: String(a + b) };
    case 1:
      return { text: `Compute $${a * 10} \\times ${b * 10}$.`, answer: String(a * b * 100) };
    case 2:
      return { text: `Find $x$ if $${a}x = ${b}$. Express $x$ in the form $\\frac{m}{n}$ with $m, n$ coprime and give $m + n$.`, answer: String((b + a) / gcd(a, b)) };
    default:
      return { text: `What is $${a} - ${a + b}$?`, answer: String(-b) };
  }
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export function fixtureRows({ problems = 12, repeat = 3, seed = 17 }: FixtureOptions = {}): Math17kRow[] {
  const rng = new Rng(seed);
  const unique = Array.from({ length: problems }, (_, k) => {
    const p = problem(rng, k);
    return { p, index: uuid(rng) };
  });
  const rows: Math17kRow[] = [];
  for (let r = 0; r < repeat; r++) {
    for (const { p, index } of unique) {
      rows.push({
        data_source: 'math_dapo',
        prompt: [{ content: math17kPrompt(p.text), role: 'user' }],
        ability: 'MATH',
        reward_model: { ground_truth: p.answer, style: 'rule-lang' },
        extra_info: { index },
      });
    }
  }
  return rows;
}

export function writeFixture(out: string, options: FixtureOptions = {}): { rows: number; bytes: number } {
  const rows = fixtureRows(options);
  const bytes = tableToParquet(math17kTable(rows));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, bytes);
  const back = readParquetFile(out).table;
  if (String(back.schema) !== String(MATH17K_SCHEMA)) {
    throw new Error(`schema read back differs:\n  wrote ${String(MATH17K_SCHEMA)}\n  read  ${String(back.schema)}`);
  }
  if (back.numRows !== rows.length) throw new Error(`wrote ${rows.length} rows, read back ${back.numRows}`);
  return { rows: rows.length, bytes: bytes.length };
}

function main(argv: string[]): void {
  const opts: FixtureOptions = {};
  let out = 'test/fixtures/data/math17k-mini.parquet';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${a} needs a positive integer`);
      return v;
    };
    if (a === '--problems') opts.problems = num();
    else if (a === '--repeat') opts.repeat = num();
    else if (a === '--seed') opts.seed = num();
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else out = a;
  }
  const file = resolve(out);
  const { rows, bytes } = writeFixture(file, opts);
  console.log(`wrote ${file}: ${rows} rows, ${bytes} bytes; schema ${String(MATH17K_SCHEMA)}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
