"""Score models on the TRAINING-SIDE validation sets of the default-model recipe, one by one.

The trainer's validation mixes every set into one per-image mean, which the synthetic rooms
dominate (150 of 247 images). To choose between runs by what matters (real photos), this
scores each set separately, at the model's input size, protocol ``none`` 1e-3..20 m:

- ``tum_rpy_tail``: TUM fr1/rpy frames 620+ (the desk of the training frames, 20 frames later),
- ``7scenes_tail``: 7-Scenes kitchen frames 230+ (the kitchen of the training frames),
- ``middlebury_held_out``: MiddEval3 Playroom, Recycle, Vintage (scenes never trained on),
- ``synth_first``: 150 rooms of the first generator (seed 9000), when pre-rendered in the cache,
- ``synth_widened``: 150 rooms of the widened generator (seed 9100, random focal lengths),

and the mean over the three real sets (each set weighted equally); each set's ``scale`` is the
median over its images of median(ground truth) / median(prediction) (> 1: predicted too near) and
its ``slope`` the median of the per-image slope of ln(prediction) on ln(ground truth) (< 1: the
depth range squeezed; ``eval_depth_range.py`` reports it with the test sets), plus

- ``middlebury_structure``: the 27 Middlebury 2005/2006 scenes (never trained on), inverse depth
  fitted to disparity by scale and shift (``eval_relative_middlebury.py``); its ``delta1`` is
  in disparity,
- ``criterion``: the rule that chooses runs from run E on (docs/results/default_model_v3.md):
  the mean delta1 over the sets no training image shows, ``middlebury_held_out``,
  ``middlebury_structure``, ``synth_first`` and ``synth_widened``,
- ``middlebury_structure_2005`` and ``criterion_2005``: the same with the structure of the 6
  Middlebury 2005 scenes only (reported for runs that train on the 2006 scenes as relative
  depth, ``middlebury_relative``),
- ``criterion_metric``: the mean over ``middlebury_held_out``, ``synth_first`` and
  ``synth_widened`` alone, the comparison between runs with and without relative Middlebury
  training (the 2005 scenes are the same kind of scene as the 2006 ones, so their structure is
  not unseen for such runs; docs/results/default_model_v3.md, session 16).

The NYU sample and TUM fr3/cabinet are test sets and are not scored here. ``--flip`` scores
with test-time flip averaging (``rgb2depth.load(..., flip=True)``, ``evaluate --flip``).

    .venv/bin/python benchmarks/eval_training_side.py runs/v3/a/model.pt runs/v3/b/model.pt
"""

from __future__ import annotations

import argparse
import json
import sys

REAL = ("tum_rpy_tail", "7scenes_tail", "middlebury_held_out")
UNSEEN = ("middlebury_held_out", "middlebury_structure", "synth_first", "synth_widened")


def sets(data: str, cache: str) -> dict[str, list[dict]]:
    mb = f"{data}/middlebury/MiddEval3/trainingQ"
    return {
        "tum_rpy_tail": [{"name": "tum", "root": f"{data}/tum/rgbd_dataset_freiburg1_rpy", "select": {"start": 620}}],
        "7scenes_tail": [{"name": "seven_scenes", "root": f"{data}/7scenes/redkitchen_seq", "select": {"start": 230}}],
        "middlebury_held_out": [{"name": "middlebury", "root": f"{mb}/{s}"} for s in ("Playroom", "Recycle", "Vintage")],
        "synth_first": [{"name": "folder", "root": f"{cache}/synth_a_val"}],
        "synth_widened": [{"name": "synth", "count": 150, "size": [192, 256], "seed": 9100,
                           "scene_types": "mix", "focal_range": [500, 640]}],
    }


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


