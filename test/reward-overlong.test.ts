// Overlong shaping (verl DAPORewardManager: min(-(len - (L_max - L_cache)) / L_cache * factor, 0)).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { overlongPenalty, overlongPenaltyFor } from '../src/reward/index.js';

test('zero up to L_max - L_cache, a ramp inside the buffer, -factor at L_max', () => {
  // L_max 20480, L_cache 4096: the DAPO paper's setting.
  assert.equal(overlongPenalty(0, 20480, 4096, 1), 0);
  assert.equal(overlongPenalty(16384, 20480, 4096, 1), 0);
  assert.equal(overlongPenalty(16385, 20480, 4096, 1), -1 / 4096);
  assert.equal(overlongPenalty(18432, 20480, 4096, 1), -0.5);
  assert.equal(overlongPenalty(20479, 20480, 4096, 1), -4095 / 4096);
  assert.equal(overlongPenalty(20480, 20480, 4096, 1), -1);
  assert.equal(overlongPenalty(30000, 20480, 4096, 1), -1);
});

test('factor scales the ramp, small numbers', () => {
  assert.equal(overlongPenalty(12, 16, 4, 0.5), 0);
  assert.equal(overlongPenalty(13, 16, 4, 0.5), -0.125);
  assert.equal(overlongPenalty(14, 16, 4, 0.5), -0.25);
  assert.equal(overlongPenalty(16, 16, 4, 0.5), -0.5);
  assert.equal(overlongPenalty(17, 16, 4, 0.5), -0.5);
  assert.equal(overlongPenalty(14, 16, 4, 0), 0);
  assert.ok(!Object.is(overlongPenalty(3, 16, 4, 1), -0), 'no negative zero');
  assert.equal(overlongPenaltyFor(14, { maxResponseLength: 16, bufferLength: 4 }), -0.5);
});

test('buffer larger than L_max penalises from the start (verl warns about this)', () => {
  assert.equal(overlongPenalty(0, 8, 16, 1), -0.5);
  assert.equal(overlongPenalty(8, 8, 16, 1), -1);
});

test('zero buffer: no ramp, penalty only past L_max', () => {
  assert.equal(overlongPenalty(8, 8, 0, 1), 0);
  assert.equal(overlongPenalty(9, 8, 0, 1), -1);
});

test('bad arguments name themselves', () => {
  assert.throws(() => overlongPenalty(-1, 8, 2), { name: 'RangeError', message: /length/ });
  assert.throws(() => overlongPenalty(1, Number.NaN, 2), { name: 'TypeError', message: /maxResponseLength/ });
  assert.throws(() => overlongPenalty(1, 8, -2), { name: 'RangeError', message: /bufferLength/ });
});
