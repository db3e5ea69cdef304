// The compare picture: a grid of panels, one per metric, one line per variant (the mean over
// its seeds, with a min-max band), drawn through the shared rendering path. Several sections
// (each its own runs, metrics and legend) can share one picture: the ablation draws its main
// pairs that way.
import { LEGEND_LABEL_LIMIT, renderSpec, stepAxis, valueAxis, type RenderedPng } from '../plot/render.js';
import { CompareError, loggedMetrics, type LoadedRun } from './runs.js';
import { groupVariants, legendLabel, type Variant } from './variants.js';

export const DEFAULT_COMPARE_METRICS = [
  'val/acc',
  'train/acc_mean',
  'actor/entropy',
  'actor/grad_norm',
  'actor/clipfrac_high',
  'actor/clipfrac_low',
  'train/resample_rate',
  'train/kept_groups',
  'response_length/mean',
  'response_length/clip_ratio',
  'actor/pg_loss',
] as const;

export interface SeriesPoint {
  step: number;
  mean: number;
  min: number;
  max: number;
  runs: number;
}

/** One run's finite values of `metric`, each averaged with the values of the `smooth` - 1 steps before it. */
function runSeries(run: LoadedRun, metric: string, smooth: number): Array<{ step: number; value: number }> {
  const points = run.rows.filter((r) => typeof r[metric] === 'number' && Number.isFinite(r[metric])).map((r) => ({ step: r.step, value: r[metric] }));
  if (smooth <= 1) return points;
  return points.map((p, i) => {
    let sum = 0;
    let count = 0;
    for (let j = i; j >= 0 && points[j].step > p.step - smooth; j--, count++) sum += points[j].value;
    return { step: p.step, value: sum / count };
  });
}

/** The variant's line: per step, the mean, least and greatest value over its runs. */
export function variantSeries(variant: Variant, metric: string, smooth = 1): SeriesPoint[] {
  const byStep = new Map<number, number[]>();
  for (const run of variant.runs) for (const p of runSeries(run, metric, smooth)) byStep.set(p.step, [...(byStep.get(p.step) ?? []), p.value]);
  return [...byStep.entries()]
    .sort(([a], [b]) => a - b)
    .map(([step, values]) => ({ step, mean: values.reduce((a, b) => a + b, 0) / values.length, min: Math.min(...values), max: Math.max(...values), runs: values.length }));
}

export interface CompareSection {
  title?: string;
  runs: LoadedRun[];
  metrics: readonly string[];
}

export interface CompareOptions {
  title?: string;
  /** Trailing mean over this many steps (1: none). */
  smooth?: number;
  /** Panels per row. */
  columns?: number;
}

// Tableau 10, so that a label keeps its color in every section of a picture.
const PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];

// Every panel carries the same legend definition, so vega-lite merges them into one legend
// above the section's grid (a legend of one panel would be squeezed into that panel's room).
function legendSpec(labels: string[]) {
  return { orient: 'top', direction: 'horizontal', title: null, labelLimit: LEGEND_LABEL_LIMIT, columns: Math.min(3, labels.length), symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1 };
}

/** A constant series gets a small span around its value, else its ticks repeat one label. */
function valueDomain(values: Array<{ min: number; max: number }>): [number, number] | undefined {
  const lo = Math.min(...values.map((v) => v.min));
  const hi = Math.max(...values.map((v) => v.max));
  if (hi - lo > 1e-9 * Math.max(1, Math.abs(hi))) return undefined;
  const pad = Math.max(Math.abs(hi) * 0.1, 1e-3);
  return [lo - pad, hi + pad];
}

function panelSpec(metric: string, variants: Variant[], labels: string[], colors: string[], smooth: number) {
  const values = variants.flatMap((v, i) => variantSeries(v, metric, smooth).map((p) => ({ ...p, variant: labels[i] })));
  if (values.length === 0) return undefined;
  const color = { field: 'variant', type: 'nominal', scale: { domain: labels, range: colors }, legend: legendSpec(labels) };
  const domain = valueDomain(values);
  const x = { field: 'step', type: 'quantitative', title: 'step', axis: stepAxis };
  const layers: object[] = [];
  if (variants.some((v) => v.runs.length > 1))
    layers.push({ mark: { type: 'area', opacity: 0.18 }, encoding: { x, y: { field: 'min', type: 'quantitative' }, y2: { field: 'max' }, color } });
  layers.push({
    mark: { type: 'line', strokeWidth: 1.6, point: values.length / variants.length < 40 },
    encoding: { x, y: { field: 'mean', type: 'quantitative', title: null, scale: { zero: false, ...(domain ? { domain } : {}) }, axis: valueAxis }, color },
  });
  return { title: metric, width: 260, height: 150, data: { values }, layer: layers };
}

/** A section: its title, its legend (one entry per variant) and its grid of panels. */
function sectionSpec(section: CompareSection, colorOf: (label: string) => string, smooth: number, columns: number) {
  const variants = groupVariants(section.runs);
  const labels = variants.map(legendLabel);
  const colors = variants.map((v) => colorOf(v.label));
  const panels = section.metrics.map((m) => panelSpec(m, variants, labels, colors, smooth)).filter((p) => p !== undefined);
  if (panels.length === 0) throw new CompareError(`none of the runs logged ${section.metrics.join(', ')}`);
  return {
    ...(section.title ? { title: { text: section.title, anchor: 'start', fontSize: 14 } } : {}),
    columns,
    concat: panels,
    spacing: 18,
    resolve: { scale: { color: 'shared' } },
  };
}

/** Checks that every asked metric was logged by some run of its section. */
export function checkMetrics(section: CompareSection): void {
  const logged = new Set(loggedMetrics(section.runs));
  const missing = section.metrics.filter((m) => !logged.has(m));
  if (missing.length > 0) throw new CompareError(`no run logged ${missing.join(', ')} (logged: ${[...logged].join(', ')})`);
}

/** The vega-lite spec of the sections drawn one above the other. */
export function comparisonSpec(sections: CompareSection[], options: CompareOptions = {}): Record<string, unknown> {
  const order: string[] = [];
  const colorOf = (label: string) => {
    if (!order.includes(label)) order.push(label);
    return PALETTE[order.indexOf(label) % PALETTE.length];
  };
  const specs = sections.map((s) => sectionSpec(s, colorOf, options.smooth ?? 1, options.columns ?? 4));
  return {
    ...(options.title ? { title: { text: options.title, anchor: 'start', fontSize: 15, offset: 10 } } : {}),
    vconcat: specs,
    spacing: 28,
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
  };
}

/** Draws the sections one above the other into a PNG at `outPath`. */
export async function plotComparison(sections: CompareSection[], outPath: string, options: CompareOptions = {}): Promise<RenderedPng> {
  return renderSpec(comparisonSpec(sections, options), outPath);
}
