#!/usr/bin/env python3
"""Hugging Face transformers at the Qwen2.5-0.5B shape with random weights: the peer of
benchmarks/engine-cuda.ts, same shapes, run in the same device-check call.

- training: forward + loss + backward + torch AdamW step on 8 x 1024 tokens (bf16 weights,
  SDPA attention, the causal-LM loss; fused AdamW), tokens/s, MFU (the same FLOP count as
  src/policy/flops.ts: 6 x matmul weights per token plus causal attention) and peak memory;
- generation with sampling: 64 x (128 prompt + 128 new) and 256 x (128 + 512) (--skip-long
  leaves the second out), new tokens / wall time (prefill included), min_new_tokens = max so
  every sequence generates them all, as ours with no stop ids.

Prints one JSON array of rows shaped like benchmarks/engine.ts EngineBenchRow, also written to
--json FILE. Exits 77 (the device check's "skipped") without torch, transformers or a GPU.

  python3 benchmarks/peers/hf_engine.py [--quick] [--skip-long] [--json FILE]
"""
import argparse
import json
import re
import statistics
import sys
import time

SHAPE = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
             num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
             rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True, hidden_act='silu',
             bos_token_id=151643, eos_token_id=151645)

# Dense bf16 tensor-core peaks, the table of src/policy/flops.ts (first match wins).
PEAKS = [(r'\bB200\b', 2250e12), (r'\bGH200\b', 989.4e12), (r'\bH200 NVL\b', 835e12), (r'\bH200\b', 989.4e12),
         (r'\bH100 NVL\b', 835e12), (r'\bH100 PCIe\b', 756e12), (r'\bH100\b', 989.4e12), (r'\bA100\b', 312e12),
         (r'\bL40S\b', 362.05e12), (r'\bL4\b', 121e12), (r'\bA10\b', 125e12)]


def peak_flops(name):
    for pattern, flops in PEAKS:
        if re.search(pattern, name):
            return flops
    return None


def train_flops(c, length):
    q = c['num_attention_heads'] * (c['hidden_size'] // c['num_attention_heads'])
    kv = c['num_key_value_heads'] * (c['hidden_size'] // c['num_attention_heads'])
    h, i = c['hidden_size'], c['intermediate_size']
    matmul = c['num_hidden_layers'] * (h * q + 2 * h * kv + q * h + 3 * h * i) + c['vocab_size'] * h
    attention = c['num_hidden_layers'] * 2 * q * length * (length + 1)
    return 3 * (2 * matmul * length + attention)


def timed(torch, fn, warmup, reps):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--skip-long', action='store_true')
    ap.add_argument('--json')
    args = ap.parse_args()
    try:
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, Qwen2Config
    except ImportError as e:
        print(f'hf_engine: skipped: {e}')
        sys.exit(77)
    if not torch.cuda.is_available():
        print('hf_engine: skipped: torch sees no CUDA device')
        sys.exit(77)
    device = torch.cuda.get_device_name(0)
    shape = dict(SHAPE, num_hidden_layers=4 if args.quick else SHAPE['num_hidden_layers'])
    torch.manual_seed(1)
    # transformers 5 names the argument dtype (torch_dtype is deprecated there).
    dtype_arg = 'dtype' if int(transformers.__version__.split('.')[0]) >= 5 else 'torch_dtype'
    with torch.device('cuda'):
        model = AutoModelForCausalLM.from_config(Qwen2Config(**shape), attn_implementation='sdpa',
                                                 **{dtype_arg: torch.bfloat16})
    impl = f'transformers {transformers.__version__} bf16 sdpa'
    rows = []

    batch, seq = (2, 256) if args.quick else (8, 1024)
    ids = torch.randint(0, shape['vocab_size'], (batch, seq), device='cuda')
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6, weight_decay=0.1, fused=True)
    model.train()

    def train_step():
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    torch.cuda.reset_peak_memory_stats()
    ms = timed(torch, train_step, 1 if args.quick else 2, 2 if args.quick else 5)
    flops = batch * train_flops(shape, seq)
    peak = peak_flops(device)
    rows.append(dict(bench='train', what=f'Qwen2.5-0.5B shape, {batch} x {seq} tokens', impl=impl, medianMs=ms,
                     tokensPerS=batch * seq / ms * 1000, gflops=flops / ms / 1e6,
                     mfu=flops / (ms / 1000) / peak if peak else None,
                     peakMemoryGiB=torch.cuda.max_memory_allocated() / 2**30,
                     note=f'forward + LM loss + backward + fused torch AdamW; {device}'))
    del opt
    model.eval()
    torch.cuda.empty_cache()

    shapes = [(8, 32, 32)] if args.quick else [(64, 128, 128)] + ([] if args.skip_long else [(256, 128, 512)])
    for prompts, prompt_len, new in shapes:
        inputs = torch.randint(0, shape['vocab_size'], (prompts, prompt_len), device='cuda')
        mask = torch.ones_like(inputs)

        def gen():
            with torch.no_grad():
                model.generate(input_ids=inputs, attention_mask=mask, do_sample=True, temperature=1.0, top_p=1.0,
                               top_k=0, max_new_tokens=new, min_new_tokens=new, pad_token_id=0)

        torch.cuda.reset_peak_memory_stats()
        ms = timed(torch, gen, 1, 1 if (args.quick or new > 128) else 3)
        rows.append(dict(bench='generate', what=f'Qwen2.5-0.5B shape, {prompts} x ({prompt_len} prompt + {new} new)',
                         impl=impl, medianMs=ms, tokensPerS=prompts * new / ms * 1000,
                         peakMemoryGiB=torch.cuda.max_memory_allocated() / 2**30,
                         note='model.generate, sampling, temperature 1; new tokens / wall time (prefill included)'))

    for r in rows:
        extra = f", MFU {100 * r['mfu']:.1f}%" if r.get('mfu') else ''
        print(f"figure: {r['impl']} {r['bench']} {r['what']}: {round(r['tokensPerS'])} tokens/s{extra}, "
              f"peak {r['peakMemoryGiB']:.1f} GiB")
    text = json.dumps(rows)
    if args.json:
        with open(args.json, 'w') as f:
            f.write(text + '\n')
    print(text)


if __name__ == '__main__':
    main()
