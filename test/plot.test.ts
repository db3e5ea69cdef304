// training_metrics.png and the rendering path every picture shares: tick labels a person can
// read (no 0.000000004), whole steps on the x axis, and no text cut at the picture's edge.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { PLOT_ZOOM, rasterize, specToSvg } from '../src/plot/render.js';
import { plotMetrics, trainingSpec } from '../src/train/plot.js';
import { Rng, testSeed } from './helpers/random.js';

const rng = new Rng(testSeed());
const work = mkdtempSync(join(tmpdir(), 'dapo-plot-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** The text of every <text> element of an SVG. */
const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

/** A few steps with a clip fraction of a few 1e-9 and a reward in the hundreds. */
function rows(steps: number) {
  return Array.from({ length: steps + 1 }, (_, step) => ({
    step,
    'train/reward_mean': 100 * (step + 1) + rng.int(10),
    'actor/clipfrac_low': 4e-9 * step * (1 + rng.next()),
    'actor/clipfrac_high': 0,
  }));
}

describe('tick labels', () => {
  test('tiny values in exponent form, never a long run of zeros; only whole steps', async () => {
    const labels = texts(await specToSvg(trainingSpec(rows(3), 'ticks')));
    assert.ok(!labels.some((t) => /0\.0000/.test(t)), `labels: ${labels.join(' | ')}`);
    assert.ok(labels.some((t) => /^\d(\.\d+)?e-9$/.test(t) || /^\d(\.\d+)?e-8$/.test(t)), `no exponent label among ${labels.join(' | ')}`);
    // Rewards are whole hundreds and steps whole: any fractional label would be a half step.
    const numbers = labels.filter((t) => /^-?[\d.]+$/.test(t));
    assert.ok(numbers.length > 5);
    for (const t of numbers) assert.ok(Number.isInteger(Number(t)), `fractional tick label ${t}`);
  });

  test('a constant series shows its value once, as written (0.5, not 0.500000)', async () => {
    const flat = [1, 2, 3].map((step) => ({ step, 'actor/grad_norm': 0.5 }));
    const labels = texts(await specToSvg(trainingSpec(flat, 'flat')));
    assert.ok(labels.includes('0.5'), labels.join(' | '));
    assert.ok(!labels.some((t) => /^0\.50+$/.test(t)), labels.join(' | '));
  });
});

describe('picture edges', () => {
  /** True when every pixel of the outermost rows and columns is white. */
  function whiteBorder(image: { pixels: Buffer; width: number; height: number }): boolean {
    const white = (x: number, y: number) => {
      const i = 4 * (y * image.width + x);
      return image.pixels[i] === 255 && image.pixels[i + 1] === 255 && image.pixels[i + 2] === 255;
    };
    for (let x = 0; x < image.width; x++) if (!white(x, 0) || !white(x, image.height - 1)) return false;
    for (let y = 0; y < image.height; y++) if (!white(0, y) || !white(image.width - 1, y)) return false;
    return true;
  }

  test('text drawn past the canvas grows the picture instead of being cut', () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="40" viewBox="0 0 100 40">' +
      '<text x="60" y="25" font-family="DejaVu Sans, sans-serif" font-size="12">a legend label running long</text></svg>';
    const image = rasterize(svg);
    assert.ok(image.width > 100 * PLOT_ZOOM * 1.5, `width ${image.width}`);
    assert.equal(image.height, 40 * PLOT_ZOOM);
    assert.ok(whiteBorder(image), 'something touches the edge');
  });

  test('training_metrics.png: legends with long series names fit inside the picture', async () => {
    const long = 'a/metric_with_a_name_long_enough_to_overrun_its_panel';
    const data = rows(30).map((r) => ({ ...r, [long]: rng.next() }));
    const panels = [{ title: 'reward', keys: ['train/reward_mean'] }, { title: 'clip', keys: ['actor/clipfrac_low', 'actor/clipfrac_high'] }, { title: 'long', keys: [long, 'train/reward_mean'] }];
    const image = rasterize(await specToSvg(trainingSpec(data, 'edges', panels)));
    assert.ok(whiteBorder(image), 'something touches the edge');
    const out = await plotMetrics(data, join(work, 'training_metrics.png'), 'edges', panels);
    const png = readFileSync(out.path);
    assert.equal(png.subarray(1, 4).toString(), 'PNG');
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [image.width, image.height]);
  });
});
