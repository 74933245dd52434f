"""Is a model's error on a scene a wrong scale or a squeezed depth range? Per set, per image:

- ``scale``: median(ground truth) / median(prediction) on the scored pixels (> 1: predicted too
  near); the median over the set's images is reported;
- ``slope``: the least-squares slope of ln(prediction) on ln(ground truth) over the scored
  pixels. 1: the prediction spans the true range of depths; < 1: the range is squeezed toward
  the prediction's middle, so the far parts of the scene are placed too near and the near parts
  too far (what a regressor does where its cues are weak: it pulls toward the depths it was
  trained on). The median over the set's images is reported, with the correlation of the logs.

Sets: the training-side sets of ``eval_training_side.py`` with metric depth (the tails of TUM
fr1/rpy and 7-Scenes, whose scenes the default recipe trains on, and the three held-out
Middlebury scenes, which no training image shows) and, with ``--test-sets``, the NYU sample
(protocol ``nyu``) and the TUM fr3/cabinet keyframes (protocol ``none``, 1e-3..10 m): those are
test sets, reported to describe a model's failure, never to choose one. ``delta1`` follows each
set's protocol; ``scale`` and ``slope`` use every pixel with ground truth in 1e-3..20 m.

``--size HxW`` runs the network at another input size than the model's own (a network trained at
one size reads apparent size in pixels as a cue to depth, so this moves the scale).

    .venv/bin/python benchmarks/eval_depth_range.py default --test-sets
    .venv/bin/python benchmarks/eval_depth_range.py default --size 240x320
"""

from __future__ import annotations

import argparse
import json
import sys


def scored(gt, pred, max_depth: float = 20.0):
    """(gt, pred) as float64 over the pixels both give a usable depth (gt 1e-3..``max_depth``)."""
    import numpy as np

    gt, pred = np.asarray(gt, np.float64), np.asarray(pred, np.float64)
    ok = np.isfinite(gt) & (gt > 1e-3) & (gt < max_depth) & np.isfinite(pred) & (pred > 0)
    return gt[ok], pred[ok]


def scale_factor(gt, pred) -> float:
    """median(ground truth) / median(prediction) on the scored pixels: the factor that would put
    the prediction at the right median depth (> 1: predicted too near)."""
    import numpy as np

    g, p = scored(gt, pred)
    return float(np.median(g) / np.median(p))


def log_slope(gt, pred) -> tuple[float, float]:
    """(slope, correlation) of ln(prediction) regressed on ln(ground truth) over the scored
    pixels; NaN when the ground truth has no spread."""
    import numpy as np

    g, p = scored(gt, pred)
    x, y = np.log(g), np.log(p)
    vx = float(np.var(x))
    if g.size < 2 or vx <= 0:
        return float("nan"), float("nan")
    cov = float(np.mean((x - x.mean()) * (y - y.mean())))
    vy = float(np.var(y))
    return cov / vx, (cov / np.sqrt(vx * vy) if vy > 0 else float("nan"))


def real_data():
    """The shared real-data folder (None, said on stderr, when it is absent), with PyTorch on the
    2 threads every evaluation here is measured with."""
    import torch

    from rgb2depth.paths import shared_data_dir

    data = shared_data_dir()
    if data is None:
        print("the real-data folder ../shared/data is absent", file=sys.stderr)
    torch.set_num_threads(2)
    return data


def sets(data: str, test_sets: bool) -> dict[str, tuple[list[dict], dict]]:
    """name -> (loader specs, evaluation protocol keywords)."""
    mb = f"{data}/middlebury/MiddEval3/trainingQ"
    none = {"protocol": "none", "min_depth": 1e-3, "max_depth": 20.0}
    out = {
        "tum_rpy_tail": ([{"name": "tum", "root": f"{data}/tum/rgbd_dataset_freiburg1_rpy", "select": {"start": 620}}], none),
        "7scenes_tail": ([{"name": "seven_scenes", "root": f"{data}/7scenes/redkitchen_seq", "select": {"start": 230}}], none),
        "middlebury_held_out": ([{"name": "middlebury", "root": f"{mb}/{s}"} for s in ("Playroom", "Recycle", "Vintage")], none),
    }
    if test_sets:
        out["nyu_sample (test, reported only)"] = (
            [{"name": "nyu_csv", "csv_path": f"{data}/nyu/nyu2_mini_test/nyu2_mini_test.csv"}],
            {"protocol": "nyu"})
        out["tum_cabinet (test, reported only)"] = (
            [{"name": "tum_keyframes", "root": f"{data}/tum/freiburg3_cabinet_keyframes"}],
            {"protocol": "none", "min_depth": 1e-3, "max_depth": 10.0})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="model files (or 'default')")
    ap.add_argument("--test-sets", action="store_true", help="also the NYU sample and TUM fr3/cabinet (reported only)")
    ap.add_argument("--size", default=None, help="network input HxW (default: the model's own)")
    ap.add_argument("-o", "--output", default=None, help="write the table as JSON")
    args = ap.parse_args(argv)
    if args.size is not None:
        try:
            h, w = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            ap.error(f"--size must be HxW, e.g. 240x320, got {args.size!r}")

    import numpy as np

    from rgb2depth.evaluation.evaluate import build_eval_dataset, evaluate_dataset, load_any_model

    data = real_data()
    if data is None:
        return 2
    results = {}
    for name in args.models:
        model, _ = load_any_model(name)
        size = (h, w) if args.size is not None else tuple(model.meta.input_size)
        row = {}
        for key, (items, proto) in sets(str(data), args.test_sets).items():
            per, n, d1 = [], 0, 0.0
            for it in items:
                ds = build_eval_dataset(it, size=size)
                res = evaluate_dataset(model, ds, input_size=size, batch_size=8, keep_images=len(ds), **proto)
                d1 += res["metrics"]["delta1"] * len(ds)
                n += len(ds)
                per += [(scale_factor(im["gt"], im["pred"]), *log_slope(im["gt"], im["pred"])) for im in res["images"]]
            a = np.array(per)
            row[key] = {"delta1": d1 / n, "scale": float(np.median(a[:, 0])), "slope": float(np.nanmedian(a[:, 1])),
                        "log_corr": float(np.nanmedian(a[:, 2])), "images": n}
        results[name] = row
        print(name)
        for key, m in row.items():
            print(f"  {key:34s} delta1 {m['delta1']:.3f}  scale {m['scale']:.3f}  slope {m['slope']:.2f}"
                  f"  log corr {m['log_corr']:.2f}  ({m['images']} images)")
    if args.output:
        from rgb2depth.fileio import write_text

        write_text(args.output, json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
