#!/usr/bin/env python3
"""The peers of the kernel lab (build/Release/row_loss_lab), on its shapes, in the same run:

- Liger-Kernel's grpo_loss op (Triton; token level, loss_type 'dapo'), in place and not, and
  its LigerFusedLinearGRPOLoss (the chunked LM head + loss), staged by scripts/stage-peers.sh
  (never committed; --liger is the folder holding liger_kernel/);
- PyTorch eager and torch.compile of the DAPO loss as verl writes it (benchmarks/peers/torch_loss.py);
- the LM head as torch users write it: hidden @ W.T in bf16, then the compiled loss, backward.

Every row is forward + backward, timed with CUDA events (median after warm-up), with the peak
memory; gbPerS counts the 2-transfer floor (read the logits once, write the gradient once), as
the lab does. Writes one JSON array of rows shaped like benchmarks/trial.ts BenchRow.

  python3 benchmarks/peers/loss_peers.py --liger .devcarry/peers --json FILE [--quick]

Exit status 1 when a peer could not be imported or a row failed for a reason other than
running out of memory (which is a result, recorded in the row).
"""
import argparse
import json
import os
import sys
import traceback

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_loss import dapo_loss, time_ms  # noqa: E402  (the verl statement of the loss, shared)

CLIP_LOW, CLIP_HIGH = 0.2, 0.28
SEQ_LEN = 1024  # N = B x SEQ_LEN tokens, as the 2026-11-27 run


def row(kernel, impl, n, v, dtype, ms, floor_bytes, note, **extra):
    r = {"kernel": kernel, "impl": impl, "device": torch.cuda.get_device_name(0), "n": n, "v": v, "dtype": dtype,
         "medianMs": ms, "gbPerS": floor_bytes / ms / 1e6 if ms == ms and ms > 0 else 0, "note": note}
    r.update(extra)
    return r


def measured(fn, reps):
    """(median ms, peak GiB) of fn(), or raises."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    ms = time_ms(fn, warmup=3, reps=reps)
    return ms, torch.cuda.max_memory_allocated() / 2**30


def guarded(rows, failures, make):
    """Runs make() -> row; an out-of-memory becomes a row, any other error a failure."""
    try:
        rows.append(make())
    except torch.cuda.OutOfMemoryError as e:
        rows.append({"kernel": "error", "impl": "oom", "note": f"out of memory: {str(e)[:160]}"})
    except Exception:  # a peer's failure is reported, and the other peers still run
        failures.append(traceback.format_exc(limit=3))
        print(failures[-1], file=sys.stderr)
    finally:
        torch.cuda.empty_cache()


def logits_inputs(n, v, dtype, liger_layout, seed=0):
    """Logits in [-6, 6) and per-token inputs. Liger's layout is (B, L + 1, V), the last position
    of each sequence unused, with (B, L) tokens and per-sequence advantages; torch's is (N, V)."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    b = n // SEQ_LEN
    shape = (b, SEQ_LEN + 1, v) if liger_layout else (n, v)
    logits = torch.empty(shape, device="cuda", dtype=dtype).uniform_(-6, 6, generator=g)
    ids = torch.randint(0, v, (b, SEQ_LEN), device="cuda", generator=g)
    old = -torch.rand(b, SEQ_LEN, device="cuda", generator=g) * 12 - 1
    adv = torch.rand(b, device="cuda", generator=g) * 4 - 2
    mask = (torch.rand(b, SEQ_LEN, device="cuda", generator=g) < 0.9).to(torch.int32)
    if liger_layout:
        return logits, ids, old, adv, mask
    return logits, ids.reshape(n), old.reshape(n), adv.repeat_interleave(SEQ_LEN), mask.reshape(n).float()


def liger_op_rows(grpo, n, v, reps, rows, failures):
    for in_place in (False, True):
        def make(in_place=in_place):
            logits, ids, old, adv, mask = logits_inputs(n, v, torch.bfloat16, liger_layout=True)
            logits.requires_grad_(True)

            def step():
                logits.grad = None
                loss, _, _ = grpo.GrpoLossFunction.apply(logits, old, None, ids, adv, mask, 1.0, 0.0, CLIP_LOW, CLIP_HIGH,
                                                         in_place, "dapo", None, True, "token")
                loss.backward()

            ms, peak = measured(step, reps)
            return row("dapo-loss", "liger-triton-inplace" if in_place else "liger-triton", n, v, "bf16", ms, 4 * n * v,
                       f"B={n // SEQ_LEN} L={SEQ_LEN}; peak {peak:.1f} GiB (logits included)", inPlace=in_place, peakGiB=peak)
        guarded(rows, failures, make)


def torch_rows(n, v, reps, rows, failures):
    compiled = torch.compile(dapo_loss, dynamic=True)  # one compilation across the vocabularies
    for dtype, name, size in ((torch.bfloat16, "bf16", 2), (torch.float32, "f32", 4)):
        for impl, fn in (("torch-eager", dapo_loss), ("torch-compile", compiled)):
            def make(dtype=dtype, name=name, size=size, impl=impl, fn=fn):
                logits, ids, old, adv, mask = logits_inputs(n, v, dtype, liger_layout=False)
                logits.requires_grad_(True)

                def step():
                    logits.grad = None
                    fn(logits, ids, old, adv, mask, CLIP_LOW, CLIP_HIGH, 3.0).backward()

                ms, peak = measured(step, reps)
                return row("dapo-loss", impl, n, v, name, ms, 2 * n * v * size,
                           f"gradient in the logits' dtype; peak {peak:.1f} GiB", inPlace=False, peakGiB=peak)
            guarded(rows, failures, make)


