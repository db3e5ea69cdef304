#!/usr/bin/env python3
"""Golden reference for the policy engine, made with Hugging Face transformers 5.

Builds tiny random Llama (with llama3 rope scaling), Qwen2 and Qwen3 models, all with
rope_theta 1e6 (not the default 10000, so a loader that ignored theta would fail), and writes
each model twice under --out (default test/fixtures/models/golden):

  transformers5/<arch>/         save_pretrained's folder as transformers 5 writes it:
                                rope_parameters {rope_theta, rope_type, ...} and dtype;
  transformers4-layout/<arch>/  the same weights, generation config and logits, config.json in
                                the layout transformers 4 writes (top-level rope_theta,
                                rope_scaling, torch_dtype), as most published checkpoints have.

Each folder holds config.json, model.safetensors (fp32), generation_config.json and
golden.json: fixed input ids and the fp32 logits transformers computes for them (eager
attention, on the CPU). test/policy-golden.test.ts checks Policy.forwardLogits against both
layouts (max abs error under 1e-4).

Needs torch and transformers >= 5 (the GPU machine has them; the logits are computed on the
CPU in fp32 either way). The models are small (about 40k parameters, ~160 KB of fp32 each).

    python3 scripts/make-golden.py [--out DIR]
    python3 scripts/make-golden.py --layouts-only [--out DIR]   # rewrite transformers4-layout/
                                                                # from transformers5/; no torch
"""
import argparse
import json
import os
import shutil

ROPE_THETA = 1000000.0

COMMON = dict(
    vocab_size=64,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
    rms_norm_eps=1e-6,
    bos_token_id=1,
    eos_token_id=2,
    hidden_act="silu",
)

INPUTS = [
    [1, 17, 5, 42, 9, 33, 60, 2, 8, 8, 31, 12],
    [3, 63, 0, 21, 21, 47, 5],
]

ARCHS = ["llama", "qwen2", "qwen3"]

# Files that are the same in both layouts.
SHARED_FILES = ["model.safetensors", "generation_config.json", "golden.json"]


def configs():
    from transformers import LlamaConfig, Qwen2Config, Qwen3Config

    return {
        "llama": LlamaConfig(
            **COMMON,
            tie_word_embeddings=False,
            rope_parameters={
                "rope_type": "llama3",
                "rope_theta": ROPE_THETA,
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 16,
            },
        ),
        "qwen2": Qwen2Config(
            **COMMON,
            tie_word_embeddings=False,
            use_sliding_window=False,
            rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA},
        ),
        "qwen3": Qwen3Config(
            **COMMON,
            head_dim=8,
            tie_word_embeddings=True,
            use_sliding_window=False,
            rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA},
        ),
    }


def randomize(model, seed):
    # from_config leaves norms at 1 and biases at 0; give them values so their use is checked.
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=g))


def transformers4_layout(config):
    """A transformers 5 config.json dict restated as transformers 4 writes it: rope_parameters
    becomes top-level rope_theta plus rope_scaling (null for default RoPE), dtype becomes
    torch_dtype."""
    out = dict(config)
    rope = dict(out.pop("rope_parameters"))
    out["rope_theta"] = rope.pop("rope_theta")
    out["rope_scaling"] = rope if rope.get("rope_type", "default") != "default" else None
    out["torch_dtype"] = out.pop("dtype")
    return out


def write_transformers4_layout(out_dir):
    for arch in ARCHS:
        src = os.path.join(out_dir, "transformers5", arch)
        dest = os.path.join(out_dir, "transformers4-layout", arch)
        os.makedirs(dest, exist_ok=True)
        for name in SHARED_FILES:
            shutil.copyfile(os.path.join(src, name), os.path.join(dest, name))
        with open(os.path.join(src, "config.json")) as f:
            config = json.load(f)
        # The formatting of PretrainedConfig.to_json_string in both versions.
        with open(os.path.join(dest, "config.json"), "w") as f:
            f.write(json.dumps(transformers4_layout(config), indent=2, sort_keys=True) + "\n")
        print(f"{arch}: transformers 4 layout -> {dest}")


def write_transformers5(out_dir):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    if int(transformers.__version__.split(".")[0]) < 5:
        raise SystemExit(f"transformers {transformers.__version__}: the transformers5/ fixtures need transformers >= 5")
    torch.manual_seed(0)
    for i, (arch, config) in enumerate(configs().items()):
        config.dtype = torch.float32
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="eager")
        model.eval()
        randomize(model, 1000 + i)
        dest = os.path.join(out_dir, "transformers5", arch)
        os.makedirs(dest, exist_ok=True)
        model.save_pretrained(dest)
        logits = []
        with torch.no_grad():
            for ids in INPUTS:
                out = model(torch.tensor([ids], dtype=torch.long)).logits[0].float()
                logits.append([[float(x) for x in row] for row in out])
        with open(os.path.join(dest, "golden.json"), "w") as f:
            json.dump(
                {
                    "transformers": transformers.__version__,
                    "torch": torch.__version__,
                    "inputs": INPUTS,
                    "logits": logits,
                },
                f,
            )
        print(f"{arch}: {sum(p.numel() for p in model.parameters())} parameters -> {dest}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "models", "golden"))
    ap.add_argument("--layouts-only", action="store_true", help="only rewrite transformers4-layout/ from transformers5/")
    args = ap.parse_args()
    if not args.layouts_only:
        write_transformers5(args.out)
    write_transformers4_layout(args.out)


if __name__ == "__main__":
    main()
