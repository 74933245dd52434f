"""Speed of the synthetic generator (the goal: >= 10 images/s at 320x240 on 2 cores).

    .venv/bin/python benchmarks/bench_synth.py [--size 240x320] [--count 40] [--workers 2]
        [--variant both|classic|widened] [--no-throughput] [--sheet PATH]

Reports, per variant, (1) per-image time in one process, one ray-casting thread: wall and CPU
seconds, median and min over ``--count`` images after 2 warm-up images (each image is a new
random room: layout + BVH + camera search + render + camera response); (2) the throughput of
the ``rgb2depth synth`` path with ``--workers`` processes writing PNGs (warm-up excluded).
Variants: ``classic`` (the original generator, ``SynthDataset`` defaults) and ``widened``
(room types, hand-held/robot/close-up views, random focal length: ``WIDENED``); ``both`` runs
them in one process so their ratio is measured under the same load. CPU time is printed beside
wall time because the development machine is shared: on an idle machine wall ~= CPU per image.
``--sheet PATH`` also writes a contact sheet of 24 widened samples (RGB beside depth).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


#: The widened generator's options (what real indoor photographs show).
WIDENED = {"scene_types": "mix", "views": "mix", "focal_range": (500, 640)}
VARIANTS = {"classic": {}, "widened": WIDENED}


def _per_image(size, count, seed, **kw):
    from rgb2depth.synth.generator import SynthDataset

    ds = SynthDataset(count=count + 2, size=size, seed=seed, **kw)
    ds[0], ds[1]  # warm-up: imports, first BVH
    wall, cpu = [], []
    for i in range(2, count + 2):
        t0, c0 = time.perf_counter(), time.process_time()
        ds[i]
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def _throughput(size, count, seed, workers, **kw):
    from rgb2depth.synth import cli

    kwargs = dict(count=count + 2 * workers, size=size, seed=seed, threads=1, **kw)
    with tempfile.TemporaryDirectory() as d:
        out = Path(d)
        (out / "rgb").mkdir()
        (out / "depth").mkdir()
        ctx = mp.get_context("fork")
        with ctx.Pool(workers, initializer=cli._init_worker, initargs=(kwargs, str(out))) as pool:
            list(pool.imap_unordered(cli._work, range(2 * workers), chunksize=1))  # warm-up
            t0 = time.perf_counter()
            list(pool.imap_unordered(cli._work, range(2 * workers, count + 2 * workers), chunksize=1))
            dt = time.perf_counter() - t0
    return count / dt


def contact_sheet(path, n=24, size=(192, 256), seed=0, cols=4, **kw):
    """Write a PNG of ``n`` samples of the widened generator: RGB beside its depth (turbo
    colour map, 0-6 m), labelled with room type, camera kind, focal length (px at 640x480)
    and median depth."""
    import cv2
    import numpy as np

    from rgb2depth.synth.generator import SynthDataset

    ds = SynthDataset(count=n, size=size, seed=seed, **kw)
    h, w = size
    rows = (n + cols - 1) // cols
    sheet = np.full((rows * h, cols * 2 * w, 3), 255, np.uint8)
    for i in range(n):
        s, out = ds.render(i)
        d = np.nan_to_num(s["depth"], nan=0.0)
        dc = cv2.applyColorMap(np.clip(d / 6.0 * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_TURBO)[..., ::-1]
        r, c = divmod(i, cols)
        tile = np.concatenate([s["rgb"], dc], 1).copy()
        f640 = s["K"].fx * 640 / max(w, h * 4 / 3)
        label = f"{out['scene_type']} {out['view']} f{f640:.0f} med {np.nanmedian(s['depth']):.2f}m"
        cv2.putText(tile, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(tile, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
        sheet[r * h:(r + 1) * h, c * 2 * w:(c + 1) * 2 * w] = tile
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(path).with_suffix(".tmp.png")
    if not cv2.imwrite(str(tmp), sheet[..., ::-1]):
        raise OSError(f"{tmp}: could not write")
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="240x320")
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variant", default="both", choices=["both", *VARIANTS])
    ap.add_argument("--no-throughput", action="store_true", help="skip the multi-process synth path")
    ap.add_argument("--sheet", default=None, help="also write a contact sheet PNG of widened samples here")
    a = ap.parse_args()
    h, w = (int(t) for t in a.size.split("x"))
    print(f"cpus: {os.cpu_count()}  load average: {os.getloadavg()[0]:.1f}  size: {h}x{w}")
    names = list(VARIANTS) if a.variant == "both" else [a.variant]
    cpu_med = {}
    for name in names:
        kw = VARIANTS[name]
        if not a.no_throughput:
            tp = _throughput((h, w), a.count, a.seed, a.workers, **kw)
            print(f"{name}: synth path, {a.workers} worker processes: {tp:.2f} images/s")
        wall, cpu = _per_image((h, w), a.count, a.seed, **kw)
        cpu_med[name] = statistics.median(cpu)
        print(
            f"{name}: per image (1 process): wall median {statistics.median(wall) * 1000:.0f} ms, min {min(wall) * 1000:.0f} ms; "
            f"CPU median {statistics.median(cpu) * 1000:.0f} ms, min {min(cpu) * 1000:.0f} ms "
            f"(=> {2 / statistics.median(cpu):.1f} images/s on 2 idle cores)"
        )
    if len(cpu_med) == 2:
        print(f"widened / classic CPU median: {cpu_med['widened'] / cpu_med['classic']:.2f}x")
    if a.sheet:
        contact_sheet(a.sheet, size=(h, w), seed=a.seed, **WIDENED)
        print(f"wrote {a.sheet}")


if __name__ == "__main__":
    main()
