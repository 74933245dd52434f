"""Data pipeline throughput vs. training speed.

1. A DataLoader over the real TUM fr1/rpy sequence (694 RGB-D pairs, 640x480 JPEG + 16-bit
   PNG) at 240x320 with augmentation (paper 000: flip + rotation up to 15 degrees, plus colour
   jitter), batch 8, with 0 / 1 / 2 workers, (a) decoding every sample each time at 640x480,
   (b) decoding at 320x240 (``reduce=2``: JPEG DCT scaling) and (c) with the decoded-and-resized
   cache (``cache_size=(240, 320)``, filled before the workers fork, as the trainer does). Images per second, median and best over timed passes after a warm-up.
2. A training step of the compact U-Net (``models.create("unet_realtime")``, paper 000) at batch
   8, 240x320, Adam, the paper's L1 + SSIM + edge loss: images per second (median and best).

    .venv/bin/python benchmarks/bench_dataloader.py            # everything (~2-4 min on 2 cores)
    .venv/bin/python benchmarks/bench_dataloader.py --batches 20 --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def time_loader(ds, workers: int, batch: int, batches: int, passes: int) -> list[float]:
    import torch

    dl = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers,
                                     persistent_workers=workers > 0, drop_last=True,
                                     generator=torch.Generator().manual_seed(0))
    rates = []
    for p in range(passes + 1):  # first pass = warm-up (worker start, page cache)
        ds.set_epoch(p)
        it = iter(dl)
        next(it)
        t0 = time.perf_counter()
        for _ in range(batches):
            next(it)
        dt = time.perf_counter() - t0
        if p > 0:
            rates.append(batches * batch / dt)
        del it
    return rates


def time_training(batch: int, steps: int, size=(240, 320), warmup: int = 3) -> list[float] | None:
    import torch

    from rgb2depth import losses, models

    try:
        model = models.create("unet_realtime")
    except (KeyError, ImportError) as e:
        print(f"unet_realtime not available ({e}); training step not measured")
        return None
    try:
        loss_fn = losses.create("combined")
    except (KeyError, ImportError):
        loss_fn = None
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    image = torch.rand(batch, 3, *size, generator=g)
    target = torch.rand(batch, 1, *size, generator=g)
    valid = torch.rand(batch, 1, *size, generator=g) > 0.2
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        pred = model(image)
        if loss_fn is not None:
            loss = loss_fn(pred, torch.where(valid, target, 1.0), valid, rgb=image)
        else:
            loss = (pred - target).abs()[valid].mean()
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    rates = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        rates.append(batch / (time.perf_counter() - t0))
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description="DataLoader vs. U-Net training throughput")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--batches", type=int, default=15, help="timed batches per pass")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10, help="timed training steps")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads for the training step")
    ap.add_argument("--workers", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--warmup", type=int, default=3, help="untimed training steps first")
    ap.add_argument("--train-only", action="store_true", help="only the training-step measurement")
    args = ap.parse_args()

    import cv2
    import torch

    from rgb2depth import data
    from rgb2depth.data import DepthDataset, transforms
    from rgb2depth.paths import shared_data_dir

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    if args.train_only:
        args.workers = []
    root = shared_data_dir()
    if root is None or not (root / "tum" / "rgbd_dataset_freiburg1_rpy").is_dir():
        raise SystemExit("the TUM sequence ../shared/data/tum/rgbd_dataset_freiburg1_rpy is absent")
    seq = root / "tum" / "rgbd_dataset_freiburg1_rpy"
    src = data.create("tum", root=seq)
    src_reduced = data.create("tum", root=seq, reduce=2)  # JPEG decoded at 320x240 directly
    cfg = {"preset": "paper000", "color": {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2}}
    tf = transforms.build(cfg, train=True, size=(240, 320))
    print(f"TUM fr1/rpy: {len(src)} pairs; {tf}; batch {args.batch}; cpu_count {os.cpu_count()}")
    results = {}
    for mode in ("decode", "reduce2", "cache") if args.workers else ():
        ds = DepthDataset(src_reduced if mode == "reduce2" else src, tf, seed=0,
                          cache_size=(240, 320) if mode == "cache" else None)
        if mode == "cache":
            fw = max(args.workers)
            t0 = time.perf_counter()
            ds.fill_cache(num_workers=fw)
            dt = time.perf_counter() - t0
            print(f"cache fill ({fw} workers): {len(ds)} samples in {dt:.1f} s ({len(ds) / dt:.0f} images/s)")
        for w in args.workers:
            r = time_loader(ds, w, args.batch, args.batches, args.passes)
            results[(mode, w)] = r
            print(f"loader {mode:6s} workers={w}: median {statistics.median(r):6.1f} images/s, best {max(r):6.1f}")
    torch.set_num_threads(args.threads)
    tr = time_training(args.batch, args.steps, warmup=args.warmup)
    if tr is not None:
        print(f"unet_realtime train step (batch {args.batch}, 240x320, {args.threads} threads): "
              f"median {statistics.median(tr):6.1f} images/s, best {max(tr):6.1f}")


if __name__ == "__main__":
    main()
