// Seeded random inputs for tests. Each run draws a fresh seed (printed, so a failure can be
// replayed with DAPO_TEST_SEED=<seed>); a test never runs on zeros or fixed data.
export function testSeed(): number {
  const fromEnv = process.env.DAPO_TEST_SEED;
  return fromEnv ? Number(fromEnv) : (Date.now() ^ (process.pid << 16)) >>> 0;
}

/** mulberry32: small, fast, good enough for test data. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  floats(n: number, scale = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * scale;
    return out;
  }
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Largest |a - b| over the arrays, divided by max(|b|_inf, floor). */
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-12): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst / Math.max(maxAbs(b), floor);
}

/** Sequences of random lengths (1 to 6) packed back to back: ids[i] is the sequence of token i. */
export function randomSeqIds(rng: Rng, n: number): Int32Array {
  const ids = new Int32Array(n);
  let seq = 0;
  let left = 1 + rng.int(6);
  for (let i = 0; i < n; i++) {
    if (left === 0) {
      seq++;
      left = 1 + rng.int(6);
    }
    ids[i] = seq;
    left--;
  }
  return ids;
}
