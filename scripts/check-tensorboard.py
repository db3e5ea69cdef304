#!/usr/bin/env python3
"""Loads a run's TensorBoard event files with TensorBoard's own reader and compares every scalar
with the run's metrics.jsonl (issue 14: the files dapo writes must be what TensorBoard reads).
Run by scripts/device-check.sh on the GPU machine, whose python has tensorboard.

    python3 scripts/check-tensorboard.py RUN_DIR

Exit 0 when every finite metric of every step is a scalar at that step, equal to float32
precision, and TensorBoard reads no scalar that metrics.jsonl lacks."""
import json
import math
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main() -> int:
    run = Path(sys.argv[1])
    accumulator = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    accumulator.Reload()
    read = {
        (tag, event.step): event.value
        for tag in accumulator.Tags()["scalars"]
        for event in accumulator.Scalars(tag)
    }
    expected = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        for tag, value in row.items():
            if tag != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                expected[(tag, row["step"])] = float(value)
    missing = sorted(set(expected) - set(read))
    extra = sorted(set(read) - set(expected))
    wrong = [
        (key, expected[key], read[key])
        for key in sorted(set(expected) & set(read))
        if abs(read[key] - expected[key]) > 1e-6 * max(1.0, abs(expected[key]))
    ]
    tags = {tag for tag, _ in read}
    print(f"tensorboard read {len(read)} scalars, {len(tags)} tags, from {run / 'tensorboard'}")
    for name, items in (("missing", missing), ("not in metrics.jsonl", extra), ("different", wrong)):
        if items:
            print(f"{name}: {len(items)}, e.g. {items[:5]}")
    return 0 if read and not (missing or extra or wrong) else 1


if __name__ == "__main__":
    sys.exit(main())
