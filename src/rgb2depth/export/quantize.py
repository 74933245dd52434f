"""int8 ONNX models: static quantisation calibrated on real images (ONNX Runtime QDQ).

**How.** The network is exported to float32 ONNX (:func:`rgb2depth.export.formats.export_onnx`),
pre-processed by ONNX Runtime's ``quant_pre_process`` (BatchNorm folded into the
convolutions, shapes inferred) and quantised by ``onnxruntime.quantization.quantize_static``
in the QDQ format: weights int8 per output channel, activations uint8 with one scale per
tensor, the combination ONNX Runtime recommends for x86 CPUs with VNNI (its kernels then run
the convolutions as uint8 x int8 dot products). Activation ranges are the 0.01st and 99.99th
percentiles of each tensor's values over the calibration images
(:mod:`rgb2depth.export.calibration`, prepared exactly as ``predict`` prepares an image), not
the minimum and maximum: a residual stream that reaches +-80 on a few pixels would otherwise get
a uint8 step of 0.6 for all of them (measured on the default model: the median depth difference
to float32 on calibration-free frames drops from 2.6 % to 1.0 %, ``docs/results/int8.md``).

**Plan.** Quantising every layer costs some networks more accuracy than others: the first
layers see the image at full resolution through few channels, and EfficientNet-style
depthwise layers quantise badly, so their errors grow along the whole network. The
calibration therefore also chooses a plan (:func:`choose_plan`), measured on the calibration
images against float32:

- the *output layer* (the last convolution or fully-connected layer) stays float32, and its
  weights and bias are changed so that it outputs ``a * y + b``, with ``a`` and ``b`` fitted
  by least squares to the float32 network's output on the calibration images (bias and scale
  correction: removes the systematic part of the error -- a depth scale for log-depth
  outputs, a scale and offset for metric ones);
- the *input-side prefix*: the first k weight layers stay float32. The k of :data:`PREFIXES`
  are tried in turn until one's median relative depth difference is at most
  :data:`TARGET_MEDIAN_REL`; that one is taken, else the smallest k within
  :data:`PLAN_SLACK` of the smallest difference found (on networks whose error is spread over
  all layers, more float32 layers cost speed and buy nothing).

The plan is stored in the calibration record, so a model quantised again at another input size
gets the same layers and correction.

**Files.** An int8 ONNX file carries the float model's metadata (``rgb2depth_meta``, input size)
plus ``rgb2depth_precision = int8`` and ``rgb2depth_calibration`` (the record without its
ranges), so ``rgb2depth predict --model file.int8.onnx`` needs nothing else. ONNX files are data:
loading one executes no code. :func:`cached_int8_onnx` makes one per model, record and input
size on first use and reuses it from the cache folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from rgb2depth.export.calibration import (
    SETTINGS,
    Calibration,
    CalibrationError,
    check_calibration,
    images_digest,
    model_key,
    network_input,
)

PRECISION_KEY = "rgb2depth_precision"
CALIBRATION_KEY = "rgb2depth_calibration"
#: Percentile of the activation values the ranges keep (ONNX Runtime's percentile calibration).
PERCENTILE = 99.99
#: Largest median relative depth difference int8 vs float32 (on the calibration images) that a
#: plan may have; the prefix search stops at the first plan within it.
TARGET_MEDIAN_REL = 0.0125
#: Numbers of input-side weight layers kept float32 that the plan search tries, smallest first.
PREFIXES = (0, 1, 2, 3, 4, 6, 8, 12)
#: Without a plan within the target: the smallest prefix whose difference is at most
#: (1 + PLAN_SLACK) times the smallest found.
PLAN_SLACK = 0.1
#: At most this many calibration images (spread evenly) measure each plan.
SEARCH_IMAGES = 8
_WEIGHT_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


#: Calibration images run per pass of ONNX Runtime's calibrator, which keeps every activation
#: of a pass in memory before adding it to its histograms.
CHUNK = 4


def _reader(images: Sequence, hw: tuple[int, int], in_channels: int, input_name: str):
    """An ONNX Runtime calibration reader over ``images``; ``set_range`` lets the calibrator
    take them :data:`CHUNK` at a time."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.set_range(0, len(images))

        def __len__(self) -> int:
            return len(images)

        def set_range(self, start_index: int, end_index: int) -> None:
            self.it = iter(images[start_index:end_index])

        def get_next(self):
            im = next(self.it, None)
            return None if im is None else {input_name: network_input(im, hw, in_channels)}

    return Reader()


