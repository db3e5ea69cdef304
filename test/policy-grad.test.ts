// Gradients of every parameter of tiny Llama / Qwen2 / Qwen3 models against central finite
// differences of the loss, the loss summed in double from the engine's fp32 log-probs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packBatch, type Policy, type TrainBatch } from '../src/policy/index.js';
import { tinyPolicy } from './policy-helpers.js';

// Two sequences, one with a prompt, one without: the targets are the response tokens of the
// first and every token after the first of the second.
function batch(): TrainBatch {
  return packBatch([
    { prompt: [1, 5, 3], response: [7, 2, 9, 4] },
    { prompt: [6], response: [10, 3, 8, 0, 5] },
  ]);
}

async function nllLoss(p: Policy, b: TrainBatch): Promise<number> {
  const lp = await p.logprobs(b);
  let s = 0;
  for (const x of lp) s -= x;
  return s / lp.length;
}

// DAPO loss with oldLogprobs fixed: -mean(A * exp(logp - old)), inside the clip range, with
// logp under softmax(logits / temperature).
async function dapoLoss(p: Policy, b: TrainBatch, temperature = 1): Promise<number> {
  const lp = await p.logprobs(b, { temperature });
  let s = 0;
  for (let i = 0; i < lp.length; i++) s -= b.advantages![i] * Math.exp(lp[i] - b.oldLogprobs![i]);
  return s / lp.length;
}

async function checkGradients(p: Policy, b: TrainBatch, kind: 'nll' | 'dapo', temperature = 1) {
  p.zeroGrad();
  const loss = kind === 'nll' ? { kind: 'nll' as const } : { kind: 'dapo' as const, clipLow: 0.9, clipHigh: 10, temperature };
  const r = await p.accumulate(b, loss);
  const f = kind === 'nll' ? nllLoss : (q: Policy, c: TrainBatch) => dapoLoss(q, c, temperature);
  assert.ok(Math.abs(r.loss - (await f(p, b))) < 1e-5, `${kind}: accumulate loss ${r.loss} vs recomputed`);
  let worst = 0;
  let checked = 0;
  for (const name of p.parameterNames()) {
    const grad = p.getGradient(name);
    const w = p.getParameter(name);
    for (let i = 0; i < w.length; i++) {
      const orig = w[i];
      // Central differences at h and h/2, combined by Richardson extrapolation (error O(h^4)).
      const central = async (h: number) => {
        w[i] = orig + h;
        const up = Math.fround(w[i]);
        p.setParameter(name, w);
        const lu = await f(p, b);
        w[i] = orig - h;
        const down = Math.fround(w[i]);
        p.setParameter(name, w);
        const ld = await f(p, b);
        w[i] = orig;
        p.setParameter(name, w);
        return (lu - ld) / (up - down);
      };
      const h = 1e-2 * Math.max(1, Math.abs(orig));
      const fd = (4 * (await central(h / 2)) - (await central(h))) / 3;
      const err = Math.abs(fd - grad[i]) / (2e-3 + 0.02 * Math.abs(fd));
      worst = Math.max(worst, err);
      checked++;
      assert.ok(err <= 1, `${kind} ${name}[${i}]: analytic ${grad[i]} vs finite difference ${fd}`);
    }
  }
  return { worst, checked };
}

for (const arch of ['llama', 'qwen2', 'qwen3'] as const) {
  test(`${arch}: nll gradients of every parameter match finite differences`, async () => {
    const extra = arch === 'llama' ? { rope_scaling: { rope_type: 'llama3', factor: 4, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 } } : {};
    const p = tinyPolicy(arch, 3, 0.4, extra);
    const { checked } = await checkGradients(p, batch(), 'nll');
    assert.equal(checked, p.numParameters);
    p.dispose();
  });
}

