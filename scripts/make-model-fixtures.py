#!/usr/bin/env python3
"""CPU-made reference fixtures for the policy engine: tiny random Llama / Qwen2 / Qwen3 models
in Hugging Face layout plus the logits of an independent NumPy forward pass (float64) that
follows transformers' modeling code (LlamaRMSNorm, rotate_half RoPE with the llama3 frequency
rule, repeat_kv for GQA, Qwen2's q/k/v biases, Qwen3's per-head q/k RMSNorm before RoPE,
SwiGLU MLP, tied or untied LM head).

This is not transformers itself (scripts/make-golden.py is, where torch is installed); it is a
second implementation, written from the Hugging Face code rather than from the C++ engine,
that runs here. Writes test/fixtures/models/reference/<arch>/{config.json, model.safetensors,
reference.json}. The Qwen2 weights are stored in bfloat16, to cover that load path.

    python3 scripts/make-model-fixtures.py
"""
import json
import os
import struct

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "models", "reference")

COMMON = dict(
    vocab_size=48,
    hidden_size=24,
    intermediate_size=40,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    rms_norm_eps=1e-6,
    rope_theta=10000.0,
    bos_token_id=1,
    eos_token_id=2,
    hidden_act="silu",
    torch_dtype="float32",
)

ARCHS = {
    "llama": dict(
        COMMON,
        model_type="llama",
        architectures=["LlamaForCausalLM"],
        head_dim=6,
        tie_word_embeddings=False,
        attention_bias=False,
        mlp_bias=False,
        rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                          original_max_position_embeddings=16),
    ),
    "qwen2": dict(COMMON, model_type="qwen2", architectures=["Qwen2ForCausalLM"], tie_word_embeddings=False,
                  use_sliding_window=False, sliding_window=4096, rope_scaling=None, torch_dtype="bfloat16"),
    "qwen3": dict(COMMON, model_type="qwen3", architectures=["Qwen3ForCausalLM"], head_dim=8,
                  tie_word_embeddings=True, attention_bias=False, use_sliding_window=False, rope_scaling=None),
}

INPUTS = [[1, 17, 5, 42, 9, 33, 47, 2, 8, 8, 31, 12, 0, 40], [3, 46, 0, 21, 21, 7]]


def to_bf16(a):
    bits = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return rounded