def _versions() -> dict:
    import onnxruntime
    import torch

    return {"onnxruntime": onnxruntime.__version__, "torch": torch.__version__}


# -- graphs ---------------------------------------------------------------------------------------

def _preprocessed_float(model, hw: tuple[int, int], folder: Path) -> Path:
    """Float ONNX of ``model`` at ``hw``, BatchNorm folded and shapes inferred (ORT's pre-pass)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from rgb2depth.export.formats import export_onnx

    raw = export_onnx(model, folder / "float.onnx", hw)
    pre = folder / "float.pre.onnx"
    quant_pre_process(str(raw), str(pre), skip_symbolic_shape=True)
    return pre


def weight_layers(path: str | os.PathLike) -> list:
    """The nodes of an ONNX graph that hold weights (convolutions, fully-connected layers), in
    graph (topological) order."""
    import onnx

    graph = onnx.load(str(path)).graph
    consts = {t.name for t in graph.initializer}
    return [n for n in graph.node if n.op_type in _WEIGHT_OPS and len(n.input) > 1 and n.input[1] in consts]


def _register_data_movement() -> None:
    """Let ONNX Runtime's quantiser put ``DepthToSpace`` (the exported up-sampling blocks,
    :mod:`rgb2depth.models.upsampling`) between Q/DQ pairs like ``Transpose``: its registry
    lacks the operator, so it would stay float32 with a dequantise before it and a quantise
    after, though the runtime drops such pairs and rearranges the uint8 data directly."""
    from onnxruntime.quantization.operators.direct_q8 import QDQDirect8BitOp
    from onnxruntime.quantization.registry import QDQRegistry

    QDQRegistry.setdefault("DepthToSpace", QDQDirect8BitOp)


def _quantize_static(pre: Path, out: Path, ranges: Path, reader=None, method: str = "Percentile", **options) -> None:
    """``quantize_static`` with this module's settings; the activation ranges are read from the
    calibration cache ``ranges`` (made by ``method``), or computed from ``reader`` and written there."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    extra = {}
    if reader is not None and len(reader) > CHUNK:
        # the images in chunks (ONNX Runtime names this option after MinMax, but every
        # calibrator accumulates over the chunks); it needs a count divisible by the chunk
        extra["CalibStridedMinMax"] = next(c for c in range(CHUNK, 0, -1) if len(reader) % c == 0)
    with contextlib.redirect_stdout(io.StringIO()):  # its calibrators print their progress
        quantize_static(
            str(pre), str(out), reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=False,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod[method],
            calibration_cache_path=str(ranges),
            extra_options={"CalibPercentile": PERCENTILE, **extra},
            **options,
        )


def _compact_ranges(ranges: dict) -> dict:
    """ONNX Runtime's percentile cache without the histograms (only the ranges are used)."""
    data = {k: {kk: vv for kk, vv in v.items() if kk not in ("hist", "bins")} for k, v in ranges["data"].items()}
    return {**ranges, "data": data}


def _build(pre: Path, ranges: Path, plan: dict, out: Path) -> Path:
    """Quantise ``pre`` with the ranges in ``ranges`` (an ONNX Runtime calibration cache) and
    ``plan`` into ``out``."""
    _register_data_movement()
    method = json.loads(ranges.read_text())["calibration_method"]["value"].split(".")[-1]
    _quantize_static(pre, out, ranges, method=method, nodes_to_exclude=list(plan.get("float_nodes", [])))
    if plan.get("output_node"):
        _correct_output(out, plan["output_node"], plan.get("output_scale", 1.0), plan.get("output_shift", 0.0))
    return out


