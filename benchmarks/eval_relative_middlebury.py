"""Structure of predicted depth on the 27 Middlebury 2005/2006 scenes (relative ground truth).

These scenes' disparities are known only up to an unknown offset (no calibration ships with
them), so metric depth cannot be scored. What can be scored is structure, the MiDaS way: the
prediction's inverse depth is fitted to the ground-truth disparity with a least-squares scale
and shift over the valid pixels, then

- ``absrel_disp``: mean |d_fit - d| / d over valid pixels,
- ``delta1_disp``: fraction with max(d_fit / d, d / d_fit) < 1.25,
- ``spearman``: rank correlation of inverse depth and disparity (no fit at all).

Per-image values are averaged over scenes. A flat prediction (every pixel the same depth) is
scored too as the floor: its fit is the mean disparity.

    .venv/bin/python benchmarks/eval_relative_middlebury.py default runs/v3/x/model.pt ...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def scenes(root: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(year/scene, RGB of view 1, its disparity in pixels)`` of every 2005/2006 scene under
    ``root``, read by the package's ``middlebury_relative`` loader (disparity = stored value / 3,
    NaN unknown, as float64 for the fits); an empty list when there is none."""
    from rgb2depth import data
    from rgb2depth.data import DataError

    try:
        src = data.create("middlebury_relative", root=root, views=[1])
    except DataError:
        return []
    return [(s["id"].removesuffix("/view1"), s["rgb"], s["disparity"].astype(np.float64)) for s in src]


def structure_scores(depth: np.ndarray, disp: np.ndarray) -> dict[str, float]:
    """Scale-and-shift fit of inverse depth to disparity, then AbsRel, delta1 and Spearman."""
    from scipy.stats import spearmanr

    inv = 1.0 / np.maximum(depth.astype(np.float64), 1e-6)
    v = np.isfinite(disp) & (disp > 0) & np.isfinite(inv)
    x, y = inv[v], disp[v]
    A = np.stack([x, np.ones_like(x)], 1)
    (s, t), *_ = np.linalg.lstsq(A, y, rcond=None)
    fit = np.maximum(s * x + t, 1e-6)
    ratio = np.maximum(fit / y, y / fit)
    rho = spearmanr(x, y).statistic if np.ptp(x) > 0 else 0.0
    return {"absrel_disp": float(np.mean(np.abs(fit - y) / y)), "delta1_disp": float(np.mean(ratio < 1.25)),
            "spearman": float(rho)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="'default', 'flat' (constant depth), or model files")
    ap.add_argument("--root", type=Path, default=None, help="middlebury folder (default: ../shared/data/middlebury)")
    ap.add_argument("-o", "--output", type=Path, default=None, help="write the per-scene table as JSON")
    args = ap.parse_args(argv)

    from rgb2depth import load
    from rgb2depth.paths import shared_data_dir

    root = args.root
    if root is None:
        data = shared_data_dir()
        if data is None:
            print("the real-data folder ../shared/data is absent", file=sys.stderr)
            return 2
        root = data / "middlebury"
    items = scenes(root)
    if not items:
        print(f"{root}: no 2005/2006 scene (view1.png + disp1.png)", file=sys.stderr)
        return 2
    results = {}
    for name in args.models:
        pred = None if name == "flat" else load(name)
        rows = {}
        for sid, rgb, disp in items:
            depth = np.ones(disp.shape) if pred is None else pred.predict(rgb)
            rows[sid] = structure_scores(depth, disp)
        mean = {k: float(np.mean([r[k] for r in rows.values()])) for k in next(iter(rows.values()))}
        results[name] = {"mean": mean, "per_scene": rows}
        print(f"{name:60s} scenes {len(rows)}  " + "  ".join(f"{k} {v:.3f}" for k, v in mean.items()))
    if args.output:
        from rgb2depth.fileio import write_text

        write_text(args.output, json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
