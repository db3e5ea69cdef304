// One small call of every CUDA entry point, for compute-sanitizer (scripts/cuda-sanitizer.sh):
// small enough that memcheck and racecheck finish in seconds, covering the resident kernel
// with a cluster (V past one block), the streaming kernel, odd V, bf16, in place, the
// LM-head loss with several chunks, and the policy engine (every CudaPolicyEngine call, bf16
// and fp32, with and without recomputation, qwen2 biases and qwen3 q/k norms).
import { cudaDapoLoss, DeviceTensor } from '../src/loss/device.js';
import { dapoLossFromHidden } from '../src/loss/hidden.js';
import { dapoLoss, groupAdvantages } from '../src/loss/index.js';
import { numberToBf16 } from '../src/loss/reference.js';
import { native } from '../src/native.js';
import { packBatch, parseHfConfig, Policy, type TrainBatch } from '../src/policy/index.js';

const info = native.cudaInfo();
if (!(info.loaded && info.devices > 0)) {
  console.log(`cuda-smoke: no usable device (${info.reason}); nothing run`);
  process.exit(0);
}
const rand = (n: number, s = 1) => Float32Array.from({ length: n }, () => (Math.random() * 2 - 1) * s);
function lossArgs(n: number, v: number, bf16: boolean) {
  const logits = bf16 ? Uint16Array.from(rand(n * v, 4), numberToBf16) : rand(n * v, 4);
  return {
    logits, vocabSize: v, tokens: Int32Array.from({ length: n }, () => Math.floor(Math.random() * v)),
    oldLogprobs: Float32Array.from({ length: n }, () => -Math.random() * 10), advantages: rand(n, 2),
    mask: Uint8Array.from({ length: n }, (_, i) => (i % 3 ? 1 : 0)), seqIds: Int32Array.from({ length: n }, (_, i) => i >> 1),
    aggregation: 'seq-mean-token-mean' as const, clipC: 3, entropy: true,
  };
}
for (const [n, v] of [[3, 7], [2, 1001], [2, 40000], [1, 300007]]) {
  for (const bf16 of [false, true]) {
    const r = dapoLoss({ ...lossArgs(n, v, bf16), device: 'cuda' });
    console.log(`loss N=${n} V=${v} ${bf16 ? 'bf16' : 'f32'}: ${r.loss}`);
  }
}
const a = lossArgs(4, 2053, true);
const logits = DeviceTensor.upload(a.logits);
cudaDapoLoss({ ...a, logits, inPlace: true });
logits.dispose();
console.log('advantages', groupAdvantages(rand(32), 8, { device: 'cuda' })[0]);
const n = 40, h = 24, v = 300;
const r = dapoLossFromHidden({
  hidden: Uint16Array.from(rand(n * h), numberToBf16), weight: Uint16Array.from(rand(v * h, 0.2), numberToBf16),
  hiddenSize: h, vocabSize: v, tokens: Int32Array.from({ length: n }, () => Math.floor(Math.random() * v)),
  oldLogprobs: Float32Array.from({ length: n }, () => -Math.random() * 6), advantages: rand(n, 2),
  mask: new Uint8Array(n).fill(1), chunkSize: 16, device: 'cuda',
});
console.log(`hidden loss ${r.loss}, peak extra ${r.peakExtraBytes} bytes`);

if (!info.engine) {
  console.log(`engine: not in this module (${info.engineReason}); nothing run`);
  process.exit(0);
}
const shapes = [
  { model_type: 'qwen2', dtype: 'bfloat16' as const, recompute: false },
  { model_type: 'qwen3', dtype: 'float32' as const, recompute: true },
  { model_type: 'llama', dtype: 'bfloat16' as const, recompute: true, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 } },
];
for (const { dtype, recompute, ...raw } of shapes) {
  const config = parseHfConfig({ vocab_size: 301, hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4,
    num_key_value_heads: 2, head_dim: 16, max_position_embeddings: 96, rope_theta: 10000, rms_norm_eps: 1e-6, tie_word_embeddings: raw.model_type !== 'llama',
    eos_token_id: 2, ...raw }, 'smoke');
  const p = Policy.fromConfig(config, { device: 'cuda', dtype, recompute, seed: 3 });
  const name = p.parameterNames()[1];
  p.setParameter(name, p.getParameter(name));
  const v = config.vocabSize;
  const ids = (n: number) => Int32Array.from({ length: n }, () => Math.floor(Math.random() * v));
  const logits = await p.forwardLogits(ids(70));
  const batch: TrainBatch = packBatch([{ prompt: ids(5), response: ids(40) }, { prompt: ids(1), response: ids(3) }, { prompt: ids(20), response: ids(50) }]);
  const lp = await p.logprobsWithEntropy(batch, { temperature: 0.9 });
  batch.oldLogprobs = lp.logprobs;
  batch.advantages = Float32Array.from(lp.logprobs, (_, i) => (i % 2 ? 1.5 : -0.5));
  batch.refLogprobs = lp.logprobs;
  const acc = await p.accumulate(batch, { kind: 'dapo', aggregation: 'seq-mean-token-mean', clipC: 3, klCoef: 0.05, temperature: 0.9, entropy: true });
  await p.accumulate(batch, { kind: 'nll' });
  const grad = p.getGradient(name);
  const step = await p.step({ lr: 1e-3, weightDecay: 0.1, clipGradNorm: 1 });
  const gen = await p.generate([ids(3), ids(17)], { n: 3, maxNewTokens: 24, temperature: 1, topP: 0.9, topK: 40, seed: 5, stop: [7] });
  const greedy = await p.generate([ids(4)], { n: 1, maxNewTokens: 8, temperature: 0 });
  const m = p.memory();
  console.log(`engine ${raw.model_type} ${dtype}${recompute ? ' recompute' : ''}: logits ${logits.length}, loss ${acc.loss}, grad ${grad.length}, ` +
    `norm ${step.gradNorm}, generated ${gen.flat().reduce((a, r) => a + r.tokens.length, 0)} + ${greedy[0][0].tokens.length} tokens, peak ${m?.peak} bytes`);
  p.dispose();
}
