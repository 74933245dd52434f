"""Stereo-derived targets (paper 002): each matcher against ground-truth disparity.

For every rectified pair with ground truth in ../shared/data (KITTI 2015, Middlebury 2003
cones/teddy, 2006 Aloe, 2014 Motorcycle and the Middlebury v3 training scenes at quarter size)
and Aloe from Debian's opencv-doc (skipped when absent), prints a markdown table: the bad-pixel
rate (|d - d_gt| > 3 px) and the mean end-point error on the ground-truth pixels each method
gives a value, the density (fraction of ground-truth pixels with a value), and the wall time per
pair (median and min of ``--repeat`` runs, after one warm-up run per method that also loads
numba's compiled ELAS loops); then the means over the KITTI and the Middlebury pairs.
``--ablation`` compares ELAS settings instead; ``--numpy-baseline`` also times ELAS's dense step against the cheapest vectorised-numpy
equivalent (costing every disparity, without the prior): the measurement behind numba.

    .venv/bin/python benchmarks/bench_stereo.py --repeat 5
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from rgb2depth.data.elas import ElasParams
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
    "sgbm + WLS": dict(method="sgbm_wls", lr_max_diff=None, texture=None, speckle_window=0),
    "sgbm + WLS + filters": dict(method="sgbm_wls"),
    "elas": dict(method="elas"),
}

#: ``--ablation``: ELAS with one setting changed at a time (the evidence for its defaults)
ABLATION = {
    "elas": dict(method="elas"),
    "elas, corner support points": dict(method="elas", elas=ElasParams(add_corners=True)),
    "elas, integer disparities": dict(method="elas", elas=ElasParams(subpixel=False)),
    "elas, no adaptive mean": dict(method="elas", elas=ElasParams(adaptive_mean=False)),
    "elas, 3x3 median, no adaptive mean": dict(method="elas", elas=ElasParams(adaptive_mean=False, median=True)),
    "elas, no gap interpolation": dict(method="elas", elas=ElasParams(gap_width=0)),
    "elas, LR check 2 px (libelas)": dict(method="elas", lr_max_diff=2.0),
    "elas, speckles 100 px / 2 px": dict(method="elas", speckle_window=100, speckle_range=2.0),
    "elas, no CLAHE": dict(method="elas", equalize=False),
    "elas, no LR check / speckles / gaps / smoothing": dict(
        method="elas", lr_max_diff=None, speckle_window=0,
        elas=ElasParams(gap_width=0, adaptive_mean=False)),
}


def numpy_baseline(data) -> None:
    """ELAS's dense step (left view) in numba vs the cost volume vectorised numpy would need."""
    import cv2

    from rgb2depth.data import elas
    from rgb2depth.data.stereo import equalize

    L, R, _, nd = load_benchmark_pair("kitti2015/000046_10", data)
    dl, dr = (elas.descriptors(cv2.cvtColor(equalize(x), cv2.COLOR_RGB2GRAY)) for x in (L, R))
    p = elas.ElasParams()
    pts = elas.support_points(dl, dr, 0, nd - 1, p, 1.0)
    uv, d = pts[:, :2].astype(np.float64), pts[:, 2]
    tri = elas.triangles(uv)
    P = np.zeros(nd + 1, np.int32)

    def dense():
        elas.dense_disparity(dl, dr, -1, uv, d, tri, p, 0, nd - 1, P, 2)

    def cost_volume():
        a, b = dl.astype(np.int16), dr.astype(np.int16)
        best = np.full(a.shape[:2], 1 << 30, np.int32)
        for k in range(nd):
            np.minimum(best[:, k:], np.abs(a[:, k:] - b[:, : a.shape[1] - k]).sum(-1, dtype=np.int32), out=best[:, k:])

    for name, fn in (("numba dense step (one view)", dense), ("numpy SAD cost volume, 128 disparities", cost_volume)):
        fn()
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        print(f"{name}: median {np.median(ts):.3f} s, min {min(ts):.3f} s (KITTI 000046, 1242x375)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per cell (median and min reported)")
    ap.add_argument("--pairs", default="", help="only pairs whose name contains this")
    ap.add_argument("--numpy-baseline", action="store_true", help="also time ELAS's dense step in numpy vs numba")
    ap.add_argument("--ablation", action="store_true", help="ELAS variants (one setting changed each) instead of the methods")
    args = ap.parse_args()
    data = shared_data_dir()
    if data is None:
        print("../shared/data is absent: only the Aloe pair (opencv-doc) can be measured")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)\n")
    print("| pair | method | bad > 3 px | EPE px | density | time median s | time min s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    totals: dict[tuple[str, str], list] = {}
    warmed = set()
    for name in BENCHMARK_PAIRS:
        if args.pairs not in name:
            continue
        pair = load_benchmark_pair(name, data)
        if pair is None:
            print(f"| {name} | (absent, skipped) | | | | | |")
            continue
        L, R, G, nd = pair
        group = "KITTI" if name.startswith("kitti") else "Middlebury"
        for vname, kw in (ABLATION if args.ablation else VARIANTS).items():
            if kw["method"] == "sgbm_wls" and not has_wls():
                continue
            cfg = StereoConfig(num_disparities=nd, **kw)
            if vname not in warmed:
                compute_disparity(L, R, cfg)
                warmed.add(vname)
            times = []
            for _ in range(max(1, args.repeat)):
                t0 = time.perf_counter()
                res = compute_disparity(L, R, cfg)
                times.append(time.perf_counter() - t0)
            e = evaluate_disparity(res.disparity, G, 3.0)
            e["time"], e["tmin"] = float(np.median(times)), min(times)
            totals.setdefault((group, vname), []).append(e)
            print(f"| {name} | {vname} | {100 * e['bad']:.2f} % | {e['epe']:.2f} | {100 * e['kept']:.1f} % "
                  f"| {e['time']:.3f} | {e['tmin']:.3f} |", flush=True)
    if not has_wls():
        print("\n(WLS rows skipped: cv2.ximgproc is missing: this OpenCV is not the contrib build)")
    print("\nmeans over the pairs of each group (unweighted)\n")
    print("| group | method | pairs | bad > 3 px | EPE px | density | time median s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for (group, vname), es in totals.items():
        print(f"| {group} | {vname} | {len(es)} | {100 * np.mean([e['bad'] for e in es]):.2f} % "
              f"| {np.mean([e['epe'] for e in es]):.2f} | {100 * np.mean([e['kept'] for e in es]):.1f} % "
              f"| {np.mean([e['time'] for e in es]):.3f} |")
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.numpy_baseline and data is not None:
        print()
        numpy_baseline(data)


if __name__ == "__main__":
    main()