def from_bf16(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def make_weights(cfg, rng):
    h, v, i = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or h // nh
    w = {}
    mat = lambda *s: (0.15 * rng.standard_normal(s)).astype(np.float32)
    norm = lambda n: (1.0 + 0.2 * rng.standard_normal(n)).astype(np.float32)
    bias = lambda n: (0.2 * rng.standard_normal(n)).astype(np.float32)
    w["model.embed_tokens.weight"] = mat(v, h)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = norm(h)
        w[p + "self_attn.q_proj.weight"] = mat(nh * hd, h)
        w[p + "self_attn.k_proj.weight"] = mat(nkv * hd, h)
        w[p + "self_attn.v_proj.weight"] = mat(nkv * hd, h)
        if cfg["model_type"] == "qwen2":
            w[p + "self_attn.q_proj.bias"] = bias(nh * hd)
            w[p + "self_attn.k_proj.bias"] = bias(nkv * hd)
            w[p + "self_attn.v_proj.bias"] = bias(nkv * hd)
        w[p + "self_attn.o_proj.weight"] = mat(h, nh * hd)
        if cfg["model_type"] == "qwen3":
            w[p + "self_attn.q_norm.weight"] = norm(hd)
            w[p + "self_attn.k_norm.weight"] = norm(hd)
        w[p + "post_attention_layernorm.weight"] = norm(h)
        w[p + "mlp.gate_proj.weight"] = mat(i, h)
        w[p + "mlp.up_proj.weight"] = mat(i, h)
        w[p + "mlp.down_proj.weight"] = mat(h, i)
    w["model.norm.weight"] = norm(h)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = mat(v, h)
    return w


def rms_norm(x, weight, eps):
    var = np.mean(x * x, axis=-1, keepdims=True)
    return weight * (x / np.sqrt(var + eps))


def rotate_half(x):
    d = x.shape[-1] // 2
    return np.concatenate([-x[..., d:], x[..., :d]], axis=-1)


def inv_freq(cfg, dim):
    f = 1.0 / (cfg["rope_theta"] ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type") == "llama3":
        factor, low, high, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * np.pi / f
        scaled = np.where(wavelen > low_wavelen, f / factor, f)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
        f = np.where(medium, smoothed, scaled)
    return f


def forward(cfg, w, ids):
    h, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or h // nh
    eps = cfg["rms_norm_eps"]
    W = {k: v.astype(np.float64) for k, v in w.items()}
    t = len(ids)
    x = W["model.embed_tokens.weight"][ids]
    pos = np.arange(t, dtype=np.float64)
    freqs = pos[:, None] * inv_freq(cfg, hd)[None, :]
    emb = np.concatenate([freqs, freqs], axis=-1)
    cos, sin = np.cos(emb)[None], np.sin(emb)[None]  # [1, T, hd]
    mask = np.triu(np.full((t, t), -np.inf), k=1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        a = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = a @ W[p + "self_attn.q_proj.weight"].T
        k = a @ W[p + "self_attn.k_proj.weight"].T
        v = a @ W[p + "self_attn.v_proj.weight"].T
        if p + "self_attn.q_proj.bias" in W:
            q, k, v = q + W[p + "self_attn.q_proj.bias"], k + W[p + "self_attn.k_proj.bias"], v + W[p + "self_attn.v_proj.bias"]
        q = q.reshape(t, nh, hd).transpose(1, 0, 2)
        k = k.reshape(t, nkv, hd).transpose(1, 0, 2)
        v = v.reshape(t, nkv, hd).transpose(1, 0, 2)
        if cfg["model_type"] == "qwen3":
            q = rms_norm(q, W[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, W[p + "self_attn.k_norm.weight"], eps)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = nh // nkv
        k = np.repeat(k, rep, axis=0)
        v = np.repeat(v, rep, axis=0)
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(hd) + mask
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        probs = scores / scores.sum(-1, keepdims=True)
        o = (probs @ v).transpose(1, 0, 2).reshape(t, nh * hd)
        x = x + o @ W[p + "self_attn.o_proj.weight"].T
        m = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = m @ W[p + "mlp.gate_proj.weight"].T
        u = m @ W[p + "mlp.up_proj.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * u) @ W[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    return x @ head.T


def write_safetensors(path, tensors, bf16):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, arr in tensors.items():
        data = to_bf16(arr).tobytes() if bf16 else arr.astype("<f4").tobytes()
        header[name] = {"dtype": "BF16" if bf16 else "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - (len(text) + 8) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        for b in blobs:
            f.write(b)


def main():
    rng = np.random.default_rng(20260)
    for arch, cfg in ARCHS.items():
        w = make_weights(cfg, rng)
        bf16 = cfg["torch_dtype"] == "bfloat16"
        if bf16:  # the reference computes with the values the file holds
            w = {k: from_bf16(to_bf16(v)) for k, v in w.items()}
        dest = os.path.join(OUT, arch)
        os.makedirs(dest, exist_ok=True)
        with open(os.path.join(dest, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        write_safetensors(os.path.join(dest, "model.safetensors"), w, bf16)
        logits = [[[round(float(x), 7) for x in row] for row in forward(cfg, w, ids)] for ids in INPUTS]
        with open(os.path.join(dest, "reference.json"), "w") as f:
            json.dump({"made_by": "scripts/make-model-fixtures.py (NumPy, float64)", "inputs": INPUTS, "logits": logits}, f)
        print(f"{arch}: {sum(v.size for v in w.values())} parameters -> {dest}")


if __name__ == "__main__":
    main()
