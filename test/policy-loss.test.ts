// accumulate's loss is the #2 kernel's: the same numbers as dapoLoss over the full logits,
// for every aggregation and with the KL penalty to a reference, also when the LM head runs
// in several chunks (large vocabulary).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dapoLoss } from '../src/loss/index.js';
import { Policy, packBatch, parseHfConfig, type TrainBatch } from '../src/policy/index.js';
import { tinyRaw } from './policy-helpers.js';

test('accumulate matches dapoLoss on the full logits for every aggregation and the KL penalty, across LM-head chunks', async () => {
  // 65536 x 330 logits exceed one 16M-float chunk, so the head runs in pieces.
  const config = parseHfConfig(tinyRaw('llama', { vocab_size: 65536, tie_word_embeddings: true, max_position_embeddings: 256 }));
  const p = Policy.fromConfig(config, { seed: 3, initStd: 0.5 });
  const v = config.vocabSize;
  const seqs = [130, 120, 90].map((len, s) => ({
    prompt: [s + 1, 7, 9],
    response: Array.from({ length: len }, (_, i) => (i * 7919 + s * 104729) % v),
  }));
  const batch: TrainBatch = packBatch(seqs);
  const lp = await p.logprobs(batch);
  assert.equal(lp.length, 340);
  batch.oldLogprobs = lp.map((x, i) => x + 0.3 * Math.sin(i));
  batch.advantages = lp.map((_, i) => (i % 5 === 0 ? -0.8 : 0.6));
  batch.mask = Uint8Array.from(lp, (_, i) => (i % 11 === 0 ? 0 : 1));
  // The reference: full logits of each sequence, rows of the response targets, one dapoLoss call.
  const rows: Float32Array[] = [];
  const seqIds: number[] = [];
  for (let s = 0; s < seqs.length; s++) {
    const ids = Int32Array.from([...seqs[s].prompt, ...seqs[s].response]);
    const logits = await p.forwardLogits(ids);
    for (let t = seqs[s].prompt.length; t < ids.length; t++) {
      rows.push(logits.slice((t - 1) * v, t * v));
      seqIds.push(s);
    }
  }
  const all = new Float32Array(rows.length * v);
  rows.forEach((r, i) => all.set(r, i * v));
  const tokens = Int32Array.from(seqs.flatMap((x) => x.response));
  batch.refLogprobs = lp.map((x, i) => x - 0.2 * Math.cos(i));
  for (const [aggregation, klCoef] of [['token-mean', 0], ['seq-mean-token-mean', 0], ['seq-mean-token-sum', 0], ['token-mean', 0.05]] as const) {
    const ref = dapoLoss({
      logits: all, vocabSize: v, tokens, oldLogprobs: batch.oldLogprobs, advantages: batch.advantages, mask: batch.mask,
      seqIds: Int32Array.from(seqIds), aggregation, clipC: 3, entropy: true,
      ...(klCoef > 0 ? { klCoef, refLogprobs: batch.refLogprobs } : {}),
    });
    p.zeroGrad();
    const r = await p.accumulate(batch, { kind: 'dapo', aggregation, clipC: 3, entropy: true, klCoef });
    assert.ok(Math.abs(r.stats.klRef - (ref.stats.klRef ?? 0)) < 1e-6, `${aggregation}: klRef ${r.stats.klRef} vs ${ref.stats.klRef}`);
    if (klCoef > 0) assert.ok(r.stats.klRef > 0);
    assert.ok(Math.abs(r.loss - ref.loss) < 1e-5 * Math.max(1, Math.abs(ref.loss)), `${aggregation}: loss ${r.loss} vs ${ref.loss}`);
    assert.equal(r.tokens, ref.stats.tokens);
    for (const k of ['clipFracLow', 'clipFracHigh', 'clipFracDual', 'approxKl'] as const)
      assert.ok(Math.abs(r.stats[k] - ref.stats[k]) < 1e-6, `${aggregation}: ${k} ${r.stats[k]} vs ${ref.stats[k]}`);
    let worst = 0;
    for (let i = 0; i < lp.length; i++) worst = Math.max(worst, Math.abs(r.logprobs[i] - ref.logprobs[i]), Math.abs(r.entropy![i] - ref.entropy![i]));
    assert.ok(worst < 1e-4, `${aggregation}: log-probs / entropy differ by ${worst}`);
    assert.ok(r.stats.clipFracHigh + r.stats.clipFracLow > 0, 'the case should clip some tokens');
  }
  p.dispose();
});
