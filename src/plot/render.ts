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

// Legend labels are cut at labelLimit pixels: run labels can be long.
export const LEGEND_LABEL_LIMIT = 1000;

// Without a canvas, vega lays text out by 0.8 em per character, which leaves wide gaps in
// legends. Advance widths of DejaVu Sans (units of 1/2048 em), printable ASCII from ' ' on;
// bold runs about 12% wider. A font that is wider still is caught by rasterize().
const ADVANCES = [
  651, 821, 942, 1716, 1303, 1946, 1597, 563, 799, 799, 1024, 1716, 651, 739, 651, 690, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303,
  1303, 690, 690, 1716, 1716, 1716, 1087, 2048, 1401, 1405, 1430, 1577, 1294, 1178, 1587, 1540, 604, 604, 1343, 1141, 1767, 1532, 1612, 1235,
  1612, 1423, 1300, 1251, 1499, 1401, 2025, 1403, 1251, 1403, 799, 690, 799, 1716, 1024, 1024, 1255, 1300, 1126, 1300, 1260, 721, 1300, 1298,
  569, 569, 1186, 569, 1995, 1298, 1253, 1300, 1300, 842, 1067, 803, 1298, 1212, 1675, 1212, 1212, 1075, 1303, 690, 1303, 1716,
];

interface TextItem {
  text?: unknown;
  fontSize?: number;
  fontWeight?: string | number;
}

function textWidth(item: TextItem, text?: unknown): number {
  const s = String(text ?? item.text ?? '');
  let units = 0;
  for (let i = 0; i < s.length; i++) units += ADVANCES[s.charCodeAt(i) - 32] ?? 1300;
  const bold = item.fontWeight === 'bold' || (typeof item.fontWeight === 'number' && item.fontWeight >= 600);
  return ((item.fontSize ?? 11) * units * (bold ? 1.12 : 1)) / 2048;
}
// vega exports textMetrics (vl-convert sets its width the same way); its typings leave it out.
(vega as unknown as { textMetrics: { width: (item: TextItem, text?: unknown) => number } }).textMetrics.width = textWidth;

export interface RenderedPng {
  path: string;
  width: number;
  height: number;
}

/**
 * Rasterises an SVG, growing the canvas to whatever its content covers (vega's text
 * estimates can fall short of the real font), so no label is cut at the picture's edge.
 * `pixels` is RGBA, row by row.
 */
export function rasterize(svg: string): { png: Buffer; pixels: Buffer; width: number; height: number } {
  const options = { fitTo: { mode: 'zoom' as const, value: PLOT_ZOOM }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, background: 'white' };
  const resvg = new Resvg(svg, options);
  const content = resvg.getBBox();
  const w = resvg.width;
  const h = resvg.height;
  if (content && (content.x < 0 || content.y < 0 || content.x + content.width > w || content.y + content.height > h)) {
    const margin = 4;
    const x0 = content.x < 0 ? content.x - margin : 0;
    const y0 = content.y < 0 ? content.y - margin : 0;
    content.width = (content.x + content.width > w ? content.x + content.width + margin : w) - x0;
    content.height = (content.y + content.height > h ? content.y + content.height + margin : h) - y0;
    content.x = x0;
    content.y = y0;
    resvg.cropByBBox(content);
  }
  const image = resvg.render();
  return { png: image.asPng(), pixels: image.pixels, width: image.width, height: image.height };
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
  const { png, width, height } = rasterize(await specToSvg(spec));
  const tmp = `${outPath}.tmp-${process.pid}`;
  writeFileSync(tmp, png);
  renameSync(tmp, outPath);
  return { path: outPath, width, height };
}
