// The bad-input table of dapoLoss, shared by every backend's tests (test/loss-bad-input.test.ts
// for the CPU, test/cuda-bad-input.test.ts and test/cuda/ for CUDA). Each case turns valid
// arguments of N = 6 tokens over V = 11 (f32 logits, token-mean) into one fault, with the error
// it must give. The fifth entry says what finds the fault: 'args' (the default), the bindings'
// argument checks on the main thread, before any device is asked for; 'data', the kernels, which
// check values (token ids, non-finite numbers); 'api', the TypeScript wrapper (the device switch).
import type { NativeLossArgs } from '../../src/native.js';

export type FoundBy = 'args' | 'data' | 'api';
export type BadLossCase = [
  name: string,
  mutate: (valid: NativeLossArgs) => unknown,
  kind: typeof TypeError | typeof RangeError,
  message: RegExp,
  foundBy?: FoundBy,
];

export const LOSS_BAD_CASES: BadLossCase[] = [
  ['options not an object', () => 42, TypeError, /options must be an object/],
  ['oldLogprobs missing', (a) => ({ ...a, oldLogprobs: undefined }), TypeError, /oldLogprobs is required/],
  ['oldLogprobs of the wrong type', (a) => ({ ...a, oldLogprobs: Array.from(a.oldLogprobs) }), TypeError, /oldLogprobs must be a Float32Array/],
  ['advantages as Float64Array', (a) => ({ ...a, advantages: Float64Array.from(a.advantages) }), TypeError, /advantages must be a Float32Array/],
  ['mask as Int8Array', (a) => ({ ...a, mask: Int8Array.from(a.mask) }), TypeError, /mask must be a Uint8Array/],
  ['logits as Float64Array', (a) => ({ ...a, logits: Float64Array.from(a.logits as Float32Array) }), TypeError, /logits must be a Float32Array or a Uint16Array/],
  ['neither logits nor logprobs', (a) => ({ ...a, logits: undefined }), TypeError, /logits or logprobs is required/],
  ['both logits and logprobs', (a) => ({ ...a, logprobs: a.oldLogprobs }), TypeError, /either logits or logprobs/],
  ['vocabSize missing', (a) => ({ ...a, vocabSize: undefined }), TypeError, /vocabSize is required/],
  ['tokens missing', (a) => ({ ...a, tokens: undefined }), TypeError, /tokens .* is required/],
  ['vocabSize not dividing the logits', (a) => ({ ...a, vocabSize: 10 }), RangeError, /logits has length 66, expected N \* vocabSize = 6 \* 10/],
  ['vocabSize fractional', (a) => ({ ...a, vocabSize: 10.5 }), RangeError, /vocabSize must be a positive integer/],
  ['vocabSize past 2^53', (a) => ({ ...a, vocabSize: 1e300 }), RangeError, /vocabSize must be a positive integer below 2\^53, got 1e\+300/],
  ['advantages too short', (a) => ({ ...a, advantages: a.advantages.subarray(1) }), RangeError, /advantages has length 5 but oldLogprobs has N = 6/],
  ['mask too long', (a) => ({ ...a, mask: new Uint8Array(7).fill(1) }), RangeError, /mask has length 7/],
  ['token id negative', (a) => ({ ...a, tokens: Int32Array.from(a.tokens!, (t, i) => (i === 3 ? -1 : t)) }), RangeError, /tokens\[3\] = -1 is outside \[0, vocabSize = 11\)/, 'data'],
  ['token id too large', (a) => ({ ...a, tokens: Int32Array.from(a.tokens!, (t, i) => (i === 5 ? 11 : t)) }), RangeError, /tokens\[5\] = 11/, 'data'],
  ['NaN logit', (a) => ({ ...a, logits: Float32Array.from(a.logits as Float32Array, (x, i) => (i === 25 ? NaN : x)) }), RangeError, /logits row 2 has a non-finite value/, 'data'],
  ['infinite logit', (a) => ({ ...a, logits: Float32Array.from(a.logits as Float32Array, (x, i) => (i === 60 ? -Infinity : x)) }), RangeError, /logits row 5/, 'data'],
  ['NaN old log-prob', (a) => ({ ...a, oldLogprobs: Float32Array.from(a.oldLogprobs, (x, i) => (i === 4 ? NaN : x)) }), RangeError, /oldLogprobs\[4\] is not finite/, 'data'],
  ['infinite advantage', (a) => ({ ...a, advantages: Float32Array.from(a.advantages, (x, i) => (i === 1 ? Infinity : x)) }), RangeError, /advantages\[1\] is not finite/, 'data'],
  ['unknown aggregation', (a) => ({ ...a, aggregation: 'mean' }), RangeError, /aggregation must be 'token-mean'/],
  ['seq-mean without seqIds', (a) => ({ ...a, aggregation: 'seq-mean-token-mean', seqIds: undefined }), TypeError, /seqIds .* is required/],
  ['seqIds out of range', (a) => ({ ...a, aggregation: 'seq-mean-token-sum', seqIds: Int32Array.from([0, 0, 1, 1, 9, 2]) }), RangeError, /seqIds\[4\] = 9 is outside \[0, N = 6\)/, 'data'],
  ['clipLow of 1', (a) => ({ ...a, clipLow: 1 }), RangeError, /clipLow must be in \[0, 1\)/],
  ['clipHigh negative', (a) => ({ ...a, clipHigh: -0.1 }), RangeError, /clipHigh must be >= 0/],
  ['clipC of 1', (a) => ({ ...a, clipC: 1 }), RangeError, /clipC must be greater than 1/],
  ['clipC as a string', (a) => ({ ...a, clipC: '3' }), TypeError, /clipC must be a number/],
  ['tokenCount negative', (a) => ({ ...a, tokenCount: -1 }), RangeError, /tokenCount must be a positive integer/],
  ['tokenCount NaN', (a) => ({ ...a, tokenCount: NaN }), RangeError, /tokenCount must be a positive integer below 2\^53, got NaN/],
  // A count: a tiny fraction made every weight infinite and the loss NaN.
  ['tokenCount 1e-300', (a) => ({ ...a, tokenCount: 1e-300 }), RangeError, /tokenCount must be a positive integer below 2\^53, got 1e-300/],
  ['tokenCount 1e-45', (a) => ({ ...a, tokenCount: 1e-45 }), RangeError, /tokenCount must be a positive integer/],
  ['tokenCount fractional', (a) => ({ ...a, tokenCount: 2.5 }), RangeError, /tokenCount must be a positive integer/],
  ['tokenCount 0', (a) => ({ ...a, tokenCount: 0 }), RangeError, /tokenCount must be a positive integer/],
  ['seqCount fractional', (a) => ({ ...a, aggregation: 'seq-mean-token-sum', seqCount: 0.5 }), RangeError, /seqCount must be a positive integer/],
  ['entropy not a boolean', (a) => ({ ...a, entropy: 1 }), TypeError, /entropy must be a boolean/],
  ['gradOut of the wrong length', (a) => ({ ...a, gradOut: new Float32Array(5) }), RangeError, /gradOut has length 5, expected 66/],
  ['klCoef without refLogprobs', (a) => ({ ...a, klCoef: 0.1 }), TypeError, /refLogprobs .* is required when klCoef > 0/],
  ['klCoef negative', (a) => ({ ...a, klCoef: -0.1, refLogprobs: a.oldLogprobs }), RangeError, /klCoef must be >= 0/],
  ['refLogprobs too short', (a) => ({ ...a, klCoef: 0.1, refLogprobs: a.oldLogprobs.subarray(2) }), RangeError, /refLogprobs has length 4/],
  ['NaN reference log-prob', (a) => ({ ...a, klCoef: 0.1, refLogprobs: Float32Array.from(a.oldLogprobs, (x, i) => (i === 3 ? NaN : x)) }), RangeError, /refLogprobs\[3\] is not finite/, 'data'],
  ['unknown device', (a) => ({ ...a, device: 'tpu' }), RangeError, /device must be 'cpu', 'cuda' or 'auto'/, 'api'],
  ['options null', () => null, TypeError, /options must be an object/],
  ['mask over a detached buffer', (a) => {
    const mask = a.mask.slice();
    structuredClone(mask.buffer, { transfer: [mask.buffer] });
    return { ...a, mask };
  }, TypeError, /mask refers to a detached buffer/],
];
