"""End-to-end ``predict`` speed and memory. Not a test: run by hand, report the table.

    .venv/bin/python benchmarks/bench_predict.py                 # everything (~5-10 min)
    .venv/bin/python benchmarks/bench_predict.py --skip-memory   # speed table only

1. Speed, per backend (torch: BN folded + channels_last; onnxruntime: all graph
   optimisations): one 320x240 JPEG file -> depth in metres at 240x320, i.e. decode +
   preprocess (resize to the model's input size) + network + postprocess, excluding any file
   write. Protocol of paper 000 Sec. 4.2.2: warm-up iterations, then timed iterations; median
   and min. The network alone is timed the same way on a fresh random [0,1] tensor per
   iteration, at the size predict() feeds it; overhead = (end-to-end - network) / network,
   from the medians.
2. Peak resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, in a fresh subprocess)
   for one 12-megapixel (4000x3000) JPEG: ``predict()`` alone, and the ``predict`` command
   writing npy, png16, color and ply.
3. Memory over a folder of N (default 1,000) JPEGs through ``rgb2depth predict``: resident
   memory of the process sampled from /proc every 0.2 s; reports RSS after 10 %, 50 % and 100 %
   of the run and the growth over the second half.

4. With ``--precision``: end-to-end ``predict`` of one 640x480 JPEG (a TUM fr1/rpy frame, else
   the synthetic photo enlarged) as PyTorch float32, ONNX Runtime float32, ONNX Runtime int8 and
   PyTorch bfloat16 (where the CPU has it), interleaved in one run, then the network alone the
   same way, and the NYU sample's AbsRel / delta1 per way (``precision_common.py``).

    .venv/bin/python benchmarks/bench_predict.py --skip-memory --skip-speed --precision

The model is the shipped default when present, else a randomly initialised ``unet_realtime``
(the default model's architecture; speed and memory do not depend on the weights).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from precision_common import calibration_folder, desk_frames, precision_table, predictors


def model_path(tmp: Path, model: str | None) -> str:
    from rgb2depth.inference.api import default_weights_path

    if model:
        return model
    if default_weights_path().is_file():
        return "default"
    p = tmp / "unet_realtime_random.pt"
    code = ("import sys, torch; from rgb2depth import models; from rgb2depth.models.io import save_model; "
            "torch.manual_seed(0); save_model(models.create('unet_realtime'), sys.argv[1])")
    subprocess.run([sys.executable, "-c", code, str(p)], check=True)  # keeps this process small
    return str(p)


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth, photo-like test image (gradients + a few shapes + mild noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([255 * x / w, 255 * y / h, 128 + 60 * np.sin(x / (w / 7)) * np.cos(y / (h / 5))], axis=2)
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def time_ms(fn, warmup: int, iters: int, setup=None) -> tuple[float, float]:
    from rgb2depth.inference.profiling import time_calls

    r = time_calls(fn, warmup=warmup, iters=iters, setup=setup)
    return r["median_ms"], r["min_ms"]


def speed(model: str, warmup: int, iters: int, tmp: Path) -> list[dict]:
    import torch
    from PIL import Image

    from rgb2depth.inference.api import load
    from rgb2depth.inference.imageio import read_image

    img_path = tmp / "frame_240x320.jpg"
    Image.fromarray(photo(240, 320)).save(img_path, quality=90)
    rows = []
    for backend in ("torch", "onnxruntime"):
        pred = load(model, backend=backend)
        gen = torch.Generator().manual_seed(0)
        nh, nw = pred.network_size(240, 320)  # what predict() feeds the network for this image
        net_med, net_min = time_ms(pred._run.raw, warmup, iters, setup=lambda i, g=gen, hw=(nh, nw): torch.rand(1, 3, *hw, generator=g))
        e2e_med, e2e_min = time_ms(lambda _, p=pred: p.predict(img_path), warmup, iters)
        dec_med, _ = time_ms(lambda _: read_image(img_path), 5, iters)
        rows.append({
            "backend": backend, "network_hw": f"{nh}x{nw}", "e2e_median": e2e_med, "e2e_min": e2e_min, "net_median": net_med,
            "net_min": net_min, "decode_median": dec_med, "fps": 1000.0 / e2e_med,
            "overhead": (e2e_med - net_med) / net_med,
        })
    return rows


# Peak RSS is read two ways: ru_maxrss (getrusage) and VmHWM from /proc/self/status. On Linux
# ru_maxrss survives execve, so a child started by a big parent starts from the parent's size;
# main() therefore measures memory before this process imports torch, and VmHWM (the peak of the
# child's own address space) is printed beside it.
HWM = r"""
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
"""

MEM_SCRIPT = HWM + r"""
import resource, sys, numpy as np
from PIL import Image
from rgb2depth.inference.api import load
model, img = sys.argv[1], sys.argv[2]
p = load(model)
p.predict(np.zeros((240, 320, 3), np.uint8))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
d = p.predict(img)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before, after, hwm(), d.shape[0], d.shape[1])
"""

CLI_MEM_SCRIPT = HWM + r"""
import resource, sys
from rgb2depth.inference.cli import predict
try:
    predict([sys.argv[2]], output=__import__("pathlib").Path(sys.argv[3]), model=sys.argv[1],
            save="npy,png16,color,ply", cmap="turbo", colorbar=True, intrinsics=None, camera=None,
            smooth=0.0, backend="torch", device="cpu", max_pixels=None, max_frames=0,
            ply_max_points=2_000_000, threads=0, progress=False)
