// MFU's ingredients (src/policy/flops.ts) and the perf/ metrics of a step (src/train/perf.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { qwen25Config } from '../benchmarks/qwen25-shape.js';
import { forwardFlops, matmulParameters, peakBf16Flops, trainFlops } from '../src/policy/flops.js';
import { Policy } from '../src/policy/index.js';
import { perfMetrics, updateFlops } from '../src/train/perf.js';
import { tinyConfig } from './policy-helpers.js';

test('matmul weights of the Qwen2.5-0.5B shape, counted by hand', () => {
  // Per layer: q 896x896, k and v 128x896, o 896x896, gate/up/down 3 x 896x4864; the tied LM head 151936x896.
  const perLayer = 896 * 896 + 2 * 128 * 896 + 896 * 896 + 3 * 896 * 4864;
  assert.equal(matmulParameters(qwen25Config()), 24 * perLayer + 151936 * 896);
  assert.equal(matmulParameters(qwen25Config()), 493_961_216);
});

test('forward FLOPs: 2 per matmul weight per token, plus causal attention position by position', () => {
  const c = tinyConfig('qwen3');
  for (const length of [1, 7, 30]) {
    let attention = 0;
    for (let t = 0; t < length; t++) attention += c.numLayers * 2 * 2 * c.numHeads * c.headDim * (t + 1); // QK^T and PV over t + 1 keys
    assert.equal(forwardFlops(c, length), 2 * matmulParameters(c) * length + attention);
    assert.equal(trainFlops(c, length), 3 * forwardFlops(c, length));
  }
});

test('peak bf16 FLOP/s by device name; none for a device not in the table', () => {
  assert.equal(peakBf16Flops('NVIDIA H100 80GB HBM3'), 989.4e12);
  assert.equal(peakBf16Flops('NVIDIA H100 PCIe'), 756e12);
  assert.equal(peakBf16Flops('NVIDIA H100 NVL'), 835e12);
  assert.equal(peakBf16Flops('NVIDIA H200'), 989.4e12);
  assert.equal(peakBf16Flops('NVIDIA A100-SXM4-80GB'), 312e12);
  assert.equal(peakBf16Flops('NVIDIA A10'), 125e12);
  assert.equal(peakBf16Flops('NVIDIA L40S'), 362.05e12);
  assert.equal(peakBf16Flops('NVIDIA L4'), 121e12);
  assert.equal(peakBf16Flops('NVIDIA GeForce GTX 1080'), undefined);
  assert.equal(peakBf16Flops(undefined), undefined);
});

test('update FLOPs count recomputed old log-probs and the KL reference; the CPU reports no perf/mfu or memory', () => {
  const p = Policy.fromConfig(tinyConfig('llama'), { device: 'cpu' });
  const s = { promptIds: Int32Array.from([1, 2, 3]), response: Int32Array.from([4, 5]), advantage: 1, counted: true };
  const fwd = forwardFlops(p.config, 5);
  assert.equal(updateFlops(p, [{ ...s, oldLogprobs: new Float32Array(2) }], { epochsPerBatch: 2, klCoef: 0 }), 2 * 3 * fwd);
  assert.equal(updateFlops(p, [s], { epochsPerBatch: 1, klCoef: 0.1 }), 3 * fwd + fwd + fwd);
  assert.deepEqual(perfMetrics(p, 1e9, 1), {});
  p.dispose();
});
