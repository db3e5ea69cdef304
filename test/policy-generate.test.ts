// Generation: KV-cache decoding against the full forward, and the sampler's statistics and
// determinism (Philox keyed by seed, prompt id, sample index and position).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from '../src/native.js';
import { Policy, packBatch } from '../src/policy/index.js';
import { logSoftmax, tinyPolicy } from './policy-helpers.js';

const prompts = [Int32Array.from([1, 5, 3, 9]), Int32Array.from([4]), Int32Array.from([2, 7, 7, 1, 0, 6, 8])];

for (const arch of ['llama', 'qwen2', 'qwen3'] as const) {
  test(`${arch}: KV-cache decoding matches the full forward position by position`, async () => {
    const p = tinyPolicy(arch, 11, 0.5);
    for (const temperature of [0, 1, 0.7]) {
      const groups = await p.generate(prompts, { n: 3, maxNewTokens: 9, temperature, seed: 5, stop: [] });
      for (let i = 0; i < prompts.length; i++) {
        for (const r of groups[i]) {
          assert.equal(r.tokens.length, 9);
          assert.equal(r.truncated, true);
          const seq = Int32Array.from([...prompts[i], ...r.tokens]);
          const logits = await p.forwardLogits(seq);
          const v = p.config.vocabSize;
          for (let t = 0; t < r.tokens.length; t++) {
            const row = logits.subarray((prompts[i].length - 1 + t) * v, (prompts[i].length + t) * v);
            // The log-prob of the distribution sampled from: logits / temperature (untempered when greedy).
            const ls = logSoftmax(temperature > 0 ? row.map((z) => z / temperature) : row);
            assert.ok(Math.abs(ls[r.tokens[t]] - r.logprobs[t]) < 1e-5, `logprob at step ${t}: ${ls[r.tokens[t]]} vs ${r.logprobs[t]}`);
            if (temperature === 0) {
              const best = ls.indexOf(Math.max(...ls));
              assert.equal(r.tokens[t], best, `greedy token at step ${t}`);
            }
          }
          // The packed-batch scorer gives the very same numbers: the GEMM sums every row in
          // the same order whatever M, so old log-probs from generation need no recompute.
          const lp = await p.logprobs(packBatch([{ prompt: prompts[i], response: r.tokens }]), { temperature: temperature || 1 });
          assert.deepEqual(lp, r.logprobs);
        }
      }
      if (temperature === 0) {
        // Greedy samples of one prompt are identical.
        for (const g of groups) for (const r of g) assert.deepEqual(r.tokens, g[0].tokens);
      }
    }
    p.dispose();
  });
}

test('stop ids end a rollout (kept as its last token) and maxNewTokens truncates', async () => {
  const p = tinyPolicy('llama', 2, 0.5);
  const groups = await p.generate([prompts[0]], { n: 16, maxNewTokens: 12, seed: 9, stop: [3, 4] });
  let stopped = 0;
  for (const r of groups[0]) {
    const at = r.tokens.findIndex((t) => t === 3 || t === 4);
    if (r.finished) {
      stopped++;
      assert.equal(at, r.tokens.length - 1);
      assert.equal(r.truncated, false);
    } else {
      assert.equal(at, -1);
      assert.equal(r.tokens.length, 12);
    }
  }
  assert.ok(stopped > 0 && stopped < 16, `stopped ${stopped} of 16`);
  // The context bounds the rollout: max_position_embeddings = 32.
  const long = Int32Array.from({ length: 30 }, (_, i) => i % 11);
  const [[r]] = await p.generate([long], { maxNewTokens: 10, seed: 1, stop: [] });
  assert.equal(r.tokens.length, 2);
  assert.equal(r.truncated, true);
  p.dispose();
});

test('sampling is the same whatever the batch composition and thread count', async () => {
  const p = tinyPolicy('qwen3', 12, 0.4);
  const opts = { n: 4, maxNewTokens: 8, temperature: 1, topP: 0.95, topK: 8, seed: 1234, stop: [2] };
  const all = await p.generate(prompts, opts);
  const alone = await p.generate([prompts[2]], { ...opts, promptIds: [2] });
  assert.deepEqual(alone[0], all[2]);
  const reordered = await p.generate([prompts[2], prompts[0]], { ...opts, promptIds: [2, 0] });
  assert.deepEqual(reordered[0], all[2]);
  assert.deepEqual(reordered[1], all[0]);
  const threads = native.numThreads();
  native.setNumThreads(1);
  try {
    const single = await p.generate(prompts, opts);
    assert.deepEqual(single, all);
  } finally {
    native.setNumThreads(threads);
  }
  const other = await p.generate(prompts, { ...opts, seed: 1235 });
  assert.notDeepEqual(other, all);
  // Samples within a group differ (different streams).
  const distinct = new Set(all.flat().map((r) => r.tokens.join(',')));
  assert.ok(distinct.size > 6, `only ${distinct.size} distinct rollouts of 12`);
  p.dispose();
});

// Upper tail of chi-square with k degrees of freedom (Wilson-Hilferty), for p = 0.001.
function chiSquareCritical(k: number): number {
  const z = 3.0902;
  const a = 2 / (9 * k);
  return k * Math.pow(1 - a + z * Math.sqrt(a), 3);
}

