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


def sets(data: str, test_sets: bool) -> dict[str, tuple[list[dict], dict]]:
    """name -> (loader specs, evaluation protocol keywords): ``eval_training_side.py``'s sets with
    metric depth of real scenes, and the evaluation presets ``nyu_mini`` and ``tum_val``."""
    from eval_training_side import REAL
    from eval_training_side import sets as training_side
    from rgb2depth.evaluation.evaluate import resolve_dataset_spec
    from rgb2depth.paths import cache_dir

    none = {"protocol": "none", "min_depth": 1e-3, "max_depth": 20.0}
    specs = training_side(data, str(cache_dir()))
    out = {k: (specs[k], none) for k in REAL}
    if test_sets:
        out["nyu_sample (test, reported only)"] = ([resolve_dataset_spec("nyu_mini")], {"protocol": "nyu"})
        out["tum_cabinet (test, reported only)"] = (
            [resolve_dataset_spec("tum_val")], {"protocol": "none", "min_depth": 1e-3, "max_depth": 10.0})
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

    # sibling scripts: benchmarks/ is sys.path[0] when this file runs
    from eval_training_side import real_data, score_set
    from rgb2depth.evaluation.evaluate import load_any_model

    data = real_data()
    if data is None:
        return 2
    results = {}
    for name in args.models:
        model, _ = load_any_model(name)
        size = (h, w) if args.size is not None else tuple(model.meta.input_size)
        row = {}
        for key, (items, proto) in sets(str(data), args.test_sets).items():
            r = score_set(model, items, size, **proto)
            row[key] = {k: r[k] for k in ("delta1", "scale", "slope", "log_corr", "images")}
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
