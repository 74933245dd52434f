"""Does a model read metric scale from low-level image statistics? Score its scale on rendered
rooms as rendered and with the look of a camera photo added (defocus blur, sensor noise, JPEG:
``rgb2depth.data.transforms.camera_effects``; fine surface detail unrelated to the geometry:
``texture_detail``), same rooms, same focal lengths.

The shipped v3 model predicts the right scale on rendered rooms and on its training scenes but
20-30 % too near on real scenes no training image shows (docs/results/default_model_v3.md). If
photo-like noise alone moves its scale the same way on rooms it gets right, the network tells
renders from photos by such cues and ties scale to them.

``--detail`` first prints how much fine detail (``transforms.fine_detail_std``) each
training-side set carries at the input size, rendered rooms against real frames.

Prints, per way, the median over rooms of median(ground truth) / median(prediction) (> 1:
predicted too near) and the mean log change from the clean rooms. Rooms: the widened
generator's seed 9100 (the ``synth_widened`` selection set of ``eval_training_side.py``).

    .venv/bin/python benchmarks/eval_camera_effects.py default runs/v3/default_v3_photo/model.pt
    .venv/bin/python benchmarks/eval_camera_effects.py --detail default
"""

from __future__ import annotations

import argparse

import numpy as np

#: way -> (transform name in rgb2depth.data.transforms, its keywords); None: as rendered.
WAYS = {
    "rendered": None,
    "blur sigma 1.2": ("camera_effects", dict(blur=1.0, blur_sigma=(1.2, 1.2))),
    "noise std 5": ("camera_effects", dict(noise=(5.0, 5.0))),
    "JPEG q40": ("camera_effects", dict(jpeg=1.0, jpeg_quality=(40, 40))),
    "all three (1.0, 4, q50)": ("camera_effects", dict(blur=1.0, blur_sigma=(1.0, 1.0), noise=(4.0, 4.0), jpeg=1.0,
                                                       jpeg_quality=(50, 50))),
    # a photograph's strength of fine detail (renders: a sigma-2 high-pass std of ~5, real frames 12-18)
    "texture detail std 8": ("texture_detail", dict(amount=(8.0, 8.0), sigma=(2.0, 2.0))),
    "texture detail std 16": ("texture_detail", dict(amount=(16.0, 16.0), sigma=(2.0, 2.0))),
}


def scales(model: str, rooms: int) -> dict[str, list[float]]:
    from eval_training_side import scale_factor, sets
    from rgb2depth.data import transforms
    from rgb2depth.inference.api import load
    from rgb2depth.training.data import build_source

    p = load(model, backend="torch", threads=1)
    (item,) = sets(data="", cache="")["synth_widened"]  # rendered: needs neither folder
    ds = build_source({**item, "count": rooms})
    out: dict[str, list[float]] = {k: [] for k in WAYS}
    for i in range(len(ds)):
        s = ds[i]
        gt = np.where(s["valid"], s["depth"], np.nan)
        for k, opt in WAYS.items():
            rgb = s["rgb"] if opt is None else getattr(transforms, opt[0])(s, np.random.default_rng(i), **opt[1])["rgb"]
            out[k].append(scale_factor(gt, p.predict_rgb(rgb, focal=s["K"].fx)))
    return out


def detail_table(size=(192, 256), per_set: int = 30) -> None:
    """Median fine-detail std of up to ``per_set`` images of each training-side set of
    ``eval_training_side.py`` (its renders and its real frames), resized to ``size``."""
    import cv2

    from eval_training_side import real_data, sets
    from rgb2depth.data.transforms import fine_detail_std
    from rgb2depth.paths import cache_dir
    from rgb2depth.training.data import build_source

    data = real_data()
    print("| set | images | median fine-detail std |\n| --- | ---: | ---: |")
    for key, items in sets(str(data), str(cache_dir())).items():
        v = []
        for it in items:
            try:
                ds = build_source({**it, "count": per_set} if it["name"] == "synth" else it)
            except (OSError, ValueError) as e:  # a real set without ../shared/data, or no renders
                print(f"| {key} | skipped: {e} | |")
                break
            for i in range(0, len(ds), max(1, len(ds) // per_set)):
                rgb = cv2.resize(ds[i]["rgb"], size[::-1], interpolation=cv2.INTER_AREA)
                v.append(fine_detail_std(rgb))
        if v:
            print(f"| {key} | {len(v)} | {np.median(v):.1f} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="model files (or 'default')")
    ap.add_argument("--rooms", type=int, default=40, help="rendered rooms (default 40)")
    ap.add_argument("--detail", action="store_true", help="first, the fine detail of each training-side set")
    args = ap.parse_args(argv)
    if args.detail:
        detail_table()
    print("| model | way | median scale | mean log change |\n| --- | --- | ---: | ---: |")
    for m in args.models:
        r = scales(m, args.rooms)
        base = np.log(np.array(r["rendered"]))
        for k, v in r.items():
            print(f"| {m} | {k} | {np.median(v):.3f} | {np.mean(np.log(np.array(v)) - base):+.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