for (const temperature of [1, 0.7]) {
  test(`token frequencies at temperature ${temperature} match the softmax (chi-square)`, async () => {
    const p = await Policy.load('builtin:tiny', { seed: 3, initStd: 0.15 });
    const prompt = Int32Array.from([1, 5, 8, 13]);
    const logits = await p.forwardLogits(prompt);
    const v = p.config.vocabSize;
    const last = Array.from(logits.subarray((prompt.length - 1) * v), (x) => x / temperature);
    const probs = logSoftmax(last).map(Math.exp);
    const n = 6000;
    const [group] = await p.generate([prompt], { n, maxNewTokens: 1, temperature, seed: 77, stop: [] });
    const counts = new Array(v).fill(0);
    for (const r of group) counts[r.tokens[0]]++;
    // Pool bins with small expectations.
    let chi = 0;
    let bins = 0;
    let pooledE = 0;
    let pooledO = 0;
    for (let i = 0; i < v; i++) {
      const e = probs[i] * n;
      if (e < 5) {
        pooledE += e;
        pooledO += counts[i];
        continue;
      }
      chi += (counts[i] - e) ** 2 / e;
      bins++;
    }
    if (pooledE > 0) {
      chi += (pooledO - pooledE) ** 2 / Math.max(pooledE, 1e-9);
      bins++;
    }
    assert.ok(bins >= 5, `only ${bins} bins`);
    assert.ok(chi < chiSquareCritical(bins - 1), `chi-square ${chi.toFixed(1)} with ${bins - 1} dof`);
    p.dispose();
  });
}

test('top-p keeps the smallest set of most likely tokens whose mass reaches p; top-k keeps k', async () => {
  const logits = Float32Array.from([0.1, 2.0, -1.0, 1.5, 0.7, 2.0, -3.0, 0.0]);
  const probs = logSoftmax(logits).map(Math.exp);
  const order = probs.map((x, i) => [x, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const topP of [0.2, 0.5, 0.8, 0.95, 1]) {
    const d = native.samplingDistribution(logits, { topP });
    let k = 0;
    let cum = 0;
    while (cum < topP * (1 - 1e-12) && k < order.length) cum += order[k++][0];
    const kept = new Set(order.slice(0, k).map((x) => x[1]));
    for (let i = 0; i < logits.length; i++) {
      if (kept.has(i)) assert.ok(Math.abs(d[i] - probs[i] / cum) < 1e-9, `topP ${topP}: token ${i}`);
      else assert.equal(d[i], 0, `topP ${topP}: token ${i} should be cut`);
    }
  }
  const d3 = native.samplingDistribution(logits, { topK: 3 });
  assert.deepEqual(Array.from(d3, (x) => x > 0), [false, true, false, true, false, true, false, false]);
  const g = native.samplingDistribution(logits, { temperature: 0 });
  assert.equal(g[1], 1);  // argmax, lowest id on ties
  // Generation only ever draws from the kept set.
  const p = tinyPolicy('llama', 6, 0.6);
  const prompt = Int32Array.from([1, 2, 3]);
  const all = await p.forwardLogits(prompt);
  const row = all.subarray(2 * p.config.vocabSize);
  const dist = native.samplingDistribution(row, { topP: 0.6 });
  const [group] = await p.generate([prompt], { n: 300, maxNewTokens: 1, topP: 0.6, seed: 4, stop: [] });
  const seen = new Set(group.map((r) => r.tokens[0]));
  for (const t of seen) assert.ok(dist[t] > 0, `token ${t} is outside the top-p set`);
  for (let t = 0; t < dist.length; t++) if (dist[t] > 0.05) assert.ok(seen.has(t), `kept token ${t} (p = ${dist[t]}) never drawn`);
  p.dispose();
});

test('top-p over a large vocabulary equals the full sort (selection grows until the set fits)', () => {
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (const spread of [8, 2, 0.3]) {
    const logits = Float32Array.from({ length: 3000 }, () => (rand() - 0.5) * spread);
    logits[17] = logits[18];  // a tie, broken by id
    const probs = logSoftmax(logits).map(Math.exp);
    const order = probs.map((x, i) => [x, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    for (const topP of [0.1, 0.5, 0.9, 0.99]) {
      for (const topK of [0, 500]) {
        const d = native.samplingDistribution(logits, { topP, topK });
        const cand = topK ? order.slice(0, topK) : order;
        const total = cand.reduce((a, x) => a + x[0], 0);
        let k = 0;
        let cum = 0;
        while (k < cand.length && cum < topP * total * (1 - 1e-12)) cum += cand[k++][0];
        const kept = new Set(cand.slice(0, k).map((x) => x[1]));
        let count = 0;
        for (let i = 0; i < d.length; i++) if (d[i] > 0) count++;
        assert.equal(count, kept.size, `spread ${spread}, topP ${topP}, topK ${topK}`);
        for (const i of kept) assert.ok(Math.abs(d[i] - probs[i] / cum) < 1e-9);
      }
    }
  }
});