except SystemExit as e:
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, hwm())
"""


def memory_12mp(model: str, tmp: Path) -> dict:
    import cv2
    from PIL import Image

    big = tmp / "photo_12mp.jpg"
    # made at 1/4 size and enlarged in uint8, so that this (parent) process stays small
    img = cv2.resize(photo(750, 1000, seed=1), (4000, 3000), interpolation=cv2.INTER_LINEAR)
    Image.fromarray(img).save(big, quality=92)
    del img
    out = subprocess.run([sys.executable, "-c", MEM_SCRIPT, model, str(big)], capture_output=True, text=True, check=True)
    before, after, hwm, h, w = (int(t) for t in out.stdout.split()[-5:])
    cli = subprocess.run([sys.executable, "-c", CLI_MEM_SCRIPT, model, str(big), str(tmp / "out12")],
                         capture_output=True, text=True, check=True)
    peak_cli, hwm_cli = (int(t) for t in cli.stdout.split()[-2:])
    return {"size": f"{w}x{h}", "rss_loaded_mib": before / 1024, "peak_predict_mib": after / 1024,
            "hwm_predict_mib": hwm / 1024, "peak_cli_mib": peak_cli / 1024, "hwm_cli_mib": hwm_cli / 1024}


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def memory_folder(model: str, tmp: Path, n: int) -> dict:
    import cv2

    folder = tmp / "folder"
    folder.mkdir()
    base = photo(240, 320, seed=2)
    for i in range(n):
        img = np.roll(base, (i * 7) % 320, axis=1)
        cv2.imwrite(str(folder / f"img_{i:04d}.jpg"), img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    cmd = [sys.executable, "-m", "rgb2depth", "predict", str(folder), "-o", str(tmp / "out_folder"),
           "--model", model, "--save", "npy,png16,color", "--no-progress"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples = []  # (seconds, files written, rss KiB)
    out_dir = tmp / "out_folder"
    while proc.poll() is None:
        r = rss_kib(proc.pid)
        if r is not None:
            done = len(list(out_dir.glob("*.npy"))) if out_dir.is_dir() else 0
            samples.append((time.perf_counter() - t0, done, r))
        time.sleep(0.2)
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise RuntimeError(f"predict failed: {err[-2000:]}")
    written = len(list(out_dir.glob("*.npy")))
    run = [s for s in samples if s[1] > 0]

    def at(frac: float) -> float:
        target = frac * n
        return next((s[2] for s in run if s[1] >= target), run[-1][2]) / 1024

    second = [s for s in run if s[1] >= n / 2]
    return {
        "images": written, "seconds": time.perf_counter() - t0, "rss_10pct_mib": at(0.1),
        "rss_50pct_mib": at(0.5), "rss_end_mib": run[-1][2] / 1024,
        "max_rss_mib": max(s[2] for s in run) / 1024,
        "growth_second_half_mib": (second[-1][2] - second[0][2]) / 1024 if second else float("nan"),
    }


def precision_sections(model: str, args, tmp: Path) -> list[str]:
    """End to end and network alone, float32 vs int8 vs bf16, with NYU accuracy."""
    import cv2
    import torch
    from PIL import Image

    frames = desk_frames()
    img = tmp / "frame_480x640.jpg"
    if frames is not None:
        img.write_bytes(sorted(frames.glob("*.jpg"))[len(list(frames.glob("*.jpg"))) // 2].read_bytes())
    else:
        Image.fromarray(cv2.resize(photo(240, 320), (640, 480))).save(img, quality=90)
    preds = predictors(model, args.threads, calibration_folder())
    first = next(iter(preds.values()))
    nh, nw = first.network_size(480, 640)
    x = torch.rand(1, first.meta.in_channels, nh, nw, generator=torch.Generator().manual_seed(0))
    load0 = os.getloadavg()[0]
    e2e = precision_table(model, preds, {k: (lambda p=p: p.predict(img)) for k, p in preds.items()},
                          args.warmup, args.iters, accuracy=True)
    net = precision_table(model, preds, {k: (lambda p=p: p._run.raw(x)) for k, p in preds.items()},
                          args.warmup, args.iters)
    return [
        "", f"## float32 vs int8 vs bf16: predict() of {img.name} ({'a TUM fr1/rpy frame' if frames else 'synthetic'}) "
        f"-> depth at 480x640, network at {nh}x{nw}, {args.threads} threads", "",
        f"{args.warmup} warm-up + {args.iters} timed rounds, interleaved; load average {load0:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after. NYU: the 10-image sample, NYU protocol (Eigen crop), change from torch float32.",
        "", *e2e, "", "Network alone (the same rounds, random input at the network size):", "", *net,
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model name/path (default: shipped default, else random unet_realtime)")
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--folder-images", type=int, default=1000)
    ap.add_argument("--precision", action="store_true", help="float32 vs int8 vs bf16 in one run")
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads for --precision")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ.setdefault("RGB2DEPTH_CACHE", str(tmp / "cache"))
        model = model_path(tmp, args.model)
        print(f"model: {model}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
        if not args.skip_memory:  # first, while this process has not imported torch
            m = memory_12mp(model, tmp)
            print(f"\n## Peak resident memory, one {m['size']} JPEG (fresh process)\n")
            print("| stage | ru_maxrss MiB | VmHWM MiB |\n|---|---|---|")
            print(f"| after import + load + warm-up | {m['rss_loaded_mib']:.0f} | |")
            print(f"| peak, predict() | {m['peak_predict_mib']:.0f} | {m['hwm_predict_mib']:.0f} |")
            print(f"| peak, predict command writing npy+png16+color+ply | {m['peak_cli_mib']:.0f} | {m['hwm_cli_mib']:.0f} |")
            f = memory_folder(model, tmp, args.folder_images)
            print(f"\n## Folder of {args.folder_images} JPEGs through `rgb2depth predict` (npy,png16,color)\n")
            print("| images written | seconds | RSS @10% MiB | RSS @50% MiB | RSS end MiB | max MiB | growth over 2nd half MiB |")
            print("|---|---|---|---|---|---|---|")
            print(f"| {f['images']} | {f['seconds']:.0f} | {f['rss_10pct_mib']:.0f} | {f['rss_50pct_mib']:.0f} | "
                  f"{f['rss_end_mib']:.0f} | {f['max_rss_mib']:.0f} | {f['growth_second_half_mib']:.1f} |")
        if not args.skip_speed:
            import torch

            print(f"\n## End-to-end predict, 320x240 JPEG -> 240x320 metres ({args.warmup} warm-up + "
                  f"{args.iters} timed; torch {torch.__version__}, {torch.get_num_threads()} threads)\n")
            print("| backend | network input | end-to-end median ms | min ms | images/s (median) | network median ms | min ms | decode ms | overhead vs network |")
            print("|---|---|---|---|---|---|---|---|---|")
            for r in speed(model, args.warmup, args.iters, tmp):
                print(f"| {r['backend']} | {r['network_hw']} | {r['e2e_median']:.2f} | {r['e2e_min']:.2f} | {r['fps']:.1f} | "
                      f"{r['net_median']:.2f} | {r['net_min']:.2f} | {r['decode_median']:.2f} | {100 * r['overhead']:.1f} % |")
        if args.precision:
            print("\n".join(precision_sections(model, args, tmp)))
        print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
