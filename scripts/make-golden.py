#!/usr/bin/env python3
"""Golden reference for the CPU policy engine, made with Hugging Face transformers.

Builds tiny random Llama (with llama3 rope scaling), Qwen2 and Qwen3 models, saves each in
Hugging Face layout under test/fixtures/models/golden/<arch>/ together with golden.json: fixed
input ids and the fp32 logits transformers computes for them. test/policy-golden.test.ts then
checks Policy.forwardLogits against them (max abs error under 1e-4).

Needs torch and transformers (the GPU machine has them; the CPU runs in fp32 either way):

    python3 scripts/make-golden.py [--out test/fixtures/models/golden]

The models are small (about 40k parameters each, ~160 KB of fp32) so the fixtures stay small.
"""
import argparse
import json
import os

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

try:
    from transformers import Qwen3Config
except ImportError:  # transformers < 4.51
    Qwen3Config = None

COMMON = dict(
    vocab_size=64,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
    rms_norm_eps=1e-6,
    rope_theta=10000.0,
    bos_token_id=1,
    eos_token_id=2,
    hidden_act="silu",
)

INPUTS = [
    [1, 17, 5, 42, 9, 33, 60, 2, 8, 8, 31, 12],
    [3, 63, 0, 21, 21, 47, 5],
]


def configs():
    out = {
        "llama": LlamaConfig(
            **COMMON,
            tie_word_embeddings=False,
            rope_scaling={
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 16,
            },
        ),
        "qwen2": Qwen2Config(**COMMON, tie_word_embeddings=False, use_sliding_window=False),
    }
    if Qwen3Config is not None:
        out["qwen3"] = Qwen3Config(**COMMON, head_dim=8, tie_word_embeddings=True, use_sliding_window=False)
    return out


def randomize(model, seed):
    # from_config leaves norms at 1 and biases at 0; give them values so their use is checked.
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=g))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "models", "golden"))
    args = ap.parse_args()
    torch.manual_seed(0)
    for i, (arch, config) in enumerate(configs().items()):
        config.torch_dtype = torch.float32
        model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32, attn_implementation="eager")
        model.eval()
        randomize(model, 1000 + i)
        dest = os.path.join(args.out, arch)
        os.makedirs(dest, exist_ok=True)
        model.save_pretrained(dest, safe_serialization=True)
        logits = []
        with torch.no_grad():
            for ids in INPUTS:
                out = model(torch.tensor([ids], dtype=torch.long)).logits[0].float()
                logits.append([[float(x) for x in row] for row in out])
        with open(os.path.join(dest, "golden.json"), "w") as f:
            json.dump(
                {
                    "transformers": __import__("transformers").__version__,
                    "torch": torch.__version__,
                    "inputs": INPUTS,
                    "logits": logits,
                },
                f,
            )
        print(f"{arch}: {sum(p.numel() for p in model.parameters())} parameters -> {dest}")


if __name__ == "__main__":
    main()