def _correct_output(path: Path, node_name: str, scale: float, shift: float) -> None:
    """Make the float32 layer ``node_name`` of the ONNX file ``path`` output ``scale * y + shift``
    instead of ``y``: its weights are multiplied by ``scale`` and its bias -- the bias input of a
    Conv / Gemm, the constant of the ``Add`` after a ``MatMul``, or a new one -- becomes
    ``scale * bias + shift``."""
    import onnx
    from onnx import helper, numpy_helper

    proto = onnx.load(str(path))
    graph = proto.graph
    node = next((n for n in graph.node if n.name == node_name), None)
    if node is None:
        raise CalibrationError(f"int8 plan names output layer {node_name!r}, which this export lacks; calibrate again")
    inits = {t.name: t for t in graph.initializer}

    def update(name: str, fn) -> None:
        t = inits[name]
        t.CopyFrom(numpy_helper.from_array(fn(numpy_helper.to_array(t).astype(np.float32)).astype(np.float32), t.name))

    beta = next((a.f for a in node.attribute if a.name == "beta"), 1.0) if node.op_type == "Gemm" else 1.0
    update(node.input[1], lambda w: w * scale)
    bias = node.input[2] if node.op_type != "MatMul" and len(node.input) > 2 else None
    if node.op_type == "MatMul":
        add = next((n for n in graph.node if n.op_type == "Add" and node.output[0] in n.input
                    and any(i in inits for i in n.input)), None)
        bias = next((i for i in add.input if i in inits), None) if add is not None else None
    if bias in inits:
        update(bias, lambda b: b * scale + shift / beta)
        onnx.save(proto, str(path))
        return
    # a new bias: one value per output channel for a convolution, a broadcast scalar otherwise
    w_shape = numpy_helper.to_array(inits[node.input[1]]).shape
    group = next((a.i for a in node.attribute if a.name == "group"), 1)
    channels = {"Conv": w_shape[0], "ConvTranspose": w_shape[1] * group}.get(node.op_type, 1)
    name = f"{node_name}.rgb2depth_bias"
    graph.initializer.append(numpy_helper.from_array(np.full(channels, shift / beta, dtype=np.float32), name))
    if node.op_type == "MatMul":  # y = MatMul(...) + bias, under the MatMul's output name
        out = node.output[0]
        node.output[0] = f"{out}.rgb2depth_unbiased"
        at = list(graph.node).index(node) + 1
        graph.node.insert(at, helper.make_node("Add", [node.output[0], name], [out], name=f"{node_name}.rgb2depth_add"))
    else:
        node.input.append(name)
    onnx.save(proto, str(path))


def _with_outputs(path: Path, names: Sequence[str], out: Path) -> Path:
    """A copy of the ONNX file with the tensors ``names`` added to the graph outputs."""
    import onnx

    proto = onnx.load(str(path))
    have = {o.name for o in proto.graph.output}
    for n in names:
        if n not in have:
            proto.graph.output.append(onnx.helper.make_empty_tensor_value_info(n))
    onnx.save(proto, str(out))
    return out


def _run_all(path: Path, xs: Sequence[np.ndarray], outputs: Sequence[str]) -> list[list[np.ndarray]]:
    from rgb2depth.export.formats import onnx_session

    sess = onnx_session(path)
    return [sess.run(list(outputs), {"image": x}) for x in xs]


def _depth_stats(model, ref: Sequence[np.ndarray], got: Sequence[np.ndarray]) -> tuple[float, float]:
    """(median |got - ref| / ref, mean log(got / ref)) of the network outputs, in metres."""
    import torch

    from rgb2depth.inference.runners import output_to_metres

    rel, logr = [], []
    for a, b in zip(ref, got, strict=True):
        da = output_to_metres(torch.from_numpy(a), model.meta).numpy().astype(np.float64)
        db = output_to_metres(torch.from_numpy(b), model.meta).numpy().astype(np.float64)
        da, db = np.maximum(da, 1e-6), np.maximum(db, 1e-6)
        rel.append((np.abs(db - da) / da).ravel())
        logr.append(np.log(db / da).ravel())
    return float(np.median(np.concatenate(rel))), float(np.mean(np.concatenate(logr)))


