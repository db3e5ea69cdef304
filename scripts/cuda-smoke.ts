// One small call of every CUDA entry point, for compute-sanitizer (scripts/cuda-sanitizer.sh):
// small enough that memcheck and racecheck finish in seconds, covering the resident kernel
// with a cluster (V past one block), the streaming kernel, odd V, bf16, in place, and the
// LM-head loss with several chunks.
import { cudaDapoLoss, DeviceTensor } from '../src/loss/device.js';
import { dapoLossFromHidden } from '../src/loss/hidden.js';
import { dapoLoss, groupAdvantages } from '../src/loss/index.js';
import { numberToBf16 } from '../src/loss/reference.js';
import { native } from '../src/native.js';

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
