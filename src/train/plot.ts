// training_metrics.png from metrics.jsonl: a grid of line charts drawn by vega-lite, rendered
// to SVG by vega and to PNG by resvg.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';

export interface PlotPanel {
  title: string;
  keys: string[];
}

/** The panels of the standard picture; missing keys are left out, empty panels dropped. */
export const TRAINING_PANELS: PlotPanel[] = [
  { title: 'reward', keys: ['train/reward_mean'] },
  { title: 'accuracy', keys: ['train/acc_mean', 'val/acc', 'val/pass@k'] },
  { title: 'entropy', keys: ['actor/entropy'] },
  { title: 'response length', keys: ['response_length/mean'] },
  { title: 'clip fraction', keys: ['actor/clipfrac_low', 'actor/clipfrac_high'] },
  { title: 'resample rate', keys: ['train/resample_rate'] },
  { title: 'gradient norm', keys: ['actor/grad_norm'] },
  { title: 'policy loss', keys: ['actor/pg_loss'] },
];

export function readMetrics(path: string): Array<Record<string, number>> {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, number>);
}

function panelSpec(panel: PlotPanel, rows: Array<Record<string, number>>) {
  const values = rows.flatMap((row) =>
    panel.keys.filter((key) => typeof row[key] === 'number' && Number.isFinite(row[key])).map((key) => ({ step: row.step, value: row[key], series: key })),
  );
  if (values.length === 0) return undefined;
  return {
    title: panel.title,
    width: 300,
    height: 170,
    data: { values },
    mark: { type: 'line', point: values.length < 40 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
      color: { field: 'series', type: 'nominal', legend: { orient: 'bottom', title: null } },
    },
  };
}

/** Renders the panels as a PNG at `outPath` (written to a temporary name, then renamed). */
export async function plotMetrics(rows: Array<Record<string, number>>, outPath: string, title: string, panels = TRAINING_PANELS) {
  const charts = panels.map((p) => panelSpec(p, rows)).filter((c) => c !== undefined);
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    background: 'white',
    columns: 4,
    concat: charts,
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
    config: { font: 'sans-serif' },
  };
  const compiled = vegaLite.compile(spec as unknown as vegaLite.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, { fitTo: { mode: 'zoom', value: 1.5 }, font: { loadSystemFonts: true } }).render().asPng();
  const tmp = `${outPath}.tmp-${process.pid}`;
  writeFileSync(tmp, png);
  renameSync(tmp, outPath);
}

/** Redraws DIR/training_metrics.png from DIR/metrics.jsonl. */
export async function plotRun(dir: string): Promise<string> {
  const rows = readMetrics(join(dir, 'metrics.jsonl'));
  const out = join(dir, 'training_metrics.png');
  await plotMetrics(rows, out, `dapo: ${dir}`);
  return out;
}
