// training_metrics.png from metrics.jsonl: a grid of line charts, one panel per concern,
// drawn through the shared rendering path (src/plot/render.ts: vega-lite -> SVG -> resvg).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { LEGEND_LABEL_LIMIT, renderSpec, stepAxis, valueAxis, type RenderedPng } from '../plot/render.js';

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
      x: { field: 'step', type: 'quantitative', title: 'step', axis: stepAxis },
      y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false }, axis: valueAxis },
      color: { field: 'series', type: 'nominal', legend: { orient: 'bottom', title: null, labelLimit: LEGEND_LABEL_LIMIT, columns: 2 } },
    },
  };
}

/** The vega-lite spec of the picture: the panels with data, four a row. */
export function trainingSpec(rows: Array<Record<string, number>>, title: string, panels = TRAINING_PANELS): Record<string, unknown> {
  return {
    title: { text: title, anchor: 'start', offset: 12 },
    columns: 4,
    concat: panels.map((p) => panelSpec(p, rows)).filter((c) => c !== undefined),
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
  };
}

/** Renders the panels as a PNG at `outPath` (written to a temporary name, then renamed). */
export async function plotMetrics(rows: Array<Record<string, number>>, outPath: string, title: string, panels = TRAINING_PANELS): Promise<RenderedPng> {
  return renderSpec(trainingSpec(rows, title, panels), outPath);
}

/** Redraws DIR/training_metrics.png from DIR/metrics.jsonl. */
export async function plotRun(dir: string): Promise<string> {
  const rows = readMetrics(join(dir, 'metrics.jsonl'));
  const out = join(dir, 'training_metrics.png');
  await plotMetrics(rows, out, `dapo: ${dir}`);
  return out;
}
