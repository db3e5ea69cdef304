// Calls that used to crash the process (SIGSEGV) or read freed memory, run in a child process:
// `node --import tsx --expose-gc test/helpers/crash-cases.ts [case...]` runs the named cases (all
// by default) and prints two JSON lines per case, { case, start: true } before it and
// { case, ok, value } or { case, error: { name, code, message } } after, so that when a case
// kills the process the parent test (test/robust-native.test.ts) can say which one did.
import { dapoLoss, dapoLossAsync } from '../../src/loss/index.js';
import { builtinConfig, Policy } from '../../src/policy/index.js';
import { native, type NativeLossArgs } from '../../src/native.js';
import { asyncLossCases, collect, detachOnGet, transferAway, withInputsZeroed } from './ownership.js';

/** Log-prob mode inputs over 64 MiB arrays, which the allocator unmaps when they are freed. */
function logprobArgs64MiB(): Record<string, unknown> {
  const n = 1 << 24;
  return {
    logprobs: new Float32Array(n).fill(-1),
    oldLogprobs: new Float32Array(n).fill(-1),
    advantages: new Float32Array(n).fill(1),
    mask: new Uint8Array(n).fill(1),
  };
}

function tinyConfig() {
  return builtinConfig('tiny').config;
}

/**
 * Sets one AdamW moment of one parameter on a fresh CPU engine (as nothing but a restore does),
 * sets the step count, takes a step, and compares that parameter and its moments with the
 * update computed here in float64 from the other moment at zero. Returns the step number and
 * the largest errors, relative to max(1, |expected|).
 */
async function stepAfterOneMoment(set: 'm' | 'v') {
  const e = new native.PolicyEngine(tinyConfig());
  try {
    e.initRandom(7, 0.02);
    const i = e.params().findIndex((p) => p.name === 'model.layers.0.mlp.up_proj.weight');
    const size = e.params()[i].size;
    const state = Float32Array.from({ length: size }, (_, k) => (set === 'm' ? 1e-3 * Math.sin(k + 1) : 1e-6 * (1 + Math.cos(k))));
    e.setOptimizerState(i, set, state);
    e.setOptimizerSteps(3);
    const tokens = Int32Array.from({ length: 24 }, (_, k) => 1 + ((k * 7) % 30));
    await e.accumulate({ tokens, offsets: Int32Array.from([0, 12, 24]) }, { kind: 'nll' });
    const g = e.getGrad(i), w0 = e.getParam(i);
    const lr = 1e-3, wd = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const { step } = await e.step({ lr, weightDecay: wd, betas: [b1, b2], eps });
    const m = e.getOptimizerState(i, 'm'), v = e.getOptimizerState(i, 'v'), w = e.getParam(i);
    // The moments update with the betas as float32 (as adamw.cc does), the bias corrections in double.
    const b1f = Math.fround(b1), b2f = Math.fround(b2);
    const bc1 = 1 - b1 ** step, bc2 = 1 - b2 ** step;
    let errW = 0, errM = 0, errV = 0;
    const err = (got: number, want: number) => Math.abs(got - want) / Math.max(1, Math.abs(want));
    for (let k = 0; k < size; k++) {
      const m1 = b1f * (set === 'm' ? state[k] : 0) + (1 - b1f) * g[k];
      const v1 = b2f * (set === 'v' ? state[k] : 0) + (1 - b2f) * g[k] * g[k];
      const w1 = w0[k] * (1 - lr * wd) - ((lr / bc1) * m1) / (Math.sqrt(v1) / Math.sqrt(bc2) + eps);
      errW = Math.max(errW, err(w[k], w1));
      errM = Math.max(errM, err(m[k] * 1e3, m1 * 1e3));
      errV = Math.max(errV, err(v[k] * 1e6, v1 * 1e6));
    }
    return { step, errW, errM, errV, gradNonZero: g.some((x) => x !== 0) };
  } finally {
    e.dispose();
  }
}

