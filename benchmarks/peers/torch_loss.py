#!/usr/bin/env python3
"""The DAPO loss as verl writes it (compute_policy_loss "vanilla" + token-mean agg_loss), in
PyTorch eager and torch.compile, forward and backward to the logits, timed with CUDA events
(median after warm-up). The peer of benchmarks/cuda.ts; run on the GPU machine's python3.
Prints one JSON array of rows shaped like benchmarks/trial.ts BenchRow.

  python3 benchmarks/peers/torch_loss.py [--quick] [--sizes 16384x151936,16384x32768]
"""
import argparse
import json
import statistics

import torch


def dapo_loss(logits, tokens, old_logp, adv, mask, clip_low=0.2, clip_high=0.28, clip_c=3.0):
    logp_all = torch.log_softmax(logits.float(), dim=-1)
    logp = logp_all.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    log_ratio = torch.clamp(logp - old_logp, -20.0, 20.0)
    ratio = torch.exp(log_ratio)
    losses1 = -adv * ratio
    losses2 = -adv * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    clipped1 = torch.maximum(losses1, losses2)
    clipped2 = torch.minimum(-adv * clip_c, clipped1)
    losses = torch.where(adv < 0, clipped2, clipped1)
    return (losses * mask).sum() / mask.sum().clamp(min=1)


def step(fn, logits, *rest):
    logits.grad = None
    loss = fn(logits, *rest)
    loss.backward()
    return loss


def time_ms(run, warmup=3, reps=15):
    for _ in range(warmup):
        run()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        stop.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", default=None)
    args = parser.parse_args()
    sizes = [(2048, 32768)] if args.quick else [(16384, 151936), (16384, 32768)]
    if args.sizes:
        sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",")]
    device = torch.cuda.get_device_name(0)
    compiled = torch.compile(dapo_loss)
    rows = []
    for n, v in sizes:
        for dtype, name in ((torch.bfloat16, "bf16"), (torch.float32, "f32")):
            g = torch.Generator(device="cuda").manual_seed(0)
            logits = (torch.randn(n, v, device="cuda", generator=g) * 4).to(dtype).requires_grad_(True)
            tokens = torch.randint(0, v, (n,), device="cuda", generator=g)
            old = -torch.rand(n, device="cuda", generator=g) * 12 - 1
            adv = torch.rand(n, device="cuda", generator=g) * 4 - 2
            mask = (torch.rand(n, device="cuda", generator=g) < 0.9).float()
            elem = 2 if dtype == torch.bfloat16 else 4
            for impl, fn in (("torch-eager", dapo_loss), ("torch-compile", compiled)):
                try:
                    torch.cuda.reset_peak_memory_stats()
                    ms = time_ms(lambda: step(fn, logits, tokens, old, adv, mask))
                    peak = torch.cuda.max_memory_allocated()
                    moved = 2 * n * v * elem  # the floor: read logits once, write the gradient once
                    rows.append({"kernel": "dapo-loss", "impl": impl, "device": device, "n": n, "v": v, "dtype": name,
                                 "medianMs": ms, "gbPerS": moved / ms / 1e6,
                                 "note": f"forward+backward; gbPerS counts the 2-transfer floor; peak {peak / 2**30:.1f} GiB"})
                except torch.cuda.OutOfMemoryError as e:
                    rows.append({"kernel": "dapo-loss", "impl": impl, "device": device, "n": n, "v": v, "dtype": name,
                                 "medianMs": float("nan"), "gbPerS": 0, "note": f"out of memory: {str(e)[:120]}"})
                torch.cuda.empty_cache()
            del logits
            torch.cuda.empty_cache()
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
