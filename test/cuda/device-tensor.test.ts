// DeviceTensor: upload / download round trips for each dtype, dispose, and misuse.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { DeviceTensor } from '../../src/loss/device.js';
import { Rng, testSeed } from '../helpers/random.js';
import { skipReason } from './device.js';

const skip = skipReason;

describe('DeviceTensor', () => {
  const rng = new Rng(testSeed());
  test('round trips every dtype', { skip }, () => {
    const arrays = [
      rng.floats(1001),
      Uint16Array.from({ length: 77 }, () => rng.int(65536)),
      Int32Array.from({ length: 5 }, () => rng.int(1 << 30) - (1 << 29)),
      Uint8Array.from({ length: 3 }, () => rng.int(256)),
      new Float32Array(0),
    ];
    for (const a of arrays) {
      const t = DeviceTensor.upload(a);
      assert.equal(t.length, a.length);
      assert.equal(t.byteLength, a.byteLength);
      assert.deepEqual(t.download(), a);
      const out = new (a.constructor as new (n: number) => typeof a)(a.length);
      assert.equal(t.download(out), out);
      assert.deepEqual(out, a);
      t.dispose();
      assert.equal(t.disposed, true);
    }
  });

  test('empty, dtype names, and errors', { skip }, () => {
    const t = DeviceTensor.empty('bfloat16', 10);
    assert.equal(t.dtype, 'bfloat16');
    assert.throws(() => t.download(new Float32Array(10)), TypeError);
    assert.throws(() => t.download(new Uint16Array(9)), RangeError);
    t.dispose();
    t.dispose();
    assert.throws(() => t.download(), TypeError);
    assert.throws(() => DeviceTensor.empty('float64' as never, 1), RangeError);
    assert.throws(() => DeviceTensor.upload(new Float64Array(2) as never), TypeError);
  });
});
