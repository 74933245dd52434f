"""Recompute the BatchNorm statistics of a trained model file over batches of its training data
(precise BN, :mod:`rgb2depth.training.precise_bn`): what ``train.precise_bn`` does at the end of
a run, for a model file that was trained without it. The weights are unchanged; the data,
augmentation and batch size are the config's; the draw of batches is seeded (by default the
config's seed plus the model's step count, as the trainer does) and the dataset's augmentation
is that of the config's last epoch.

    .venv/bin/python benchmarks/precise_bn.py runs/v3/m_pbn.pt default --config configs/default_v3_photo_long.yaml
    .venv/bin/python benchmarks/eval_training_side.py runs/v3/m_pbn.pt
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", help="model file to write")
    ap.add_argument("model", help="trained model file ('default': the shipped weights)")
    ap.add_argument("--config", required=True, help="the training config the model was trained with")
    ap.add_argument("--batches", type=int, default=200, help="training batches to average over (default 200)")
    ap.add_argument("--seed", type=int, default=None, help="seed of the batch draw (default: config seed + steps)")
    args = ap.parse_args(argv)

    import torch

    from rgb2depth.inference.resolve import default_weights_path
    from rgb2depth.models.io import load_model, save_model
    from rgb2depth.training.builders import import_plugins
    from rgb2depth.training.config import load_config
    from rgb2depth.training.data import build_dataset
    from rgb2depth.training.precise_bn import draw_seed, recompute_bn_stats

    torch.set_num_threads(2)
    cfg = load_config(args.config)
    import_plugins(cfg.get("imports"))  # a plugin network or dataset the config names
    path = str(default_weights_path()) if args.model == "default" else args.model
    model = load_model(path)
    info = dict(getattr(model, "rgb2depth_info", None) or {})
    seed = args.seed if args.seed is not None else draw_seed(cfg["seed"], info.get("steps") or 0)
    ds = build_dataset(cfg, "train", int(cfg["seed"]), progress=True)
    ds.set_epoch(int(cfg["train"]["epochs"]) - 1)
    out = recompute_bn_stats(model, ds, args.batches, int(cfg["train"]["batch_size"]), seed=seed, progress=True)
    info["precise_bn"] = {"batches": args.batches, "seed": seed, "config": args.config}
    save_model(out, args.output, info=info)
    print(f"wrote {args.output}: {path} with BatchNorm statistics over {args.batches} batches (seed {seed})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
