"""Stereo-derived targets (paper 002): each matcher against ground-truth disparity.

For every rectified pair with ground truth in ../shared/data (KITTI 2015, Middlebury 2003
cones/teddy, Middlebury 2014 Motorcycle at quarter size) and Aloe from Debian's opencv-doc
(skipped when absent), prints the bad-pixel rate (|d - d_gt| > 3 px) and the mean end-point
error on the pixels each method keeps, the fraction of ground-truth pixels kept, and the time.

    .venv/bin/python benchmarks/bench_stereo.py
    # with the WLS row: opencv-contrib installed *outside* the venv (it conflicts with
    # opencv-python-headless), e.g.
    #   .venv/bin/pip install --no-deps --target /tmp/contrib opencv-contrib-python-headless==<cv2 version>
    #   PYTHONPATH=/tmp/contrib .venv/bin/python benchmarks/bench_stereo.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rgb2depth.data.stereo import (
    BENCHMARK_PAIRS,
    StereoConfig,
    compute_disparity,
    evaluate_disparity,
    has_wls,
    load_benchmark_pair,
)
from rgb2depth.paths import shared_data_dir

VARIANTS = {
    "bm (matcher only)": dict(method="bm", lr_max_diff=None, texture=None, speckle_window=0),
    "bm + LR/texture/speckle": dict(method="bm"),
    "sgbm (matcher only)": dict(method="sgbm", lr_max_diff=None, texture=None, speckle_window=0),
    "sgbm + LR/texture/speckle": dict(method="sgbm"),
    "sgbm no CLAHE + filters": dict(method="sgbm", equalize=False),
    "sgbm + WLS (contrib)": dict(method="sgbm_wls", lr_max_diff=None, texture=None, speckle_window=0),
    "sgbm + WLS + filters": dict(method="sgbm_wls"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per cell (median reported)")
    args = ap.parse_args()
    data = shared_data_dir()
    if data is None:
        print("../shared/data is absent: only the Aloe pair (opencv-doc) can be measured")
    rows = []
    totals: dict[str, list] = {}
    print(f"{'pair':28s} {'method':27s} {'bad>3px':>8s} {'EPE px':>7s} {'kept':>6s} {'time s':>7s}")
    for name in BENCHMARK_PAIRS:
        pair = load_benchmark_pair(name, data)
        if pair is None:
            print(f"{name:28s} (absent, skipped)")
            continue
        L, R, G, nd = pair
        for vname, kw in VARIANTS.items():
            if kw["method"] == "sgbm_wls" and not has_wls():
                continue
            cfg = StereoConfig(num_disparities=nd, **kw)
            times = []
            for _ in range(max(1, args.repeat)):
                t0 = time.perf_counter()
                res = compute_disparity(L, R, cfg)
                times.append(time.perf_counter() - t0)
            e = evaluate_disparity(res.disparity, G, 3.0)
            rows.append((name, vname, e))
            totals.setdefault(vname, []).append(e)
            print(f"{name:28s} {vname:27s} {100 * e['bad']:7.1f}% {e['epe']:7.2f} {100 * e['kept']:5.1f}% {np.median(times):7.2f}")
    if not has_wls():
        print("(WLS rows skipped: cv2.ximgproc from opencv-contrib is not importable)")
    print("\nmean over pairs (unweighted)")
    for vname, es in totals.items():
        print(f"{'':28s} {vname:27s} {100 * np.mean([e['bad'] for e in es]):7.1f}% "
              f"{np.mean([e['epe'] for e in es]):7.2f} {100 * np.mean([e['kept'] for e in es]):5.1f}%")


if __name__ == "__main__":
    main()
