// Checks of a model folder made before the engine allocates anything: the shape config.json
// describes against the tensors the safetensors headers hold. Every buffer the engine sizes is
// a product of the config's dimensions, so once each dimension matches a tensor in the files,
// a config.json far larger than its weights (vocab_size 5e8 beside a tiny model) is a named
// error in milliseconds, not gigabytes allocated before the first shape comparison.
import type { PolicyConfig } from './config.js';
import { PolicyError } from './errors.js';
import type { TensorEntry } from './safetensors.js';

interface DimensionCheck {
  /** The tensor whose shape bounds the fields. */
  tensor: string;
  /** Its expected shape, each entry with the config.json fields it comes from. */
  shape: Array<[number, string]>;
}

function dimensionChecks(c: PolicyConfig): DimensionCheck[] {
  const last = `model.layers.${c.numLayers - 1}`;
  const checks: DimensionCheck[] = [
    { tensor: 'model.embed_tokens.weight', shape: [[c.vocabSize, 'vocab_size'], [c.hiddenSize, 'hidden_size']] },
    // The last layer exists only when num_hidden_layers is not larger than the checkpoint's.
    {
      tensor: `${last}.self_attn.q_proj.weight`,
      shape: [[c.numHeads * c.headDim, 'num_attention_heads x head_dim'], [c.hiddenSize, 'hidden_size']],
    },
    {
      tensor: `${last}.self_attn.k_proj.weight`,
      shape: [[c.numKvHeads * c.headDim, 'num_key_value_heads x head_dim'], [c.hiddenSize, 'hidden_size']],
    },
    { tensor: `${last}.mlp.gate_proj.weight`, shape: [[c.intermediateSize, 'intermediate_size'], [c.hiddenSize, 'hidden_size']] },
  ];
  if (!c.tieWordEmbeddings)
    checks.push({ tensor: 'lm_head.weight', shape: [[c.vocabSize, 'vocab_size'], [c.hiddenSize, 'hidden_size']] });
  return checks;
}

/**
 * Throws PolicyError E_WEIGHTS naming configFile and the field when the config's shape is not
 * the one the checkpoint's tensors have.
 */
export function checkConfigAgainstHeaders(config: PolicyConfig, headers: Map<string, TensorEntry>, configFile: string, dir: string): void {
  for (const { tensor, shape } of dimensionChecks(config)) {
    const entry = headers.get(tensor);
    if (!entry) {
      const field = /^model\.layers\.\d+\./.test(tensor) ? `num_hidden_layers = ${config.numLayers}` : 'the config';
      throw new PolicyError('E_WEIGHTS', `${configFile}: ${field}, but tensor ${tensor} is missing from ${dir}`);
    }
    const mismatch = shape.findIndex(([want], i) => entry.shape[i] !== want);
    if (entry.shape.length !== shape.length || mismatch >= 0) {
      const [want, fields] = shape[Math.max(mismatch, 0)];
      throw new PolicyError(
        'E_WEIGHTS',
        `${configFile}: ${fields} = ${want} does not match the weights: in ${entry.file}, ${tensor} has shape ` +
          `[${entry.shape.join(', ')}], the config needs [${shape.map(([d]) => d).join(', ')}]`,
      );
    }
  }
}
