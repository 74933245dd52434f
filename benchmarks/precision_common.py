"""Shared by ``bench_models.py`` and ``bench_predict.py``: float32 / int8 / bf16 in one run.

- :func:`predictors`: one model loaded as PyTorch float32, ONNX Runtime float32, ONNX Runtime
  int8 and PyTorch bfloat16 (where the CPU has it);
- :func:`interleaved`: time several callables round-robin in one run (machine noise hits all
  alike): wall-clock and process CPU milliseconds per call;
- :func:`nyu_accuracy`: AbsRel, delta1 and RMSE on the NYU sample with the NYU protocol (Eigen
  crop, 1e-3..10 m) -- reporting only: nothing is calibrated or chosen on it;
- :func:`calibration_folder`: the varied training-side images int8 models are calibrated on
  (7-Scenes kitchen frames, MiddEval3 scenes, rendered rooms), never the NYU sample or the TUM
  cabinet keyframes; :func:`desk_frames`: TUM fr1/rpy, the 640x480 frames timing runs use;
- :func:`precision_table`: the Markdown table of all of it for one model.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

NYU_CSV = "nyu/nyu2_mini_test/nyu2_mini_test.csv"
DESK = "tum/rgbd_dataset_freiburg1_rpy/rgb"
SEVEN_SCENES = "7scenes/redkitchen_seq"
MIDDEVAL3 = "middlebury/MiddEval3/trainingQ"
#: MiddEval3 scenes in the calibration set: 9 of the 15, one view of each scene (no E/L/P
#: variants), none of the three the default model holds out for choosing runs.
CALIBRATION_SCENES = ("Adirondack", "ArtL", "Jadeplant", "Motorcycle", "Piano", "Pipes", "Playtable",
                      "Shelves", "Teddy")
CALIBRATION_ROOMS = 35
BASE = "onnxruntime float32"


def shared(rel: str) -> Path | None:
    from rgb2depth.paths import shared_data_dir

    d = shared_data_dir()
    return None if d is None or not (d / rel).exists() else d / rel


def desk_frames() -> Path | None:
    """TUM fr1/rpy RGB frames (640x480 JPEG), or None without the shared data."""
    return shared(DESK)


def calibration_folder() -> Path | None:
    """64 varied indoor images for int8 calibration, gathered once under the cache: every 12th
    7-Scenes kitchen frame (20), ``im0.png`` of :data:`CALIBRATION_SCENES` (9 close-range
    MiddEval3 scenes) and 35 rendered rooms (the first of ``${cache}/synth_a_val`` when that
    pre-rendered set exists, else rendered now with seed 9000). Calibrating on frames of one
    desk clipped activations of room-scale photos and moved a small FCRN's NYU AbsRel by 7-12 %
    (docs/results/int8.md); images as varied as the photos to predict keep int8 near float32.
    None without the shared data."""
    import shutil

    from rgb2depth.paths import cache_dir

    seven, midd = shared(SEVEN_SCENES), shared(MIDDEVAL3)
    if seven is None or midd is None:
        return None
    out = cache_dir() / "calibration" / "indoor_mix"
    if len(list(out.glob("*"))) == 20 + len(CALIBRATION_SCENES) + CALIBRATION_ROOMS:
        return out
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for i, f in enumerate(sorted(seven.glob("*.color.jpg"))[11::12]):
        shutil.copyfile(f, tmp / f"7s_{i}.jpg")
    for name in CALIBRATION_SCENES:
        shutil.copyfile(midd / name / "im0.png", tmp / f"mb_{name}.png")
    rendered = sorted((cache_dir() / "synth_a_val" / "rgb").glob("*.jpg"))[:CALIBRATION_ROOMS]
    if len(rendered) == CALIBRATION_ROOMS:
        for f in rendered:
            shutil.copyfile(f, tmp / f"syn_{f.name}")
    else:
        import cv2

        from rgb2depth.synth.generator import SynthDataset

        rooms = SynthDataset(count=CALIBRATION_ROOMS, size=(240, 320), seed=9000)
        for i in range(CALIBRATION_ROOMS):
            cv2.imwrite(str(tmp / f"syn_{i:06d}.jpg"), cv2.cvtColor(rooms[i]["rgb"], cv2.COLOR_RGB2BGR))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def nyu_source():
    """The NYU sample (10 images, 640x480, dense depth), or None without the shared data."""
    from rgb2depth import data

    p = shared(NYU_CSV)
    return None if p is None else data.create("nyu_csv", csv_path=str(p))


def nyu_accuracy(predictor, source) -> dict[str, float]:
    """Metrics of ``predictor`` (a :class:`rgb2depth.inference.api.DepthPredictor`) over
    ``source`` with the NYU protocol; the photo's focal length is passed (canonical-camera models)."""
    from rgb2depth.metrics import MetricAccumulator

    acc = MetricAccumulator("nyu")
    for s in source:
        focal = s["K"].fx if s.get("K") is not None else None
        acc.update(predictor.predict_rgb(s["rgb"], name=s["id"], focal=focal), s["depth"], s["valid"], id=s["id"])
    r = acc.compute()
    return {k: float(r[k]) for k in ("abs_rel", "delta1", "rmse")}