def choose_plan(model, pre: Path, ranges: Path, xs: Sequence[np.ndarray], folder: Path) -> dict:
    """The quantisation plan for the float graph ``pre`` (see the module docstring), measured on
    the network inputs ``xs``."""
    layers = weight_layers(pre)
    if not layers:
        raise CalibrationError("the exported network has no convolution or fully-connected layer to quantise")
    out_node = layers[-1]
    head = out_node.output[0]
    probe = _with_outputs(pre, [head], folder / "float.probe.onnx")
    ref = _run_all(probe, xs, ["depth", head])
    search, plans = [], []
    for k in [k for k in PREFIXES if k < len(layers)]:
        plan = {"float_nodes": [n.name for n in layers[:k]] + [out_node.name], "output_node": out_node.name,
                "float_prefix": k}
        q = _build(pre, ranges, plan, folder / "trial.onnx")
        got = _run_all(_with_outputs(q, [head], folder / "trial.probe.onnx"), xs, [head])
        # one scale and shift for all output channels: a depth head has one channel, and a fully
        # connected head (one channel per output pixel) would otherwise fit these few images
        yq = np.concatenate([g[0].ravel() for g in got]).astype(np.float64)
        yf = np.concatenate([r[1].ravel() for r in ref]).astype(np.float64)
        # log-depth outputs: least squares on the outputs; depth-like outputs: on relative
        # errors (each pixel weighted by 1 / its float32 value), as the depth metrics count them
        wt = np.ones_like(yf) if model.meta.output == "log" else 1.0 / np.maximum(np.abs(yf), 1e-3 * np.median(np.abs(yf)) + 1e-12)
        scale, shift = np.linalg.lstsq(np.stack([yq, np.ones_like(yq)], 1) * wt[:, None], yf * wt, rcond=None)[0]
        plan["output_scale"], plan["output_shift"] = float(scale), float(shift)
        _correct_output(q, out_node.name, plan["output_scale"], plan["output_shift"])
        med, bias = _depth_stats(model, [r[0] for r in ref], [g[0] for g in _run_all(q, xs, ["depth"])])
        search.append({"float_prefix": k, "median_rel": round(med, 5), "mean_log_ratio": round(bias, 5)})
        plans.append((med, plan))
        if med <= TARGET_MEDIAN_REL:
            break
    least = min(med for med, _ in plans)
    plan = dict(next(p for med, p in plans if med <= TARGET_MEDIAN_REL or med <= (1 + PLAN_SLACK) * least))
    plan["search"] = search
    return plan


def _write_int8(model, quantized: Path, path: Path, hw: tuple[int, int], calibration: Calibration) -> Path:
    """Copy the quantised graph to ``path`` (atomically) with the rgb2depth metadata."""
    import onnx

    from rgb2depth.export.formats import META_KEY, SIZE_KEY
    from rgb2depth.fileio import write_bytes

    proto = onnx.load(str(quantized))
    del proto.metadata_props[:]
    for key, value in (
        (META_KEY, json.dumps(model.meta.to_dict())),
        (SIZE_KEY, f"{hw[0]},{hw[1]}"),
        ("rgb2depth_name", str(getattr(model, "rgb2depth_name", ""))),
        ("rgb2depth_options", json.dumps(getattr(model, "rgb2depth_options", {}))),
        (PRECISION_KEY, "int8"),
        (CALIBRATION_KEY, json.dumps(calibration.summary(), sort_keys=True)),
    ):
        p = proto.metadata_props.add()
        p.key, p.value = key, value
    return write_bytes(path, proto.SerializeToString())


