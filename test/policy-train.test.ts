// Training moves the model: nll memorises a short text, DAPO raises the probability of
// positively rewarded rollouts and lowers that of negatively rewarded ones.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Policy, packBatch, type TrainBatch } from '../src/policy/index.js';

test('a few hundred nll steps memorise a short text', async () => {
  const p = await Policy.load('builtin:tiny', { seed: 7 });
  const tok = p.tokenizer!;
  const text = '12+34=46. 7*8=56. Answer: 102';
  const ids = tok.encodeSync(text);
  const batch = packBatch([{ prompt: ids.subarray(0, 1), response: ids.subarray(1) }]);
  let first = 0;
  let last = 0;
  for (let i = 0; i < 300; i++) {
    const r = await p.accumulate(batch, { kind: 'nll' });
    if (i === 0) first = r.loss;
    last = r.loss;
    await p.step({ lr: 3e-3, clipGradNorm: 1 });
  }
  const withEntropy = await p.accumulate(batch, { kind: 'nll', entropy: true });
  const { entropy } = await p.logprobsWithEntropy(batch);
  assert.deepEqual(withEntropy.entropy, entropy);
  assert.ok(entropy.every((h) => h >= 0 && h < 0.5), 'a memorised text is predicted with low entropy');
  p.zeroGrad();
  assert.ok(first > 3, `initial loss ${first} should be near ln(V) = ${Math.log(p.config.vocabSize).toFixed(2)}`);
  assert.ok(last < 0.05, `loss after 300 steps: ${last}`);
  const [[greedy]] = await p.generate([ids.subarray(0, 3)], { maxNewTokens: ids.length - 3, temperature: 0, stop: [] });
  assert.equal(tok.decodeSync(greedy.tokens), text.slice(2));
  p.dispose();
});

test('a few dapo steps raise the log-probs of positively rewarded tokens', async () => {
  const p = await Policy.load('builtin:tiny', { seed: 8, initStd: 0.1 });
  const prompt = p.tokenizer!.encodeSync('3+4=');
  const [group] = await p.generate([prompt], { n: 8, maxNewTokens: 6, temperature: 1, seed: 3, stop: [] });
  const batch: TrainBatch = packBatch(group.map((r) => ({ prompt, response: r.tokens })));
  const rewards = group.map((_, i) => (i % 2 === 0 ? 1 : -1));
  batch.oldLogprobs = Float32Array.from(group.flatMap((r) => Array.from(r.logprobs)));
  batch.advantages = Float32Array.from(group.flatMap((r, i) => Array.from(r.tokens, () => rewards[i])));
  const before = await p.logprobs(batch);
  let clipHigh = 0;
  for (let s = 0; s < 4; s++) {
    const r = await p.accumulate(batch, { kind: 'dapo', clipLow: 0.2, clipHigh: 0.28 });
    clipHigh = Math.max(clipHigh, r.stats.clipFracHigh);
    await p.step({ lr: 1e-2 });
  }
  const after = await p.logprobs(batch);
  let pos = 0;
  let neg = 0;
  for (let i = 0; i < before.length; i++) {
    const d = after[i] - before[i];
    if (batch.advantages[i] > 0) pos += d;
    else neg += d;
  }
  assert.ok(pos > 0.5, `positive rollouts' log-probs moved by ${pos}`);
  assert.ok(neg < -0.5, `negative rollouts' log-probs moved by ${neg}`);
  assert.ok(clipHigh > 0, 'the ratio should reach the upper clip within a few steps');
  p.dispose();
});

test('AdamW follows torch.optim.AdamW on a hand-checked step', async () => {
  // One parameter element followed by hand: bias-corrected moments, decoupled decay, clipping.
  const p = await Policy.load('builtin:tiny', { seed: 9 });
  const batch = packBatch([{ prompt: [1, 4], response: [5, 6, 7] }]);
  const name = 'model.layers.0.mlp.up_proj.weight';
  const norm = 'model.norm.weight';
  const w0 = p.getParameter(name);
  const n0 = p.getParameter(norm);
  await p.accumulate(batch, { kind: 'nll' });
  const g = p.getGradient(name);
  const gn = p.getGradient(norm);
  let sq = 0;
  for (const x of p.parameterNames()) for (const v of p.getGradient(x)) sq += v * v;
  const total = Math.sqrt(sq);
  const clip = total / 2;
  const r = await p.step({ lr: 0.01, weightDecay: 0.1, betas: [0.8, 0.9], eps: 1e-6, clipGradNorm: clip });
  assert.ok(Math.abs(r.gradNorm - total) < 1e-6 * total);
  assert.equal(r.clipped, true);
  const scale = clip / (total + 1e-6);
  const expect = (w: number, grad: number, decay: boolean) => {
    const gi = grad * scale;
    const m = 0.2 * gi;
    const v = 0.1 * gi * gi;
    const mh = m / 0.2;
    const vh = v / 0.1;
    return (decay ? w * (1 - 0.01 * 0.1) : w) - (0.01 * mh) / (Math.sqrt(vh) + 1e-6);
  };
  const w1 = p.getParameter(name);
  const n1 = p.getParameter(norm);
  for (let i = 0; i < w0.length; i += 97) assert.ok(Math.abs(w1[i] - expect(w0[i], g[i], true)) < 1e-6, `${name}[${i}]`);
  for (let i = 0; i < n0.length; i++) assert.ok(Math.abs(n1[i] - expect(n0[i], gn[i], false)) < 1e-6, `${norm}[${i}] (no decay)`);
  // The step clears the gradients.
  assert.ok(p.getGradient(name).every((x) => x === 0));
  p.dispose();
});