def predictors(model: str, threads: int, calibration: Path | None) -> dict:
    """``model`` loaded four ways (keys: ``"torch float32"``, ``"onnxruntime float32"``,
    ``"onnxruntime int8"`` -- calibrated on ``calibration``, the default model on its shipped
    record -- and ``"torch bf16"`` when this CPU has native bfloat16)."""
    from rgb2depth.inference.api import bf16_supported, load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # registry names: untrained, fine for timing
        out = {
            "torch float32": load(model, backend="torch", threads=threads),
            BASE: load(model, backend="onnxruntime", threads=threads),
            "onnxruntime int8": load(model, precision="int8", threads=threads,
                                     calibration=None if model == "default" else calibration),
        }
        if bf16_supported():
            out["torch bf16"] = load(model, precision="bf16", threads=threads)
    return out


def interleaved(fns: dict[str, Callable[[], object]], warmup: int, iters: int,
                settle_ms: float = 150.0) -> tuple[dict, dict]:
    """``(wall, cpu)``: milliseconds per call of each function over ``iters`` rounds that call
    every function once, after ``warmup`` such rounds. On a machine shared with other work the
    process CPU time per call is the steadier figure (with one thread it is the compute time;
    with more it also counts the threads' spin-waiting).

    Each timed call starts ``settle_ms`` after the previous one ended: PyTorch's OpenMP workers
    and ONNX Runtime's pool spin-wait on the cores for a while after a call, and without the
    pause each way would be timed against the previous way's spinning threads (on 2 cores that
    halved ONNX Runtime's 2-thread speed right after a PyTorch call). A program that runs one
    runtime has no such neighbour."""
    for _ in range(warmup):
        for f in fns.values():
            f()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(iters):
        for k, f in fns.items():
            time.sleep(settle_ms / 1e3)
            t, c = time.perf_counter(), time.process_time()
            f()
            wall[k].append((time.perf_counter() - t) * 1e3)
            cpu[k].append((time.process_time() - c) * 1e3)
    return wall, cpu


def row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def precision_table(model: str, preds: dict, fns: dict[str, Callable[[], object]], warmup: int, iters: int,
                    macs: float | None = None, accuracy: bool = False) -> list[str]:
    """Markdown rows comparing the ways ``preds`` run ``model``: ``fns[k]`` is what is timed for
    ``preds[k]`` (the network alone, or predict end to end). Speed-ups are against ONNX Runtime
    float32 and PyTorch float32, from medians and from minima; ``macs`` (per call) gives GMAC/s;
    ``accuracy`` adds the NYU sample's metrics and their change from PyTorch float32."""
    wall, cpu = interleaved(fns, warmup, iters)
    src = nyu_source() if accuracy else None
    acc = {k: nyu_accuracy(p, src) for k, p in preds.items()} if src is not None else {}
    head = ["way", "wall median ms", "wall min ms", "CPU median ms", "x ORT f32 (median / min)",
            "x torch f32 (median / min)"]
    head += ["GMAC/s (median)"] if macs else []
    head += ["NYU AbsRel", "change", "NYU delta1", "change"] if acc else []
    lines = [row(head), row(["---"] * len(head))]
    ref = acc.get("torch float32")
    for k in fns:
        w, c = wall[k], cpu[k]
        cells = [k, f"{statistics.median(w):.1f}", f"{min(w):.1f}", f"{statistics.median(c):.1f}"]
        for base in (BASE, "torch float32"):
            cells.append(f"{statistics.median(wall[base]) / statistics.median(w):.2f} / {min(wall[base]) / min(w):.2f}")
        if macs:
            cells.append(f"{macs / 1e9 / (statistics.median(w) / 1e3):.0f}")
        if acc:
            a = acc[k]
            cells += [f"{a['abs_rel']:.4f}", f"{100 * (a['abs_rel'] / ref['abs_rel'] - 1):+.2f} %",
                      f"{a['delta1']:.4f}", f"{a['delta1'] - ref['delta1']:+.4f}"]
        lines.append(row(cells))
    return lines