# -- calibrating and quantising -------------------------------------------------------------------

def calibrate(model, images: Sequence[Path], hw: tuple[int, int] | None = None,
              output: str | os.PathLike | None = None) -> Calibration:
    """Calibrate ``model`` on ``images`` at network input ``hw`` (default ``meta.input_size``):
    activation ranges and the plan; with ``output``, also write the int8 ONNX file there."""
    hw = tuple(int(v) for v in (hw or model.meta.input_size))
    images = list(images)
    with tempfile.TemporaryDirectory(prefix="rgb2depth-int8-") as d:
        d = Path(d)
        pre = _preprocessed_float(model, hw, d)
        ranges = d / "ranges.json"
        reader = _reader(images, hw, model.meta.in_channels, "image")
        try:
            _quantize_static(pre, d / "all.onnx", ranges, reader)
        except ValueError as e:  # ONNX Runtime's histogram of a tensor whose values are all equal
            if "bins" not in str(e):
                raise
            _quantize_static(pre, d / "all.onnx", ranges, _reader(images, hw, model.meta.in_channels, "image"),
                             method="MinMax")
        ranges.write_text(json.dumps(_compact_ranges(json.loads(ranges.read_text()))))
        step = max(1, len(images) // SEARCH_IMAGES)
        xs = [network_input(im, hw, model.meta.in_channels) for im in images[::step][:SEARCH_IMAGES]]
        plan = choose_plan(model, pre, ranges, xs, d)
        cal = Calibration(
            ranges=json.loads(ranges.read_text()), model=model_key(model), plan=plan,
            images={"folder": str(Path(images[0]).parent), "count": len(images), "names_sha256": images_digest(images)},
            versions=_versions(),
        )
        if output is not None:
            _write_int8(model, _build(pre, ranges, plan, d / "int8.onnx"), Path(output), hw, cal)
    return cal


def quantize(model, calibration: Calibration, output: str | os.PathLike, hw: tuple[int, int] | None = None) -> Path:
    """Write the int8 ONNX file of ``model`` at ``hw`` from a calibration record (no images)."""
    hw = tuple(int(v) for v in (hw or model.meta.input_size))
    with tempfile.TemporaryDirectory(prefix="rgb2depth-int8-") as d:
        d = Path(d)
        pre = _preprocessed_float(model, hw, d)
        _check_covers(pre, calibration)
        ranges = d / "ranges.json"
        ranges.write_text(json.dumps(calibration.ranges))
        return _write_int8(model, _build(pre, ranges, calibration.plan, d / "int8.onnx"), Path(output), hw, calibration)


def _check_covers(pre: Path, calibration: Calibration) -> None:
    """The record fits this export of the network: its plan's layers exist and every weight
    layer's input and output has a range (tensor names change with the exporter)."""
    layers = weight_layers(pre)
    names = {n.name for n in layers}
    ranged = calibration.ranges.get("data", {})
    missing = [n for n in calibration.plan.get("float_nodes", []) if n not in names]
    missing += [t for n in layers for t in (n.input[0], n.output[0]) if t not in ranged]
    if missing:
        raise CalibrationError(f"int8 calibration does not fit this export of the network ({len(missing)} "
                               f"layers or tensors unknown to it, e.g. {missing[0]}); calibrate again")


def cache_path(model, calibration: Calibration, hw: tuple[int, int]) -> Path:
    """Where :func:`cached_int8_onnx` keeps the int8 file of ``model`` at ``hw``."""
    import onnxruntime

    from rgb2depth.export.formats import cache_dir, model_fingerprint

    key = model_fingerprint(model, calibration.digest(), onnxruntime.__version__)
    return cache_dir() / f"{getattr(model, 'rgb2depth_name', 'model')}-{key}-{hw[0]}x{hw[1]}.int8.onnx"


def cached_int8_onnx(model, calibration: Calibration, hw: tuple[int, int],
                     progress: Callable[[str], None] | None = None) -> Path:
    """The int8 ONNX file of ``model`` at ``hw``, made once (saying so through ``progress``,
    default: a line on stderr) and then reused from the cache folder. The file name holds the
    model's fingerprint and the calibration's digest, so other weights or ranges make a new
    file rather than reuse a stale one."""
    path = cache_path(model, calibration, hw)
    if path.is_file():
        return path
    say = progress or (lambda text: print(text, file=sys.stderr, flush=True))
    say(f"rgb2depth: making the int8 model of {getattr(model, 'rgb2depth_name', 'the network')} for "
        f"{hw[0]}x{hw[1]} input (once; cached as {path}) ...")
    t0 = time.perf_counter()
    try:
        out = quantize(model, calibration, path, hw)
    except OSError:  # cache folder not writable: the temporary folder instead
        path = Path(tempfile.gettempdir()) / "rgb2depth-onnx" / path.name
        out = path if path.is_file() else quantize(model, calibration, path, hw)
    say(f"rgb2depth: int8 model ready in {time.perf_counter() - t0:.1f} s")
    return out


def calibration_for(model, images: Sequence[Path]) -> Calibration:
    """A record for ``model`` from ``images``, cached by model and image list so that a second
    ``predict --int8 --calibrate DIR`` does not calibrate again."""
    from rgb2depth.export.formats import cache_dir, model_fingerprint

    key = model_fingerprint(model, images_digest(images), json.dumps(SETTINGS, sort_keys=True))
    path = cache_dir() / f"{getattr(model, 'rgb2depth_name', 'model')}-{key}.int8.json"
    if path.is_file():
        try:
            cal = Calibration.load(path)
            check_calibration(cal, model, path)
            return cal
        except CalibrationError:
            pass  # unreadable or stale cache entry: calibrate again and replace it
    print(f"rgb2depth: calibrating {getattr(model, 'rgb2depth_name', 'the network')} for int8 on "
          f"{len(images)} images (once; cached as {path}) ...", file=sys.stderr, flush=True)
    cal = calibrate(model, images)
    try:
        cal.save(path)
    except OSError:
        pass  # a read-only cache only costs the next run a calibration
    return cal


# -- checking -------------------------------------------------------------------------------------

def depth_difference(model, float_path: str | os.PathLike, int8_path: str | os.PathLike,
                     images: Sequence[Path], hw: tuple[int, int] | None = None) -> dict:
    """Depth (metres) of the float32 and int8 files on ``images`` (calibration-free ones):
    ``{"images", "median_rel", "p95_rel", "max_abs_m", "median_depth_m"}``; relative
    differences are ``|int8 - float32| / float32`` over all pixels of all images."""
    import torch

    from rgb2depth.export.formats import onnx_session
    from rgb2depth.inference.runners import output_to_metres

    hw = tuple(int(v) for v in (hw or model.meta.input_size))
    a, b = onnx_session(float_path), onnx_session(int8_path)
    rel, absd, depth = [], [], []
    for im in images:
        x = network_input(im, hw, model.meta.in_channels)
        da = output_to_metres(torch.from_numpy(a.run(None, {"image": x})[0]), model.meta).numpy()
        db = output_to_metres(torch.from_numpy(b.run(None, {"image": x})[0]), model.meta).numpy()
        absd.append(np.abs(db - da).ravel())
        rel.append((np.abs(db - da) / np.maximum(da, 1e-6)).ravel())
        depth.append(da.ravel())
    rel_all, abs_all = np.concatenate(rel), np.concatenate(absd)
    return {"images": len(images), "median_rel": float(np.median(rel_all)),
            "p95_rel": float(np.percentile(rel_all, 95)), "max_abs_m": float(abs_all.max()),
            "median_depth_m": float(np.median(np.concatenate(depth)))}


__all__ = [
    "CALIBRATION_KEY", "PRECISION_KEY", "cache_path", "cached_int8_onnx", "calibrate", "calibration_for",
    "choose_plan", "depth_difference", "quantize", "weight_layers",
]
