"""GPU figures (not a test): every network's inference time, training throughput, and the
trainer and ``predict`` run end to end on a CUDA device.

Run it on a machine with an NVIDIA GPU; it needs only the repository (no ../shared data, no
downloads: the end-to-end check trains on the two frames shipped in ``rgb2depth/assets``)::

    PYTHONPATH=src python benchmarks/bench_gpu.py --out OUT_DIR

1. **Inference**, batch 1 at each registry network's paper input size, with paper 000's
   protocol (a fresh random tensor per call, ``--warmup`` untimed calls, then ``--iters`` timed
   ones; ``time_calls`` synchronises the device around each call): float32 (cuDNN may use TF32
   for convolutions, PyTorch's default) and bfloat16 autocast, channels_last. Beside them the
   papers' own GPU figures: paper 000 Table 2 (Titan Pascal: its network 28.11 ms, the baseline
   163.45 ms) and paper 003 Sec. 4 (GTX TITAN: FCRN up-projection 55 ms, up-convolution 78 ms;
   14 and 28 ms per image in batches of 16), which are also timed here in batches of 16.
2. **Training throughput** of the default network (``lite_depth`` Lite0, 192x256) with the
   default recipe's loss (silog + 0.5 x gradient matching): forward, backward and an Adam step
   on random tensors, batch 8 and 32, float32 and bf16 autocast: samples per second.
3. **End to end**: ``rgb2depth train`` on CUDA (single process, then ``torchrun`` with one
   process: NCCL), 24 steps from a config whose data are the shipped frames, then ``rgb2depth
   predict --device cuda`` with the trained file; each exit code and the wall time.

Writes ``gpu.json`` and ``gpu.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from rgb2depth.inference.profiling import count_macs, time_calls
from rgb2depth.models import create, names

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "src" / "rgb2depth" / "assets"
#: The papers' GPU figures (ms per image), quoted beside the ones measured here.
PAPER_MS = {
    "unet_realtime": "28.11 (paper 000 Table 2, Titan Pascal)",
    "unet_baseline": "163.45 (paper 000 Table 2, Titan Pascal)",
    "fcrn": "55 (paper 003 Sec. 4, GTX TITAN)",
}
#: The default network and the default recipe's loss (configs/default_v3_base.yaml, run G on).
DEFAULT_MODEL = {"name": "lite_depth", "options": {"variant": "lite0", "pretrained": False, "input_size": [192, 256]}}
DEFAULT_LOSS = {"terms": [{"name": "silog", "weight": 1.0, "options": {"lam": 0.85, "log_input": True}},
                          {"name": "gradient", "weight": 0.5, "options": {"scales": 4, "log_input": True}}],
                "normalize_weights": False}


def infer_times(model, shape, device, warmup: int, iters: int, bf16: bool) -> dict:
    gen = torch.Generator(device=device).manual_seed(0)

    def setup(_):
        return torch.rand(*shape, device=device, generator=gen).contiguous(memory_format=torch.channels_last)

    def fn(x):
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            model(x)

    r = time_calls(fn, warmup=warmup, iters=iters, setup=setup, device=device)
    return {k: round(r[k], 3) for k in ("median_ms", "min_ms", "mean_ms")}


def inference(device, warmup: int, iters: int, models: list[str]) -> list[dict]:
    rows = []
    for name in models:
        torch.manual_seed(0)
        model = create(name).eval()
        h, w = model.meta.input_size
        macs = count_macs(model, h, w)
        model = model.to(device).to(memory_format=torch.channels_last)
        row = {"model": name, "input": [h, w], "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
               "gmac": round(macs / 1e9, 2)}
        for label, bf16 in (("float32", False), ("bf16", True)):
            row[label] = infer_times(model, (1, model.meta.in_channels, h, w), device, warmup, iters, bf16)
        if name == "fcrn":  # paper 003's batch of 16, up-projection (the registry's) and up-convolution
            upconv = create("fcrn", decoder="upconv").eval().to(device).to(memory_format=torch.channels_last)
            row["upconv_float32"] = infer_times(upconv, (1, 3, h, w), device, warmup, iters, False)
            for dec, m in (("upproj", model), ("upconv", upconv)):
                r = infer_times(m, (16, 3, h, w), device, warmup // 4 + 1, iters // 4 + 1, False)
                row[f"batch16_{dec}_ms_per_image"] = round(r["median_ms"] / 16, 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def step_times(loss_fn, device, batch: int, bf16: bool, steps: int) -> dict:
    """Forward, backward and an Adam step of a fresh default network on random tensors."""
    torch.manual_seed(0)
    model = create(DEFAULT_MODEL["name"], **DEFAULT_MODEL["options"])
    model = model.to(device).to(memory_format=torch.channels_last).train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    x = torch.rand(batch, 3, 192, 256, device=device).contiguous(memory_format=torch.channels_last)
    depth = 0.5 + 4 * torch.rand(batch, 1, 192, 256, device=device)
    valid = torch.ones_like(depth, dtype=torch.bool)

    def step(_):
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        loss_fn(out.float(), depth, valid, rgb=x).backward()
        opt.step()

    return time_calls(step, warmup=10, iters=steps, device=device)


def training(device, steps: int) -> list[dict]:
    from rgb2depth.training.builders import build_loss

    loss_fn = build_loss(DEFAULT_LOSS).to(device)
    rows = []
    for batch in (8, 32):
        for bf16 in (False, True):
            r = step_times(loss_fn, device, batch, bf16, steps)
            rows.append({"batch": batch, "precision": "bf16" if bf16 else "float32",
                         "ms_per_step": round(r["median_ms"], 2), "min_ms": round(r["min_ms"], 2),
                         "samples_per_s": round(batch / r["median_ms"] * 1e3, 1)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def end_to_end(work: Path, device: str) -> list[dict]:
    """Train 24 steps on ``device`` from the shipped frames (single process and torchrun), then predict."""
    from rgb2depth.data.depth_io import read_depth_png, read_rgb
    from rgb2depth.data.folder import FolderWriter, read_intrinsics_json

    data = work / "frames"
    w = FolderWriter(data, depth_scale=1000.0, rgb_ext=".png")
    for stem, rgb in (("tum_cabinet", "tum_cabinet.jpg"), ("demo_room", "demo_room.png")):
        depth = read_depth_png(ASSETS / f"{stem}_depth.png", 1000.0)  # the assets are millimetres
        w.write(stem, read_rgb(ASSETS / rgb), depth, read_intrinsics_json(ASSETS / f"{stem}_intrinsics.json"))
    cfg = {
        "name": "gpu_check", "output_dir": str(work / "run"),
        "model": DEFAULT_MODEL, "loss": DEFAULT_LOSS,
        "data": {"train": [{"name": "folder", "root": str(data), "select": {"repeat": 32}}],
                 "val": [{"name": "folder", "root": str(data)}], "input_size": [192, 256],
                 "augment": {"hflip": 0.5, "zoom": [1.0, 1.3], "color": {"brightness": 0.3}}, "num_workers": 4},
        "optim": {"name": "adam", "lr": 3e-4}, "schedule": {"name": "cosine", "min_lr": 1e-6},
        "train": {"epochs": 3, "batch_size": 8, "bf16": True, "log_every": 4},
        "eval": {"protocol": "none", "min_depth": 1e-3, "max_depth": 20.0},
    }
    import yaml

    (work / "c.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    runs = [("train, one process", [sys.executable, "-m", "rgb2depth", "train", "--config", str(work / "c.yaml"),
                                    "--device", device, "-o", str(work / "run1")]),
            ("train, torchrun, one process (NCCL on a GPU)", [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=1",
                                        "-m", "rgb2depth", "train", "--config", str(work / "c.yaml"),
                                        "--device", device, "-o", str(work / "run2")]),
            (f"predict --device {device}", [sys.executable, "-m", "rgb2depth", "predict", str(ASSETS / "tum_cabinet.jpg"),
                                       "--model", str(work / "run1" / "model.pt"), "--device", device,
                                       "-o", str(work / "pred")])]
    rows = []
    for label, cmd in runs:
        t = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        rows.append({"what": label, "exit": r.returncode, "wall_s": round(time.perf_counter() - t, 1),
                     "tail": (r.stdout + r.stderr).strip().splitlines()[-3:]})
        print(json.dumps(rows[-1]), flush=True)
    for run in ("run1", "run2"):  # the two runs' last records (same seed: equal on a CPU, close on a GPU)
        metrics = work / run / "metrics.jsonl"
        if metrics.is_file():
            rows.append({"what": f"{run} metrics (last 2 records)", "records": metrics.read_text().splitlines()[-2:]})
    return rows


def markdown(info: dict) -> str:
    out = [f"GPU: {info['gpu']}; torch {info['torch']}, CUDA {info['cuda']}; batch 1, channels_last, "
           f"{info['warmup']} warm-up + {info['iters']} timed calls (fresh random input each, device "
           "synchronised around each call).", "",
           "| model | input | params (M) | GMAC | float32 median / min ms | bf16 median / min ms | paper (GPU) |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in info["inference"]:
        f, b = r["float32"], r["bf16"]
        out.append(f"| {r['model']} | {r['input'][0]}x{r['input'][1]} | {r['params_m']} | {r['gmac']} | "
                   f"{f['median_ms']:.2f} / {f['min_ms']:.2f} | {b['median_ms']:.2f} / {b['min_ms']:.2f} | "
                   f"{PAPER_MS.get(r['model'], '')} |")
    fc = next((r for r in info["inference"] if r["model"] == "fcrn"), None)
    if fc:
        out += ["", f"FCRN (paper 003: 55 ms up-projection, 78 ms up-convolution; batches of 16: 14 and 28 ms per "
                f"image): here float32 batch 1 {fc['float32']['median_ms']:.2f} ms up-projection, "
                f"{fc['upconv_float32']['median_ms']:.2f} ms up-convolution; batch 16: "
                f"{fc['batch16_upproj_ms_per_image']:.3f} and {fc['batch16_upconv_ms_per_image']:.3f} ms per image."]
    out += ["", "Training step of the default network (lite_depth Lite0, 192x256, silog + 0.5 x gradient, Adam):", "",
            "| batch | precision | ms per step (median / min) | samples/s |", "| --- | --- | --- | --- |"]
    out += [f"| {r['batch']} | {r['precision']} | {r['ms_per_step']} / {r['min_ms']} | {r['samples_per_s']} |"
            for r in info["training"]]
    out += ["", "End to end:", "", "| what | exit | wall s |", "| --- | --- | --- |"]
    out += [f"| {r['what']} | {r['exit']} | {r['wall_s']} |" for r in info["end_to_end"] if "exit" in r]
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--warmup", type=int, default=100, help="paper 000: 100")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--train-steps", type=int, default=50)
    ap.add_argument("--models", default="all", help="comma-separated registry names for the inference part, or 'all'")
    ap.add_argument("--device", default="cuda", help="cuda, or cpu for a quick check of this script")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: inference, training, end_to_end")
    a = ap.parse_args()
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: no CUDA device (this benchmark runs on a GPU machine)", file=sys.stderr)
        return 2
    device = torch.device(a.device)
    skip = set(filter(None, a.skip.split(",")))
    a.out.mkdir(parents=True, exist_ok=True)
    info = {"gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else "none (CPU check)", "torch": torch.__version__, "cuda": torch.version.cuda,
            "warmup": a.warmup, "iters": a.iters, "inference": [], "training": [], "end_to_end": []}
    if "inference" not in skip:
        info["inference"] = inference(device, a.warmup, a.iters,
                                      names() if a.models == "all" else a.models.split(","))
    if "training" not in skip:
        info["training"] = training(device, a.train_steps)
    if "end_to_end" not in skip:
        work = Path(tempfile.mkdtemp(prefix="gpu_check_"))
        try:
            info["end_to_end"] = end_to_end(work, a.device)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    (a.out / "gpu.json").write_text(json.dumps(info, indent=1) + "\n")
    (a.out / "gpu.md").write_text(markdown(info))
    print(markdown(info))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
