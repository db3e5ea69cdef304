// The engine's GEMM against the naive triple loop, in every transpose form, at edge shapes,
// and its determinism: a row of C is bitwise the same whatever M or the thread count.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from '../src/native.js';

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

test('gemm matches the naive product for all transpose forms and edge shapes', () => {
  const shapes = [
    [1, 1, 1], [5, 7, 3], [6, 16, 256], [7, 17, 257], [13, 33, 600], [97, 20, 1], [2, 4100, 9], [130, 70, 520],
  ];
  for (const [m, n, k] of shapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const a = rand(m * k, m + 7 * n + k);
        const b = rand(k * n, 3 * m + n + 11 * k);
        const fast = native.gemm({ a, b, m, n, k, transA, transB });
        const ref = native.gemm({ a, b, m, n, k, transA, transB, naive: true });
        let worst = 0;
        for (let i = 0; i < fast.length; i++) worst = Math.max(worst, Math.abs(fast[i] - ref[i]) / Math.sqrt(k));
        assert.ok(worst < 1e-5, `${m}x${n}x${k} transA=${transA} transB=${transB}: error ${worst}`);
      }
    }
  }
});

test('gemm rows do not depend on M or on the thread count', () => {
  const m = 50, n = 300, k = 700;
  const a = rand(m * k, 1);
  const b = rand(k * n, 2);
  const full = native.gemm({ a, b, m, n, k, transB: true });
  for (const [from, rows] of [[0, 1], [17, 5], [44, 6]]) {
    const part = native.gemm({ a: a.slice(from * k, (from + rows) * k), b, m: rows, n, k, transB: true });
    assert.deepEqual(part, full.slice(from * n, (from + rows) * n), `rows ${from}..${from + rows}`);
  }
  const threads = native.numThreads();
  native.setNumThreads(1);
  try {
    assert.deepEqual(native.gemm({ a, b, m, n, k, transB: true }), full);
  } finally {
    native.setNumThreads(threads);
  }
  native.setNumThreads(3);
  try {
    assert.deepEqual(native.gemm({ a, b, m, n, k, transB: true }), full);
  } finally {
    native.setNumThreads(threads);
  }
});

test('gemm rejects bad shapes', () => {
  assert.throws(() => native.gemm({ a: new Float32Array(6), b: new Float32Array(6), m: 2, n: 2, k: 2 }), /a must hold m \* k values/);
  assert.throws(() => native.gemm({ a: new Float32Array(4), b: new Float32Array(4), m: 2, n: -1, k: 2 }), RangeError);
  assert.throws(() => native.gemm({ a: [1] as unknown as Float32Array, b: new Float32Array(1), m: 1, n: 1, k: 1 }), TypeError);
});
