// The one rendering path of every picture: a vega-lite spec compiled to vega, drawn to SVG by
// vega (no canvas in Node) and rasterised to PNG by resvg, written atomically.
import { renameSync, writeFileSync } from 'node:fs';

import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';

/** Fonts resvg finds on common systems, in order; vega writes the list into the SVG as is. */
export const PLOT_FONT = 'DejaVu Sans, Helvetica, Arial, Liberation Sans, sans-serif';

/** Pixels per SVG unit in the PNG. */
export const PLOT_ZOOM = 1.5;

// Tick labels: plain decimals (trailing zeros dropped, at most 4 significant digits) between
// 0.001 and 100000, else two significant digits in exponent form: never "0.000000004".
const NUMBER_LABEL_EXPR =
  "datum.value == 0 ? '0' : (abs(datum.value) < 0.001 || abs(datum.value) >= 100000) ? format(datum.value, '.2~e') : format(datum.value, '.4~r')";

/** A y (or any value) axis with readable tick labels. */
export const valueAxis = { labelExpr: NUMBER_LABEL_EXPR, labelOverlap: true, tickCount: 5 };

/** The x axis of steps: whole numbers only. */
export const stepAxis = { tickMinStep: 1, format: 'd', labelOverlap: true, tickCount: 6 };

// vega sizes labels by an estimate (0.8 em per character, no canvas here) and cuts legend
// labels at labelLimit: long run labels need room, and the picture is widened below if the
// drawn text still overruns.
export const LEGEND_LABEL_LIMIT = 1000;

export interface RenderedPng {
  path: string;
  width: number;
  height: number;
}

/**
 * Rasterises an SVG, growing the canvas to whatever its content covers (vega's text
 * estimates can fall short of the real font), so no label is cut at the picture's edge.
 */
export function svgToPng(svg: string): { png: Buffer; width: number; height: number } {
  const options = { fitTo: { mode: 'zoom' as const, value: PLOT_ZOOM }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, background: 'white' };
  let resvg = new Resvg(svg, options);
  const content = resvg.getBBox();
  const w = resvg.width;
  const h = resvg.height;
  if (content && (content.x < 0 || content.y < 0 || content.x + content.width > w || content.y + content.height > h)) {
    const margin = 4;
    const x0 = content.x < 0 ? content.x - margin : 0;
    const y0 = content.y < 0 ? content.y - margin : 0;
    const x1 = content.x + content.width > w ? content.x + content.width + margin : w;
    const y1 = content.y + content.height > h ? content.y + content.height + margin : h;
    resvg = new Resvg(svg, options);
    const bbox = resvg.getBBox()!;
    bbox.x = x0;
    bbox.y = y0;
    bbox.width = x1 - x0;
    bbox.height = y1 - y0;
    resvg.cropByBBox(bbox);
  }
  const image = resvg.render();
  return { png: image.asPng(), width: image.width, height: image.height };
}

/** Compiles a vega-lite spec and draws it as SVG. */
export async function specToSvg(spec: Record<string, unknown>): Promise<string> {
  const full = { background: 'white', ...spec, config: { font: PLOT_FONT, ...(spec.config as object | undefined) } };
  const compiled = vegaLite.compile(full as unknown as vegaLite.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Compiles and renders a vega-lite spec to a PNG at `outPath` (a temporary name, then renamed). */
export async function renderSpec(spec: Record<string, unknown>, outPath: string): Promise<RenderedPng> {
  const { png, width, height } = svgToPng(await specToSvg(spec));
  const tmp = `${outPath}.tmp-${process.pid}`;
  writeFileSync(tmp, png);
  renameSync(tmp, outPath);
  return { path: outPath, width, height };
}
