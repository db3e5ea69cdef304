// Child process of loss-isa.test.ts: compares the kernels this process picked with the reference.
import { dapoLoss, referenceDapoLoss } from '../../src/index.js';
import { native } from '../../src/native.js';
import { lossScale, randomLossArgs } from './loss-inputs.js';
import { maxRelError, Rng } from './random.js';

const rng = new Rng(Number(process.argv[2]));
let worstGrad = 0;
let worstLoss = 0;
for (const [n, v, dtype] of [[5, 1031, 'f32'], [9, 4099, 'bf16'], [130, 32771, 'f32']] as const) {
  const args = randomLossArgs(rng, { n, v, dtype, aggregation: 'token-mean', clipC: 3, entropy: true });
  const got = dapoLoss(args);
  const want = referenceDapoLoss(args);
  worstGrad = Math.max(worstGrad, maxRelError(got.grad, want.grad), maxRelError(got.entropy!, want.entropy!));
  // Measured against the size of the terms: the total can nearly cancel.
  worstLoss = Math.max(worstLoss, Math.abs(got.loss - want.loss) / lossScale(args, want.logprobs));
}
console.log(JSON.stringify({ avx2: native.cpuFeatures().avx2, worstGrad, worstLoss }));
