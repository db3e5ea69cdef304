// The ablation's statistics and report: seeded bootstrap intervals of a mean and of a paired
// difference, the outcome read from a run's metrics, and the tables written into RESULTS.md
// between their markers (nothing else in the file touched).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { readOutcome } from '../scripts/ablation/outcomes.js';
import { writeResults, type VariantResult } from '../scripts/ablation/report.js';
import { bootstrapMean, bootstrapPairedDifference } from '../scripts/ablation/stats.js';
import { Rng, testSeed } from './helpers/random.js';

const seed = testSeed();
const rng = new Rng(seed);
const work = mkdtempSync(join(tmpdir(), 'dapo-ablation-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('bootstrap', () => {
  test('seeded: the same values and seed give the same interval; the interval holds the mean', () => {
    const xs = Array.from({ length: 8 }, () => rng.next());
    const a = bootstrapMean(xs, 4000, 5);
    assert.deepEqual(bootstrapMean(xs, 4000, 5), a);
    assert.ok(a.lo <= a.mean && a.mean <= a.hi && a.lo < a.hi, JSON.stringify(a));
    assert.ok(a.lo >= Math.min(...xs) && a.hi <= Math.max(...xs));
    assert.deepEqual(bootstrapMean([0.5, 0.5, 0.5], 100, 1), { mean: 0.5, lo: 0.5, hi: 0.5 });
  });

  test('covers the true mean of 8 normal draws in about 95% of trials (percentile bootstrap runs a little short at n = 8)', () => {
    let covered = 0;
    const trials = 300;
    for (let t = 0; t < trials; t++) {
      const xs = Array.from({ length: 8 }, () => 0.7 + 0.1 * rng.normal());
      const ci = bootstrapMean(xs, 1000, t);
      if (ci.lo <= 0.7 && 0.7 <= ci.hi) covered++;
    }
    assert.ok(covered / trials > 0.82 && covered / trials < 0.98, `covered ${covered}/${trials}`);
  });

  test('pairing cancels what a seed does to both variants', () => {
    const seedEffect = Array.from({ length: 8 }, () => 0.3 * rng.normal());
    const baseline = seedEffect.map((e) => 0.6 + e + 0.01 * rng.normal());
    const variant = seedEffect.map((e) => 0.65 + e + 0.01 * rng.normal());
    const paired = bootstrapPairedDifference(variant, baseline, 4000, 3);
    assert.ok(paired.lo > 0.03 && paired.hi < 0.07, `paired ${JSON.stringify(paired)}`);
    const a = bootstrapMean(variant, 4000, 3);
    const b = bootstrapMean(baseline, 4000, 3);
    assert.ok(a.lo < b.hi, 'unpaired, the two intervals overlap');
    assert.throws(() => bootstrapPairedDifference([1, 2], [1]), RangeError);
  });
});

function writeMetrics(dir: string, acc: (step: number) => number): string {
  const rows = [{ step: 0, 'val/acc': 0.1 }];
  for (let step = 1; step <= 50; step++)
    rows.push({
      step,
      'train/acc_mean': 0.5,
      'actor/entropy': step <= 20 ? 0.4 : 0.2,
      'train/all_equal_rate': 0.3,
      'train/all_correct_rate': 0.1,
      'response_length/clip_ratio': step <= 20 ? 0.05 : 0,
      'response_length/mean': 14,
      'train/num_gen_batches': 1,
      ...(step % 25 === 0 ? { 'val/acc': acc(step) } : {}),
    } as never);
  const path = join(dir, `metrics-${rng.int(1e9)}.jsonl`);
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return path;
}

describe('outcomes and the report', () => {
  test('the outcome of a run: last and averaged val/acc, entropy and cut share early and late', () => {
    const o = readOutcome(writeMetrics(work, (step) => step / 100));
    assert.equal(o.finalAcc, 0.5);
    assert.equal(o.meanAcc, 0.375);
    const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
    close(o.entropyStart, 0.4);
    close(o.entropyEnd, 0.2);
    close(o.cutStart, 0.05);
    close(o.cut, 0.02);
    for (const [a, b] of [[o.allEqual, 0.3], [o.allCorrect, 0.1], [o.responseLength, 14], [o.genBatches, 1]]) close(a, b);
  });

  test('the tables replace only what lies between the markers', () => {
    const results: VariantResult[] = ['DAPO', 'GRPO'].map((name, v) => ({
      name,
      outcomes: [1, 2, 3].map((s) => readOutcome(writeMetrics(work, () => 0.5 + 0.1 * v + 0.01 * s))),
      records: [1, 2, 3].map(() => ({ args: [], wallSeconds: 120, userSeconds: 50, systemSeconds: 10, loadAtEnd: 3 })),
    }));
    const path = join(work, 'RESULTS.md');
    writeFileSync(path, '# Results\n\nbefore\n\n<!-- ablation:begin -->\nold table\n<!-- ablation:end -->\n\nafter, by hand\n');
    writeResults(path, results, { seeds: [1, 2, 3], steps: '50', commit: 'abc1234', cores: 2, jobs: 2, loads: [2, 4], elapsedSeconds: 600, log: () => {} });
    const text = readFileSync(path, 'utf8');
    assert.ok(text.startsWith('# Results\n\nbefore\n\n<!-- ablation:begin -->\n'));
    assert.ok(text.endsWith('<!-- ablation:end -->\n\nafter, by hand\n'));
    assert.ok(!text.includes('old table'));
    assert.match(text, /\| DAPO \| 0\.520 \[0\.510, 0\.530\] \| \(baseline\) \|/);
    // GRPO is 0.1 above DAPO on every seed: the paired difference has no spread.
    assert.match(text, /\| GRPO \| 0\.620 \[0\.610, 0\.630\] \| \+0\.100 \[\+0\.100, \+0\.100\] \|/);
    assert.match(text, /6\.0 CPU minutes \(user \+ sys\) for the 6 runs, 5\.0% of a budget of 120 CPU minutes/);
    assert.match(text, /load average 3\.0 on average \(2\.0 to 4\.0\)/);
  });
});
