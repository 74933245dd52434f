"""Cost of writing outputs atomically (temporary file, fsync, rename). Not a test: run by hand.

    .venv/bin/python benchmarks/bench_outputs.py              # 480x640 depth, 30 rounds
    .venv/bin/python benchmarks/bench_outputs.py --size 240x320 --rounds 50

Per round, in one run and interleaved (so that machine load affects every variant alike):

1. the ``predict`` outputs of one depth map (npy float32, png16, colour PNG; the colour map is
   computed in every variant) written by :class:`rgb2depth.inference.outputs.OutputWriter`
   (atomic, with fsync), the same with ``os.fsync`` replaced by a no-op, and by the code
   before the change (``np.save`` + ``cv2.imwrite`` straight into the destination);
2. a model file of ``unet_realtime`` by :func:`rgb2depth.models.io.atomic_save` against a plain
   ``torch.save`` to the destination.

Reports median and minimum milliseconds per round and the ratios of the medians. The files go
to a temporary folder in the current directory (the disk the outputs would be written to).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="480x640", help="depth map H x W")
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.lower().split("x"))

    import os

    import cv2
    import torch

    from rgb2depth import models
    from rgb2depth.inference.outputs import OutputWriter, color_image, depth_to_png16
    from rgb2depth.models.io import atomic_save, model_record

    rng = np.random.default_rng(0)
    depth = (1.0 + 4.0 * rng.random((h, w))).astype(np.float32)
    record = model_record(models.create("unet_realtime"))
    real_fsync = os.fsync

    def now(out: Path, fsync: bool = True) -> None:
        os.fsync = real_fsync if fsync else (lambda fd: None)
        try:
            OutputWriter(out, ("npy", "png16", "color")).write("d", depth, None)
        finally:
            os.fsync = real_fsync

    def before(out: Path) -> None:  # the writer's code before the change
        np.save(out / "d.npy", depth)
        cv2.imwrite(str(out / "d_depth.png"), depth_to_png16(depth))
        cv2.imwrite(str(out / "d_color.png"), np.ascontiguousarray(color_image(depth)[..., ::-1]))

    variants = {
        "outputs: atomic + fsync (now)": now,
        "outputs: atomic, fsync skipped": lambda out: now(out, fsync=False),
        "outputs: np.save + cv2.imwrite (before)": before,
        "model file: atomic_save (now)": lambda out: atomic_save(record, out / "m.pt"),
        "model file: torch.save (before)": lambda out: torch.save(record, out / "m.pt"),
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    with tempfile.TemporaryDirectory(dir=".") as d:
        out = Path(d)
        for fn in variants.values():  # warm-up: file creation, encoder tables
            fn(out)
        for _ in range(args.rounds):
            for name, fn in variants.items():
                t0 = time.perf_counter()
                fn(out)
                times[name].append((time.perf_counter() - t0) * 1000.0)
        size_mb = (out / "m.pt").stat().st_size / 1e6
    print(f"{h}x{w} depth map (npy + png16 + colour PNG, colour map included); unet_realtime model "
          f"file ({size_mb:.1f} MB); {args.rounds} interleaved rounds in {Path('.').resolve()}")
    print(f"{'variant':44s} {'median ms':>10s} {'min ms':>8s}")
    for name, ts in times.items():
        print(f"{name:44s} {statistics.median(ts):10.2f} {min(ts):8.2f}")
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["outputs: np.save + cv2.imwrite (before)"]
    print(f"ratio (medians) outputs now / before: {med['outputs: atomic + fsync (now)'] / base:.2f}; "
          f"fsync skipped / before: {med['outputs: atomic, fsync skipped'] / base:.2f}")
    print(f"ratio (medians) model file now / before: "
          f"{med['model file: atomic_save (now)'] / med['model file: torch.save (before)']:.2f}")


if __name__ == "__main__":
    main()
