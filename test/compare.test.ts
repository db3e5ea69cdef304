// dapo compare on small synthetic run folders written here: which runs pool into a variant,
// what each variant is called, the panels, the seed band, and the rendered picture.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { comparisonSpec, DEFAULT_COMPARE_METRICS, plotComparison, variantSeries } from '../src/compare/chart.js';
import { loadRun, type LoadedRun } from '../src/compare/runs.js';
import { groupVariants, legendLabel } from '../src/compare/variants.js';
import { PLOT_ZOOM } from '../src/plot/render.js';
import { resolveConfig, type TrainConfig } from '../src/train/config.js';

const work = mkdtempSync(join(tmpdir(), 'dapo-compare-'));
after(() => rmSync(work, { recursive: true, force: true }));
const cli = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

/** A run folder as the trainer leaves it: config.json (resolved) and metrics.jsonl. */
function writeRun(name: string, options: Partial<TrainConfig>, rows: Array<Record<string, number>>, withConfig = true): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  if (withConfig) writeFileSync(join(dir, 'config.json'), JSON.stringify(resolveConfig({}, { ...options, out: dir }), null, 2));
  writeFileSync(join(dir, 'metrics.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return dir;
}

/** Ten steps of the usual metrics, shifted by `offset` so runs are told apart. */
function rows(offset: number, steps = 10): Array<Record<string, number>> {
  const out: Array<Record<string, number>> = [{ step: 0, 'val/acc': 0.2 + offset }];
  for (let step = 1; step <= steps; step++) {
    out.push({
      step,
      'train/acc_mean': 0.3 + 0.01 * step + offset,
      'actor/entropy': 1 / step + offset,
      'actor/grad_norm': 0.5 + offset,
      'actor/clipfrac_high': 4e-9 * step,
      'actor/clipfrac_low': 0,
      'train/kept_groups': 16,
      'response_length/mean': 12 + offset,
      ...(step % 5 === 0 ? { 'val/acc': 0.2 + 0.05 * step + offset } : {}),
    });
  }
  return out;
}

const load = (dirs: string[]): LoadedRun[] => dirs.map(loadRun);

const dapo = [1, 2, 3].map((seed) => writeRun(`dapo-${seed}`, { seed }, rows(seed / 100)));
const grpo = [1, 2].map((seed) => writeRun(`grpo-${seed}`, { seed, algo: 'grpo' }, rows(-seed / 100)));
const clip = [1, 2].map((seed) => writeRun(`clip-${seed}`, { seed, clipHigh: 0.2 }, rows(0.1 + seed / 100)));
const tokens = writeRun('seqmean-1', { seed: 1, aggregation: 'seq-mean-token-mean' }, rows(0.2));
const bare = writeRun('no-config', {}, rows(0.3), false);

describe('variants', () => {
  test('runs that differ only in the seed (and folder) are one variant; others are not', () => {
    const variants = groupVariants(load([...dapo, ...grpo, ...clip, tokens]));
    assert.deepEqual(
      variants.map((v) => v.runs.map((r) => r.config?.seed)),
      [[1, 2, 3], [1, 2], [1, 2], [1]],
    );
  });

  test('labels come from what differs in config.json: the baseline by its algorithm, GRPO by its preset', () => {
    const variants = groupVariants(load([...grpo, ...clip, ...dapo, tokens]));
    assert.deepEqual(
      variants.map((v) => v.label),
      ['GRPO', 'clip_high=0.2', 'DAPO', 'aggregation=seq-mean-token-mean'],
    );
    assert.deepEqual(variants.map(legendLabel), ['GRPO (2 seeds)', 'clip_high=0.2 (2 seeds)', 'DAPO (3 seeds)', 'aggregation=seq-mean-token-mean']);
  });

  test('two variants: the one given first is the baseline when either would do', () => {
    assert.deepEqual(groupVariants(load([dapo[0], clip[0]])).map((v) => v.label), ['DAPO', 'clip_high=0.2']);
    assert.deepEqual(groupVariants(load([dapo[0], grpo[0]])).map((v) => v.label), ['DAPO', 'GRPO']);
    assert.deepEqual(groupVariants(load([grpo[0], dapo[0]])).map((v) => v.label), ['GRPO', 'DAPO']);
  });

  test('a plain algorithm is preferred as the baseline over a modified one', () => {
    // dynamic_sampling=false, DAPO, GRPO: labelling against either DAPO variant costs the
    // same; the unmodified DAPO is the baseline whatever the order.
    const nods = writeRun('nods-1', { seed: 1, dynamicSampling: false }, rows(0));
    assert.deepEqual(groupVariants(load([nods, dapo[0], grpo[0]])).map((v) => v.label), ['dynamic_sampling=false', 'DAPO', 'GRPO']);
  });

  test('against a GRPO baseline, a DAPO variant is named by what differs from the DAPO preset', () => {
    const grpoWide = writeRun('grpo-wide-1', { seed: 1, algo: 'grpo', clipHigh: 0.28 }, rows(0));
    assert.deepEqual(groupVariants(load([tokens, grpoWide, grpo[0]])).map((v) => v.label), [
      'DAPO, aggregation=seq-mean-token-mean',
      'clip_high=0.28',
      'GRPO',
    ]);
  });

  test('a folder without config.json is its own variant, named by the folder', () => {
    const variants = groupVariants(load([dapo[0], bare]));
    assert.deepEqual(variants.map((v) => v.label), ['DAPO', 'no-config']);
  });
});

describe('series', () => {
  test('a variant line is the per-step mean over its seeds, with the least and greatest value', () => {
    const [variant] = groupVariants(load(dapo));
    const series = variantSeries(variant, 'actor/entropy');
    assert.deepEqual(series.map((p) => p.step), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const at2 = series[1];
    assert.equal(at2.runs, 3);
    assert.ok(Math.abs(at2.mean - (0.5 + 0.02)) < 1e-12, `mean ${at2.mean}`);
    assert.ok(Math.abs(at2.min - 0.51) < 1e-12 && Math.abs(at2.max - 0.53) < 1e-12, `band ${at2.min}..${at2.max}`);
    // val/acc only where it was logged.
    assert.deepEqual(variantSeries(variant, 'val/acc').map((p) => p.step), [0, 5, 10]);
  });

  test('smoothing averages each run over the trailing steps before pooling', () => {
    const [variant] = groupVariants(load([dapo[0]]));
    const smooth = variantSeries(variant, 'train/acc_mean', 3);
    // steps 1..3 of 0.3 + 0.01 step + 0.01: mean of 0.32, 0.33, 0.34.
    assert.ok(Math.abs(smooth[2].mean - 0.33) < 1e-12, `smoothed ${smooth[2].mean}`);
    assert.ok(Math.abs(smooth[0].mean - 0.32) < 1e-12, 'the first step has only itself');
  });
});

describe('panels', () => {
  const panelTitles = (spec: Record<string, unknown>) =>
    ((spec.vconcat as Array<{ concat: Array<{ title: string }> }>)[0].concat).map((p) => p.title);

  test('one panel per asked metric that some run logged, in the order asked', () => {
    const spec = comparisonSpec([{ runs: load([...dapo, ...grpo]), metrics: ['actor/entropy', 'val/acc', 'train/kept_groups'] }]);
    assert.deepEqual(panelTitles(spec), ['actor/entropy', 'val/acc', 'train/kept_groups']);
  });

  test('the default metrics: those never logged (resample rate, clip ratio, pg loss here) get no panel', () => {
    const spec = comparisonSpec([{ runs: load([...dapo, ...grpo]), metrics: DEFAULT_COMPARE_METRICS }]);
    assert.deepEqual(panelTitles(spec), DEFAULT_COMPARE_METRICS.filter((m) => !['train/resample_rate', 'response_length/clip_ratio', 'actor/pg_loss'].includes(m)));
  });

  test('a band is drawn only where a variant has several seeds', () => {
    const layers = (runs: string[]) =>
      ((comparisonSpec([{ runs: load(runs), metrics: ['actor/entropy'] }]).vconcat as Array<{ concat: Array<{ layer: Array<{ mark: { type: string } }> }> }>)[0].concat[0].layer).map(
        (l) => l.mark.type,
      );
    assert.deepEqual(layers([dapo[0], grpo[0]]), ['line']);
    assert.deepEqual(layers([...dapo, grpo[0]]), ['area', 'line']);
  });
});

/** Width and height from a PNG's IHDR chunk. */
function pngSize(path: string): { width: number; height: number } {
  const bytes = readFileSync(path);
  assert.equal(bytes.subarray(1, 4).toString(), 'PNG');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

describe('rendering', () => {
  test('a PNG of the reported size; four panels a row, so eight panels add one row of height', async () => {
    const runs = load([...dapo, ...grpo, ...clip]);
    const four = await plotComparison([{ runs, metrics: DEFAULT_COMPARE_METRICS.slice(0, 4) }], join(work, 'four.png'));
    const eight = await plotComparison([{ runs, metrics: DEFAULT_COMPARE_METRICS.slice(0, 8) }], join(work, 'eight.png'));
    assert.deepEqual(pngSize(four.path), { width: four.width, height: four.height });
    assert.deepEqual(pngSize(eight.path), { width: eight.width, height: eight.height });
    // Four panels of 260 units side by side, at PLOT_ZOOM pixels per unit.
    for (const { width } of [four, eight]) assert.ok(width >= 4 * 260 * PLOT_ZOOM && width < 5 * 260 * PLOT_ZOOM, `width ${width}`);
    const row = (eight.height - four.height) / PLOT_ZOOM;
    assert.ok(row > 150 && row < 260, `a row of panels is ${row} units`);
  });

  test('sections stack: the picture grows by the second section', async () => {
    const one = await plotComparison([{ runs: load([...dapo, ...grpo]), metrics: ['actor/entropy'] }], join(work, 'one.png'));
    const two = await plotComparison(
      [
        { title: 'DAPO vs GRPO', runs: load([...dapo, ...grpo]), metrics: ['actor/entropy'] },
        { title: 'clip-higher', runs: load([...dapo, ...clip]), metrics: ['actor/clipfrac_high'] },
      ],
      join(work, 'two.png'),
    );
    assert.ok(two.height > 1.8 * one.height, `${two.height} vs ${one.height}`);
  });
});

describe('dapo compare (command line)', () => {
  const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', cli, 'compare', ...args], { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' });

  test('writes the picture and names the variants; refuses to replace it without --overwrite', () => {
    const out = join(work, 'cli.png');
    const first = run([...dapo, ...clip, '--out', out, '--metrics', 'actor/entropy', 'val/acc']);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /DAPO \(3 seeds\)/);
    assert.match(first.stdout, /clip_high=0\.2 \(2 seeds\)/);
    assert.match(first.stdout, /2 panels/);
    assert.ok(existsSync(out));
    const again = run([...dapo, '--out', out]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /exists.*--overwrite.*E_COMPARE/);
    assert.equal(run([...dapo, '--out', out, '--overwrite']).status, 0);
  });

  test('a metric no run logged, or a folder that is not a run, is an error that names it', () => {
    const unknown = run([...dapo, '--out', join(work, 'x.png'), '--metrics', 'actor/nope']);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /no run logged actor\/nope.*E_COMPARE/);
    const notRun = run([work, '--out', join(work, 'y.png')]);
    assert.equal(notRun.status, 1);
    assert.match(notRun.stderr, /is not a run folder: it has no metrics\.jsonl/);
    assert.ok(!existsSync(join(work, 'x.png')) && !existsSync(join(work, 'y.png')));
  });
});