def score_set(model, items: list[dict], size: tuple[int, int], flip: bool = False, **protocol) -> dict:
    """One set (its loader specs ``items``) scored at input ``size`` under ``protocol`` (keywords
    of ``evaluate_dataset``): delta1 / AbsRel / RMSE as the image-weighted mean over the items, and
    the median over images of the per-image ``scale`` (:func:`scale_factor`), ``slope`` and
    ``log_corr`` (:func:`log_slope`)."""
    import numpy as np

    from rgb2depth.evaluation.evaluate import build_eval_dataset, evaluate_dataset

    scores, per = [], []
    for it in items:
        ds = build_eval_dataset(it, size=size)
        res = evaluate_dataset(model, ds, input_size=size, batch_size=8, keep_images=len(ds), flip=flip, **protocol)
        scores.append((res["metrics"], len(ds)))
        per += [(scale_factor(im["gt"], im["pred"]), *log_slope(im["gt"], im["pred"])) for im in res["images"]]
    n = sum(c for _, c in scores)
    out = {k: float(sum(m[k] * c for m, c in scores) / n) for k in ("delta1", "abs_rel", "rmse")}
    a = np.array(per)
    return {**out, "scale": float(np.median(a[:, 0])), "slope": float(np.nanmedian(a[:, 1])),
            "log_corr": float(np.nanmedian(a[:, 2])), "images": n}


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


def structure_row(per: list[dict]) -> dict:
    """Mean of per-scene structure scores (``eval_relative_middlebury.structure_scores``)."""
    import numpy as np

    return {"delta1": float(np.mean([r["delta1_disp"] for r in per])),
            "abs_rel": float(np.mean([r["absrel_disp"] for r in per])),
            "spearman": float(np.mean([r["spearman"] for r in per])), "images": len(per)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="model files (or 'default')")
    ap.add_argument("-o", "--output", default=None, help="write the table as JSON")
    ap.add_argument("--flip", action="store_true", help="test-time flip averaging")
    args = ap.parse_args(argv)

    from pathlib import Path

    import numpy as np

    from rgb2depth.evaluation.evaluate import load_any_model
    from rgb2depth.paths import cache_dir

    data = real_data()
    if data is None:
        return 2
    specs = sets(str(data), str(cache_dir()))
    from eval_relative_middlebury import scenes, structure_scores

    found = scenes(data / "middlebury")
    relative = [(rgb, disp) for _, rgb, disp in found]
    years = [sid.split("/")[0] for sid, _, _ in found]
    results = {}
    for name in args.models:
        model, _ = load_any_model(name)
        size = tuple(model.meta.input_size)
        row = {}
        for key, items in specs.items():
            if key == "synth_first" and not Path(items[0]["root"]).is_dir():
                continue
            r = score_set(model, items, size, flip=args.flip, protocol="none", min_depth=1e-3, max_depth=20.0)
            row[key] = {k: r[k] for k in ("delta1", "abs_rel", "rmse", "scale", "slope", "images")}
        row["real_mean"] = {k: float(np.mean([row[s][k] for s in REAL])) for k in ("delta1", "abs_rel", "rmse")}
        if relative:
            from rgb2depth import load

            pred = load(name, flip=args.flip)
            per = [structure_scores(pred.predict(rgb), disp) for rgb, disp in relative]
            row["middlebury_structure"] = structure_row(per)
            row["middlebury_structure_2005"] = structure_row([r for r, y in zip(per, years, strict=True) if y == "2005"])
        for key, structure in (("criterion", ("middlebury_structure",)), ("criterion_2005", ("middlebury_structure_2005",)),
                               ("criterion_metric", ())):
            sets_ = (*UNSEEN[:1], *structure, *UNSEEN[2:])
            if all(k in row for k in sets_):
                row[key] = {k: float(np.mean([row[s][k] for s in sets_])) for k in ("delta1", "abs_rel")}
        results[name] = row
        print(name)
        for key, m in row.items():
            extra = "".join(f"  {k} {m[k]:.3f}" for k in ("rmse", "spearman", "scale", "slope") if k in m)
            print(f"  {key:20s} delta1 {m['delta1']:.3f}  abs_rel {m['abs_rel']:.3f}{extra}"
                  + (f"  ({m['images']} images)" if "images" in m else ""))
    if args.output:
        from rgb2depth.fileio import write_text

        write_text(args.output, json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
