// Child process of loss-isa.test.ts: compares the kernels this process picked with the reference.
import { dapoLoss, referenceDapoLoss } from '../../src/index.js';
import { native } from '../../src/native.js';
import { randomLossArgs } from './loss-inputs.js';
import { maxRelError, Rng } from './random.js';

const rng = new Rng(Number(process.argv[2]));
let worstGrad = 0;
let worstLoss = 0;
for (const [n, v, dtype] of [[5, 1031, 'f32'], [9, 4099, 'bf16'], [130, 32771, 'f32']] as const) {
  const args = randomLossArgs(rng, { n, v, dtype, aggregation: 'token-mean', clipC: 3, entropy: true });
  const got = dapoLoss(args);
  const want = referenceDapoLoss(args);
  worstGrad = Math.max(worstGrad, maxRelError(got.grad, want.grad), maxRelError(got.entropy!, want.entropy!));
  worstLoss = Math.max(worstLoss, Math.abs(got.loss - want.loss) / Math.max(1e-3, Math.abs(want.loss)));
}
console.log(JSON.stringify({ avx2: native.cpuFeatures().avx2, worstGrad, worstLoss }));