test('qwen3 with tied embeddings: dapo gradients of every parameter match finite differences', async () => {
  const p = tinyPolicy('qwen3', 4, 0.4, { tie_word_embeddings: true });
  assert.ok(!p.parameterNames().includes('lm_head.weight'));
  const b = batch();
  const n = (await p.logprobs(b)).length;
  const lp = await p.logprobs(b);
  b.oldLogprobs = lp.map((x, i) => x + 0.05 * Math.sin(i));
  b.advantages = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? -1 : 0.7));
  const { checked } = await checkGradients(p, b, 'dapo');
  assert.equal(checked, p.numParameters);
  p.dispose();
});

test('qwen2 at sampling temperature 0.6: dapo gradients through logits / temperature match finite differences', async () => {
  const p = tinyPolicy('qwen2', 6, 0.4);
  const b = batch();
  const lp = await p.logprobs(b, { temperature: 0.6 });
  // The temperature changes the log-probs (so the check below is not the untempered one).
  const plain = await p.logprobs(b);
  assert.ok(lp.some((x, i) => Math.abs(x - plain[i]) > 1e-3));
  b.oldLogprobs = lp.map((x, i) => x + 0.05 * Math.cos(i));
  b.advantages = Float32Array.from({ length: lp.length }, (_, i) => (i % 4 === 1 ? -0.8 : 1.1));
  const { checked } = await checkGradients(p, b, 'dapo', 0.6);
  assert.equal(checked, p.numParameters);
  p.dispose();
});

test('gradients add up across accumulate calls and micro-batches', async () => {
  const p = tinyPolicy('llama', 5);
  const a = packBatch([{ prompt: [1, 5, 3], response: [7, 2, 9, 4] }]);
  const b = packBatch([{ prompt: [6], response: [10, 3, 8, 0, 5] }]);
  const both = batch();
  p.zeroGrad();
  await p.accumulate(both, { kind: 'nll' });
  const whole = p.parameterNames().map((n) => p.getGradient(n));
  p.zeroGrad();
  await p.accumulate(a, { kind: 'nll', tokenCount: 9 });
  await p.accumulate(b, { kind: 'nll', tokenCount: 9 });
  const parts = p.parameterNames().map((n) => p.getGradient(n));
  whole.forEach((g, i) => {
    const scale = Math.max(...Array.from(g, Math.abs));
    let worst = 0;
    g.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - parts[i][j]))));
    assert.ok(scale > 0 && worst <= 1e-5 * scale, `${p.parameterNames()[i]}: micro-batches differ by ${worst} (scale ${scale})`);
  });
  p.dispose();
});

test('log-probs, loss, gradients and the AdamW step do not depend on the thread count', async () => {
  const { native } = await import('../src/native.js');
  const { Policy } = await import('../src/policy/index.js');
  const run = async () => {
    const p = await Policy.load('builtin:tiny', { seed: 13, initStd: 0.1 });
    const b = packBatch([
      { prompt: [1, 5, 3, 9, 9, 4], response: Array.from({ length: 40 }, (_, i) => (i * 7) % 30 + 3) },
      { prompt: [6], response: Array.from({ length: 70 }, (_, i) => (i * 11) % 30 + 3) },
    ]) as TrainBatch;
    const lp = await p.logprobs(b);
    b.oldLogprobs = lp.map((x, i) => x + 0.1 * Math.sin(i));
    b.advantages = lp.map((_, i) => (i % 3 ? 1 : -1));
    const r = await p.accumulate(b, { kind: 'dapo', entropy: true });
    const grads = p.parameterNames().map((n) => p.getGradient(n));
    await p.step({ lr: 1e-3, weightDecay: 0.1, clipGradNorm: 0.5 });
    const weights = p.parameterNames().map((n) => p.getParameter(n));
    p.dispose();
    return { lp, loss: r.loss, entropy: r.entropy, grads, weights };
  };
  const threads = native.numThreads();
  const many = await run();
  native.setNumThreads(1);
  let one;
  try {
    one = await run();
  } finally {
    native.setNumThreads(threads);
  }
  assert.deepEqual(one.lp, many.lp);
  assert.equal(one.loss, many.loss);
  assert.deepEqual(one.entropy, many.entropy);
  assert.deepEqual(one.grads, many.grads);
  assert.deepEqual(one.weights, many.weights);
});