const CASES: Record<string, () => Promise<unknown>> = {
  // n x prompts wrapped in 64 bits and sized nothing.
  async 'generate-n-overflow'() {
    const policy = await Policy.load('builtin:tiny');
    return policy.generate([Int32Array.from([1, 2]), Int32Array.from([3])], { n: 2 ** 63, maxNewTokens: 1 });
  },
  // A huge n that does not wrap but needs more memory than any machine has.
  async 'generate-n-huge'() {
    const policy = await Policy.load('builtin:tiny');
    return policy.generate([Int32Array.from([1, 2])], { n: 2 ** 40, maxNewTokens: 8 });
  },
  // prompt length + maxNewTokens wrapped and sized the KV cache for one position.
  async 'generate-kv-wrap'() {
    const policy = Policy.fromConfig({ ...tinyConfig(), maxPositions: 4096 });
    return policy.generate([new Int32Array(2049).fill(1)], { maxNewTokens: 2 ** 64 - 2048 });
  },
  // The largest maxNewTokens allowed fills the context and no more.
  async 'generate-kv-max'() {
    const policy = Policy.fromConfig({ ...tinyConfig(), maxPositions: 4096 });
    const [[r]] = await policy.generate([new Int32Array(2049).fill(1)], { maxNewTokens: Number.MAX_SAFE_INTEGER, temperature: 0, stop: [] });
    return { tokens: r.tokens.length };
  },
  // The worker read logits whose buffer was transferred away and freed, or wrote into a gradOut
  // whose buffer was.
  ...asyncLossCases(dapoLossAsync, dapoLoss),
  // A getter on the options detached an array read before it; the call then read freed memory.
  // (The addon directly: dapoLoss's own option spread would run the getter before the call.)
  async 'sync-getter-detach'() {
    const args = logprobArgs64MiB();
    const mask = args.mask;
    delete args.mask;
    detachOnGet(args, 'mask', (args.oldLogprobs as Float32Array).buffer, mask);
    return native.dapoLoss(args as unknown as NativeLossArgs);
  },
  // The same in an async call, whose copy of oldLogprobs was then made from the freed memory.
  async 'async-getter-detach'() {
    const args = logprobArgs64MiB();
    detachOnGet(args, 'clipLow', (args.oldLogprobs as Float32Array).buffer, 0.2);
    return native.dapoLossAsync(args as unknown as NativeLossArgs);
  },
  // N * vocabSize wrapped to 0 (4096 x 2^52 = 2^64), which an empty logits array matched.
  async 'vocab-times-n-overflow'() {
    const n = 4096;
    return dapoLoss({
      logits: new Float32Array(0),
      vocabSize: 2 ** 52,
      tokens: Int32Array.from({ length: n }, (_, i) => i),
      oldLogprobs: new Float32Array(n).fill(-1),
      advantages: new Float32Array(n).fill(1),
      mask: new Uint8Array(n).fill(1),
    });
  },
  // Parameter counts past size_t gave the C++ library's vector error.
  async 'config-overflow'() {
    return Policy.fromConfig({ ...tinyConfig(), vocabSize: 2 ** 52, hiddenSize: 2 ** 20, numHeads: 1, numKvHeads: 1, headDim: 2 ** 20 });
  },
  // A layer count that does not overflow must not spend minutes naming 2^31 layers first.
  async 'config-layers-huge'() {
    return Policy.fromConfig({ ...tinyConfig(), numLayers: 2 ** 31 });
  },
  // setOptimizerState(i, 'm') sized m alone; the next step skipped sizing and wrote into an
  // empty v (out of bounds). Both moments are now made together, and the step count is kept.
  async 'adamw-only-m'() {
    return stepAfterOneMoment('m');
  },
  async 'adamw-only-v'() {
    return stepAfterOneMoment('v');
  },
  // Every array input of the engine's async calls transferred, and its memory (now the clone's)
  // zeroed, just after the call: the call must have copied them (CallArrays), as both engines'
  // bindings share the parsing (bindings/policy_call.cc). Results equal an untouched call's.
  async 'engine-inputs-overwritten'() {
    const e = new native.PolicyEngine(tinyConfig());
    try {
      e.initRandom(11, 0.02);
      const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));
      const ids = (n: number) => Int32Array.from({ length: n }, (_, k) => 1 + ((k * 5) % 30));

      const wantLogits = await e.forwardLogits(ids(200));
      const forwardIds = ids(200);
      const forwardLogits = same(await withInputsZeroed(() => e.forwardLogits(forwardIds), [forwardIds]), wantLogits);

      const generateArgs = () => ({
        promptTokens: ids(20), promptOffsets: Int32Array.from([0, 10, 20]), n: 3, maxNewTokens: 12, temperature: 1, seed: 4, stop: Int32Array.from([2]),
      });
      const wantGenerated = await e.generate(generateArgs());
      const args = generateArgs();
      const got = await withInputsZeroed(() => e.generate(args), [args.promptTokens, args.promptOffsets, args.stop]);
      const generate = same(got.tokens, wantGenerated.tokens) && same(got.logprobs, wantGenerated.logprobs) && same(got.offsets, wantGenerated.offsets);

      const targets = 90 + 80;
      const batch = () => ({
        tokens: ids(200), offsets: Int32Array.from([0, 100, 200]), promptLengths: Int32Array.from([10, 20]),
        oldLogprobs: Float32Array.from({ length: targets }, (_, k) => -1 - (k % 7) / 10),
        advantages: Float32Array.from({ length: targets }, (_, k) => (k % 3) - 1),
        mask: Uint8Array.from({ length: targets }, (_, k) => (k % 11 ? 1 : 0)),
      });
      const loss = { kind: 'dapo', clipC: 3, aggregation: 'seq-mean-token-mean' } as const;
      const want = await e.accumulate(batch(), loss);
      const b = batch();
      const result = await withInputsZeroed(() => e.accumulate(b, loss), [b.tokens, b.offsets, b.promptLengths, b.oldLogprobs, b.advantages, b.mask]);
      const accumulate = Object.is(result.loss, want.loss) && same(result.logprobs, want.logprobs);
      return { forwardLogits, generate, accumulate };
    } finally {
      e.dispose();
    }
  },
  // The policy's batch arrays transferred away while the engine reads them.
  async 'policy-batch-transfer'() {
    const policy = await Policy.load('builtin:tiny', { seed: 3 });
    const tokens = Int32Array.from({ length: 200 }, (_, i) => 1 + (i % 30));
    const batch = { tokens, offsets: Int32Array.from([0, 100, 200]) };
    const expected = await policy.logprobs({ tokens: tokens.slice(), offsets: batch.offsets.slice() });
    await new Promise((r) => setTimeout(r, 0));  // the policy is idle, so the call starts at once
    const pending = policy.logprobs(batch);
    transferAway(tokens.buffer);
    await collect();
    const got = await pending;
    return { same: got.every((x, i) => x === expected[i]) };
  },
};

export const CASE_NAMES = Object.keys(CASES);

async function runCase(name: string): Promise<Record<string, unknown>> {
  const run = CASES[name];
  if (!run) throw new Error(`unknown case ${name}; known: ${CASE_NAMES.join(', ')}`);
  try {
    const value = await run();
    // Small summaries as they are; results holding arrays only as 'result'.
    const plain = typeof value !== 'object' || (value !== null && Object.values(value).every((x) => typeof x !== 'object'));
    return { ok: true, value: plain ? value : 'result' };
  } catch (e) {
    const err = e as Error & { code?: unknown };
    return { error: { name: err.name, code: err.code, message: err.message } };
  }
}

if (process.argv[1] && process.argv[1].endsWith('crash-cases.ts')) {
  const names = process.argv.length > 2 ? process.argv.slice(2) : CASE_NAMES;
  for (const name of names) {
    process.stdout.write(JSON.stringify({ case: name, start: true }) + '\n');
    process.stdout.write(JSON.stringify({ case: name, ...(await runCase(name)) }) + '\n');
    await collect();
  }
  process.exit(0);
}
