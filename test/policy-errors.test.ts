// Bad arguments are TypeError / RangeError naming the argument; the process never crashes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Policy, packBatch, type TrainBatch } from '../src/policy/index.js';

const rangeWith = (pattern: RegExp) => (e: unknown) => e instanceof RangeError && pattern.test(e.message);
const typeWith = (pattern: RegExp) => (e: unknown) => e instanceof TypeError && pattern.test(e.message);

test('bad batches, ids and options are named errors', async () => {
  const p = await Policy.load('builtin:tiny', { seed: 1 });
  const v = p.config.vocabSize;
  await assert.rejects(p.forwardLogits(Int32Array.from([1, v])), rangeWith(/tokens\[1\] = \d+ is outside \[0, vocabSize/));
  await assert.rejects(p.forwardLogits(Int32Array.from([-1])), rangeWith(/tokens\[0\] = -1/));
  await assert.rejects(p.forwardLogits(new Int32Array(300)), rangeWith(/more than the context/));
  await assert.rejects(p.forwardLogits([1, 2] as unknown as Int32Array), typeWith(/ids must be an Int32Array/));
  const good = packBatch([{ prompt: [1, 2], response: [3, 4] }]);
  await assert.rejects(p.logprobs({ ...good, offsets: Int32Array.from([0, 3]) }), rangeWith(/offsets\[1\] = 3 must equal tokens.length = 4/));
  await assert.rejects(p.logprobs({ ...good, offsets: Int32Array.from([1, 4]) }), rangeWith(/offsets\[0\] must be 0/));
  await assert.rejects(p.logprobs({ ...good, promptLengths: Int32Array.from([5]) }), rangeWith(/promptLengths\[0\] = 5/));
  await assert.rejects(p.logprobs({ tokens: good.tokens } as unknown as TrainBatch), typeWith(/offsets is required/));
  await assert.rejects(p.accumulate(good, { kind: 'dapo' }), typeWith(/oldLogprobs is required/));
  const withArrays: TrainBatch = { ...good, oldLogprobs: new Float32Array(2), advantages: new Float32Array(3) };
  await assert.rejects(p.accumulate(withArrays, { kind: 'dapo' }), rangeWith(/advantages has length 3 but the batch has 2 target tokens/));
  await assert.rejects(p.accumulate({ ...good, oldLogprobs: Float32Array.from([0, NaN]), advantages: new Float32Array(2) }, { kind: 'dapo' }), rangeWith(/oldLogprobs\[1\] is not finite/));
  await assert.rejects(p.accumulate(good, { kind: 'ppo' } as never), typeWith(/loss.kind must be 'dapo' or 'nll'/));
  await assert.rejects(p.accumulate({ ...good, mask: new Uint8Array(5) }, { kind: 'nll' }), rangeWith(/mask has length 5/));
  await assert.rejects(p.accumulate({ ...good, oldLogprobs: new Float32Array(2), advantages: new Float32Array(2) }, { kind: 'dapo', clipC: 0.5 }), rangeWith(/clipC must be greater than 1/));
  await assert.rejects(p.logprobs(good, { temperature: 0 }), rangeWith(/temperature must be a finite number >= 0.01, got 0/));
  await assert.rejects(p.accumulate({ ...good, oldLogprobs: new Float32Array(2), advantages: new Float32Array(2) }, { kind: 'dapo', temperature: -1 }), rangeWith(/temperature must be a finite number >= 0.01/));
  await assert.rejects(p.logprobs(good, { temperature: 'hot' as never }), typeWith(/temperature/));
  await assert.rejects(p.step({} as never), typeWith(/lr is required/));
  await assert.rejects(p.step({ lr: 1e-3, betas: [0.9, 1.5] }), rangeWith(/betas\[1\]/));
  await assert.rejects(p.generate([Int32Array.from([1])], { maxNewTokens: -1 }), rangeWith(/maxNewTokens must be a non-negative integer below 2\^53/));
  await assert.rejects(p.generate([Int32Array.from([1])], { maxNewTokens: 2, topP: 0 }), rangeWith(/topP must be in \(0, 1\]/));
  await assert.rejects(p.generate([Int32Array.from([1])], { maxNewTokens: 2, temperature: -1 }), rangeWith(/temperature must be 0 \(greedy\) or a finite number >= 0.01, got -1/));
  await assert.rejects(p.generate([new Int32Array(0)], { maxNewTokens: 2 }), rangeWith(/prompts\[0\] is empty/));
  await assert.rejects(p.generate([Int32Array.from([1, 99])], { maxNewTokens: 2 }), rangeWith(/prompts\[0\]\[1\] = 99 is outside/));
  await assert.rejects(p.generate([new Int32Array(256)], { maxNewTokens: 2 }), rangeWith(/leaves no room in the context/));
  await assert.rejects(p.generate([Int32Array.from([1])], { maxNewTokens: 2, stop: [v] }), rangeWith(/stop\[0\]/));
  await assert.rejects(p.generate([Int32Array.from([1])], { maxNewTokens: 2, promptIds: [-1] }), rangeWith(/promptIds\[0\]/));
  await assert.rejects(p.generate([[1]] as unknown as Int32Array[], { maxNewTokens: 2 }), typeWith(/prompts\[0\] must be an Int32Array/));
  assert.throws(() => p.setParameter('model.norm.weight', new Float32Array(3)), rangeWith(/model.norm.weight: got 12 bytes/));
  assert.throws(() => p.getParameter('nope'), rangeWith(/no parameter named "nope"/));
  await assert.rejects(Policy.load('builtin:huge'), rangeWith(/unknown builtin model/));
  await assert.rejects(Policy.load('builtin:tiny', { device: 'tpu' as never }), rangeWith(/device must be/));
  // Weights too large for float32 activations give non-finite logits: a named error, and no
  // gradient is added. (NaN weights themselves are refused when set.)
  const w = p.getParameter('model.norm.weight');
  const huge = Float32Array.from(w, () => 3e38);
  const before = p.getParameter('model.layers.0.mlp.up_proj.weight');
  assert.throws(() => p.setParameter('model.norm.weight', Float32Array.from(w, () => NaN)), rangeWith(/model.norm.weight holds a non-finite value \(nan\) at flat index 0/));
  p.setParameter('model.norm.weight', huge);
  await assert.rejects(p.accumulate(good, { kind: 'nll' }), rangeWith(/non-finite/));
  await assert.rejects(p.generate([Int32Array.from([1, 2])], { maxNewTokens: 3 }), rangeWith(/logits of prompt 0, sample 0 are not finite/));
  p.setParameter('model.norm.weight', w);
  assert.ok(p.getGradient('model.layers.0.mlp.up_proj.weight').every((x) => x === 0));
  // The policy still works after errors, and concurrent calls queue instead of failing.
  const [a, b] = await Promise.all([p.logprobs(good), p.logprobs(good)]);
  assert.deepEqual(a, b);
  assert.deepEqual(p.getParameter('model.layers.0.mlp.up_proj.weight'), before);
  p.dispose();
  assert.throws(() => p.getParameter('model.norm.weight'), /disposed/);
  await assert.rejects(p.logprobs(good), /disposed/);
});

test('dispose while a call runs: the call finishes, queued calls reject, memory is freed after', async () => {
  const p = await Policy.load('builtin:tiny', { seed: 1 });
  const batch = packBatch([{ prompt: [1, 2], response: [3, 4, 5] }]);
  const running = p.logprobs(batch);
  const queued = p.logprobs(batch);
  p.dispose();
  const lp = await running;
  assert.equal(lp.length, 3);
  await assert.rejects(queued, /disposed/);
  p.dispose();
});

test('the KL penalty needs reference log-probs of the right length', async () => {
  const p = await Policy.load('builtin:tiny', { seed: 1 });
  const b: TrainBatch = { ...packBatch([{ prompt: [1, 2], response: [3, 4] }]), oldLogprobs: new Float32Array(2), advantages: new Float32Array(2) };
  await assert.rejects(p.accumulate(b, { kind: 'dapo', klCoef: 0.1 }), typeWith(/refLogprobs \(Float32Array\) is required when klCoef > 0/));
  await assert.rejects(p.accumulate({ ...b, refLogprobs: new Float32Array(3) }, { kind: 'dapo', klCoef: 0.1 }), rangeWith(/refLogprobs has length 3/));
  await assert.rejects(p.accumulate({ ...b, refLogprobs: new Float32Array(2) }, { kind: 'dapo', klCoef: -1 }), rangeWith(/klCoef must be >= 0/));
  const r = await p.accumulate({ ...b, refLogprobs: new Float32Array(2) }, { kind: 'dapo', klCoef: 0.1 });
  assert.ok(r.stats.klRef > 0);
  p.dispose();
});
