"""CPU inference time of every registered model at its paper's input size (not a test).

Protocol (paper 000's): batch 1, ``--warmup`` untimed iterations (first calls allocate, pack
weights and fill caches), then ``--iters`` timed ones; we report the median and the minimum in
milliseconds, with parameters and multiply-accumulates (MACs = FLOPs / 2, counted with
``torch.utils.flop_counter.FlopCounterMode`` over convolutions and matrix products).

Also measured, in one run with interleaved iterations so machine noise hits both alike:
FCRN ResNet-50 UpProj at 228x304 with the naive up-projection (unpool + 5x5 convolutions,
paper 003 Fig. 2c) against the fast one (Fig. 2d / 3), and their whole-model ratio.

``--precision MODELS``: each model (registry name at its paper's size, ``default`` or a model
file) run as PyTorch float32, ONNX Runtime float32, ONNX Runtime int8 (calibrated on 64 varied
indoor training-side images, ``precision_common.calibration_folder``, or ``--calibrate DIR``; the
default model uses its shipped record) and PyTorch
bfloat16 where the CPU has it, timed interleaved in one run (wall median and min, CPU time per
call, speed-ups, GMAC/s); trained models (``default``, files) also get the NYU sample's AbsRel
and delta1 per way and their change from float32.

Usage::

    .venv/bin/python benchmarks/bench_models.py                       # all models
    .venv/bin/python benchmarks/bench_models.py --models fcrn,unet_realtime --channels-last --onnx
    .venv/bin/python benchmarks/bench_models.py --models none --ratio-only
    .venv/bin/python benchmarks/bench_models.py --models none --no-ratio --precision fcrn,default

The machine is shared: numbers vary between runs; compare rows of one run, not across runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from precision_common import calibration_folder, precision_table, predictors
from rgb2depth.inference.profiling import count_macs, time_calls
from rgb2depth.models import create, names


def time_fn(fn, warmup: int, iters: int) -> list[float]:
    """Milliseconds of each timed call of ``fn()`` (the toolkit's timing protocol)."""
    return time_calls(lambda _: fn(), warmup, iters)["times_ms"]


def macs_of(model: torch.nn.Module, x: torch.Tensor) -> int:
    return count_macs(model, x.shape[2], x.shape[3])


def prepare(name: str, channels_last: bool, size: tuple[int, int] | None = None, **options):
    torch.manual_seed(0)
    model = create(name, **options).eval()
    h, w = size or model.meta.input_size
    x = torch.rand(1, model.meta.in_channels, h, w)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    return model, x


def onnx_times(model, x, threads: int, warmup: int, iters: int) -> list[float]:
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "m.onnx")
        xc = x.contiguous()
        torch.onnx.export(model, (xc,), path, opset_version=17, dynamo=False, input_names=["image"], output_names=["depth"])
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        feed = {"image": xc.numpy()}
        return time_fn(lambda: sess.run(None, feed), warmup, iters)


def row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def fmt(ts: list[float]) -> tuple[str, str]:
    return f"{statistics.median(ts):.1f}", f"{min(ts):.1f}"