def head_inputs(n, h, v, seed=1):
    g = torch.Generator(device="cuda").manual_seed(seed)
    hidden = ((torch.rand(n, h, device="cuda", generator=g) * 2 - 1)).to(torch.bfloat16)
    weight = ((torch.rand(v, h, device="cuda", generator=g) * 2 - 1) * 0.05).to(torch.bfloat16)
    ids = torch.randint(0, v, (n,), device="cuda", generator=g)
    old = -torch.rand(n, device="cuda", generator=g) * 12 - 1
    adv = torch.rand(n, device="cuda", generator=g) * 4 - 2
    return hidden, weight, ids, old, adv


def extra_gib(peak_bytes, *tensors):
    """Peak memory beyond the inputs and their gradients."""
    held = sum(2 * t.numel() * t.element_size() for t in tensors)
    return (peak_bytes - held) / 2**30


def torch_head_rows(n, hs, v, reps, rows, failures):
    loss_fn = torch.compile(dapo_loss, dynamic=True)
    for h in hs:
        def make(h=h):
            hidden, weight, ids, old, adv = head_inputs(n, h, v)
            hidden.requires_grad_(True)
            weight.requires_grad_(True)
            mask = torch.ones(n, device="cuda")

            def step():
                hidden.grad = weight.grad = None
                loss_fn(hidden @ weight.T, ids, old, adv, mask, CLIP_LOW, CLIP_HIGH, 3.0).backward()

            ms, _ = measured(step, reps)
            extra = extra_gib(torch.cuda.max_memory_allocated(), hidden, weight)
            return row("dapo-loss-hidden", "torch-matmul+compile", n, v, "bf16", ms, 0,
                       f"H={h}: {6 * n * h * v / ms / 1e9:.0f} TFLOP/s of 6NHV; extra {extra:.2f} GiB", h=h, extraGiB=extra)
        guarded(rows, failures, make)


def liger_head_rows(chunked, n, hs, v, reps, rows, failures):
    for h in hs:
        def make(h=h):
            hidden, weight, ids, old, adv = head_inputs(n, h, v)
            b = n // SEQ_LEN
            x = hidden.reshape(b, SEQ_LEN, h).requires_grad_(True)
            weight.requires_grad_(True)
            ids, old = ids.reshape(b, SEQ_LEN), old.reshape(b, SEQ_LEN)
            mask = torch.ones(b, SEQ_LEN, device="cuda", dtype=torch.int64)
            adv = adv[:b].contiguous()
            loss_fn = chunked.LigerFusedLinearGRPOLoss(beta=0.0, use_ref_model=False, epsilon_low=CLIP_LOW,
                                                       epsilon_high=CLIP_HIGH, loss_type="dapo", compiled=True)

            def step():
                x.grad = weight.grad = None
                loss, _ = loss_fn(x, weight, ids, mask, adv, old_per_token_logps=old)
                loss.backward()

            ms, _ = measured(step, reps)
            extra = extra_gib(torch.cuda.max_memory_allocated(), x, weight)
            return row("dapo-loss-hidden", "liger-fused-linear-grpo", n, v, "bf16", ms, 0,
                       f"H={h}, compiled, chunk_size 1: {6 * n * h * v / ms / 1e9:.0f} TFLOP/s of 6NHV; extra {extra:.2f} GiB",
                       h=h, extraGiB=extra)
        guarded(rows, failures, make)


def import_liger(folder, failures):
    if not folder or not os.path.isdir(os.path.join(folder, "liger_kernel")):
        failures.append(f"--liger {folder!r} holds no liger_kernel/ (run scripts/stage-peers.sh)")
        return None, None
    sys.path.insert(0, os.path.abspath(folder))
    try:
        from liger_kernel.chunked_loss import grpo_loss as chunked
        from liger_kernel.ops import grpo_loss as op
        return op, chunked
    except Exception:
        failures.append(traceback.format_exc(limit=3))
        return None, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--liger", default=".devcarry/peers", help="folder holding the staged liger_kernel/")
    parser.add_argument("--json", required=True, help="where to write the rows")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 2048 if args.quick else 16384
    vocabs = (32768, 151936) if args.quick else (32768, 151936, 262144)
    hs = (896,) if args.quick else (896, 3584)
    reps = 5 if args.quick else 9
    rows, failures = [], []
    op, chunked = import_liger(args.liger, failures)
    for v in vocabs:
        if op:
            liger_op_rows(op, n, v, reps, rows, failures)
        torch_rows(n, v, reps, rows, failures)
    torch_head_rows(n, hs, 151936, reps, rows, failures)
    if chunked:
        liger_head_rows(chunked, n, hs, 151936, 3, rows, failures)
    with open(args.json, "w") as f:
        json.dump(rows, f, indent=1)
    for r in rows:
        print(f"{r.get('kernel')} {r.get('impl')} n={r.get('n')} v={r.get('v')} {r.get('dtype')}: "
              f"{r.get('medianMs', float('nan')):.3f} ms  {r.get('note', '')}")
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
