// The flat parameter layout (native/model/params.h, shared by the CPU and CUDA engines): Hugging
// Face names in buffer order, shapes, weight-decay flags, and the random initialisation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from '../src/native.js';
import type { NativePolicyConfig } from '../src/policy/native-types.js';

function config(extra: Partial<NativePolicyConfig>): NativePolicyConfig {
  return {
    vocabSize: 23,
    hiddenSize: 12,
    intermediateSize: 20,
    numLayers: 3,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 6,
    maxPositions: 64,
    ropeTheta: 10000,
    rmsNormEps: 1e-6,
    qkvBias: false,
    qkNorm: false,
    tieWordEmbeddings: false,
    ...extra,
  };
}

// The layout written out independently of the native code: [name, shape, decay].
function expectedLayout(c: NativePolicyConfig): [string, number[], boolean][] {
  const h = c.hiddenSize, qd = c.numHeads * c.headDim, kvd = c.numKvHeads * c.headDim, inter = c.intermediateSize;
  const out: [string, number[], boolean][] = [['model.embed_tokens.weight', [c.vocabSize, h], true]];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    out.push([`${p}input_layernorm.weight`, [h], false]);
    out.push([`${p}self_attn.q_proj.weight`, [qd, h], true]);
    if (c.qkvBias) out.push([`${p}self_attn.q_proj.bias`, [qd], false]);
    out.push([`${p}self_attn.k_proj.weight`, [kvd, h], true]);
    if (c.qkvBias) out.push([`${p}self_attn.k_proj.bias`, [kvd], false]);
    out.push([`${p}self_attn.v_proj.weight`, [kvd, h], true]);
    if (c.qkvBias) out.push([`${p}self_attn.v_proj.bias`, [kvd], false]);
    out.push([`${p}self_attn.o_proj.weight`, [h, qd], true]);
    if (c.qkNorm) {
      out.push([`${p}self_attn.q_norm.weight`, [c.headDim], false]);
      out.push([`${p}self_attn.k_norm.weight`, [c.headDim], false]);
    }
    out.push([`${p}post_attention_layernorm.weight`, [h], false]);
    out.push([`${p}mlp.gate_proj.weight`, [inter, h], true]);
    out.push([`${p}mlp.up_proj.weight`, [inter, h], true]);
    out.push([`${p}mlp.down_proj.weight`, [h, inter], true]);
  }
  out.push(['model.norm.weight', [h], false]);
  if (!c.tieWordEmbeddings) out.push(['lm_head.weight', [c.vocabSize, h], true]);
  return out;
}

const SHAPES: Record<string, Partial<NativePolicyConfig>> = {
  llama: {},
  'qwen2 (biases, tied)': { qkvBias: true, tieWordEmbeddings: true },
  'qwen3 (qk-norm)': { qkNorm: true },
};

for (const [label, extra] of Object.entries(SHAPES)) {
  test(`parameter layout of ${label}: names, shapes and decay in buffer order`, () => {
    const c = config(extra);
    const engine = new native.PolicyEngine(c);
    const got = engine.params();
    const want = expectedLayout(c);
    assert.deepEqual(
      got.map((p) => [p.name, p.shape, p.decay]),
      want,
    );
    let total = 0;
    for (const p of got) {
      assert.equal(p.size, p.shape.reduce((a, b) => a * b, 1), `${p.name}: size is the product of its shape`);
      total += p.size;
    }
    assert.equal(engine.numParameters(), total, 'parameters lie back to back with no gaps');
    engine.dispose();
  });

  test(`random initialisation of ${label}: norms 1, biases 0, matrices N(0, std) from the seed`, () => {
    const c = config(extra);
    const a = new native.PolicyEngine(c);
    const b = new native.PolicyEngine(c);
    const d = new native.PolicyEngine(c);
    a.initRandom(5, 0.5);
    b.initRandom(5, 0.5);
    d.initRandom(6, 0.5);
    let sum2 = 0;
    let count = 0;
    let differs = false;
    a.params().forEach((p, i) => {
      const w = a.getParam(i);
      assert.deepEqual(w, b.getParam(i), `${p.name}: the same seed gives the same weights`);
      if (p.name.includes('norm')) assert.ok(w.every((x) => x === 1), `${p.name} starts at 1`);
      else if (p.name.endsWith('.bias')) assert.ok(w.every((x) => x === 0), `${p.name} starts at 0`);
      else {
        for (const x of w) sum2 += x * x;
        count += w.length;
        const o = d.getParam(i);
        differs ||= w.some((x, j) => x !== o[j]);
      }
    });
    assert.ok(differs, 'another seed gives other weights');
    const std = Math.sqrt(sum2 / count);
    assert.ok(Math.abs(std - 0.5) < 0.05, `matrices have std ${std}, expected about 0.5 over ${count} values`);
    for (const e of [a, b, d]) e.dispose();
  });
}