def precision_section(model: str, args) -> list[str]:
    """The network of ``model`` at its input size, float32 vs int8 vs bf16 (precision_common)."""
    import os

    preds = predictors(model, args.threads, args.calibrate or calibration_folder())
    first = next(iter(preds.values()))
    h, w = first.meta.input_size
    x = torch.rand(1, first.meta.in_channels, h, w, generator=torch.Generator().manual_seed(0))
    fns = {k: (lambda p=p: p._run.raw(x)) for k, p in preds.items()}
    macs = count_macs(first.model, h, w)
    trained = model not in names()
    load0 = os.getloadavg()[0]
    table = precision_table(model, preds, fns, args.warmup, args.iters, macs=macs, accuracy=trained)
    return ["", f"## {model}: float32 vs int8 vs bf16", "",
            f"Network alone at {h}x{w}, batch 1, {args.threads} threads, {macs / 1e9:.2f} GMAC; "
            f"{args.warmup} warm-up + {args.iters} timed rounds, interleaved; load average "
            f"{load0:.2f} before, {os.getloadavg()[0]:.2f} after.", "", *table]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="all", help="comma-separated registry names, 'all' or 'none'")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels-last", action="store_true", help="channels_last model and input")
    ap.add_argument("--onnx", action="store_true", help="also time ONNX Runtime (CPU provider)")
    ap.add_argument("--no-ratio", action="store_true", help="skip the FCRN fast/naive comparison")
    ap.add_argument("--precision", default="", help="comma-separated models: float32 vs int8 vs bf16 (see above)")
    ap.add_argument("--calibrate", type=Path, default=None, help="int8 calibration images (default: 64 varied indoor training-side images)")
    ap.add_argument("--out", type=Path, help="also write the Markdown to this file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    models = names() if args.models == "all" else [] if args.models == "none" else args.models.split(",")

    lines = [
        f"CPU, {args.threads} threads, torch {torch.__version__}, batch 1, {args.warmup} warm-up + "
        f"{args.iters} timed iterations, {'channels_last' if args.channels_last else 'contiguous (NCHW)'}.",
        "",
        row(["model", "input HxW", "params (M)", "GMACs", "median ms", "min ms"]
            + (["ORT median ms", "ORT min ms"] if args.onnx else [])),
        row(["---"] * (8 if args.onnx else 6)),
    ]
    print("\n".join(lines), flush=True)
    for name in models:
        model, x = prepare(name, args.channels_last)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        macs = macs_of(model, x) / 1e9
        with torch.no_grad():
            ts = time_fn(lambda m=model, x=x: m(x), args.warmup, args.iters)
        cells = [name, f"{x.shape[2]}x{x.shape[3]}", f"{params:.2f}", f"{macs:.2f}", *fmt(ts)]
        if args.onnx:
            cells += list(fmt(onnx_times(model, x, args.threads, args.warmup, args.iters)))
        lines.append(row(cells))
        print(lines[-1], flush=True)

    if not args.no_ratio:
        extra = ["", "FCRN ResNet-50 UpProj, 228x304, naive vs fast (interleaved in one run):", ""]
        extra.append(row(["variant", "layout", "GMACs", "median ms", "min ms"]))
        extra.append(row(["---"] * 5))
        for cl in (False, True):
            naive, x = prepare("fcrn", cl, fast=False)
            fast, _ = prepare("fcrn", cl, fast=True)
            fast.load_state_dict(naive.state_dict())
            res: dict[str, list[float]] = {"naive": [], "fast": []}
            with torch.no_grad():
                for _ in range(args.warmup):
                    naive(x), fast(x)
                for _ in range(args.iters):
                    for k, m in (("naive", naive), ("fast", fast)):
                        t = time.perf_counter()
                        m(x)
                        res[k].append((time.perf_counter() - t) * 1e3)
            layout = "channels_last" if cl else "NCHW"
            for k, m in (("naive", naive), ("fast", fast)):
                extra.append(row([k, layout, f"{macs_of(m, x) / 1e9:.2f}", *fmt(res[k])]))
            ratio_med = statistics.median(res["naive"]) / statistics.median(res["fast"])
            ratio_min = min(res["naive"]) / min(res["fast"])
            extra.append(row(["**ratio naive/fast**", layout, "", f"{ratio_med:.2f}", f"{ratio_min:.2f}"]))
            if args.onnx:
                extra.append(row(["fast, ONNX Runtime", layout, "", *fmt(onnx_times(fast, x, args.threads, args.warmup, args.iters))]))
            print("\n".join(extra), flush=True)
            lines += extra
            extra = []
        if "unet_realtime" in names():
            model, x = prepare("unet_realtime", True, size=(240, 320))
            with torch.no_grad():
                ts = time_fn(lambda: model(x), args.warmup, args.iters)
            lines += ["", row(["unet_realtime 240x320 channels_last", "", "", *fmt(ts)])]
            print(lines[-1], flush=True)
    for model in filter(None, args.precision.split(",")):
        section = precision_section(model, args)
        print("\n".join(section), flush=True)
        lines += section
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
