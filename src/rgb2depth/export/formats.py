"""Export a depth network to ONNX or TorchScript, verify the export, and cache ONNX files.

The exported graph includes the model's first operation, ``layers.Normalize``, so an exported
file takes images in [0, 1] (N, C, H, W) exactly like the PyTorch model (DEVELOPING.md, Models),
and its output is the network's raw output of kind ``meta.output``. The model's
:class:`~rgb2depth.models.base.ModelMeta` is stored inside the file (ONNX ``metadata_props`` key
``rgb2depth_meta``; TorchScript extra file ``rgb2depth_meta.json``), so preprocessing and the
conversion to metres travel with the exported file too (:func:`read_onnx_meta`).

**Fixed spatial size.** Both exporters trace the network at one input size (H, W); the batch
dimension stays dynamic in ONNX. Tracing is used because the networks pad their input to a
multiple of their stride with Python control flow (``layers.pad_to_multiple``), which a trace
records for one size only; an export at a size the user never runs would silently compute the
wrong padding, so the size is explicit and recorded (``rgb2depth_input_hw``). The inference API
exports one cached file per network input size.

ONNX export uses ``torch.onnx.export`` (the TorchScript-based exporter, which is fast and handles
every model of the zoo; the dynamo exporter is tried when it fails). ONNX Runtime runs it.

**Loading back.** ``rgb2depth.load`` and ``predict --model`` take both kinds of file
(:mod:`rgb2depth.inference.resolve`): an ONNX file is data and runs with ONNX Runtime; a
TorchScript file runs with PyTorch after :func:`load_torchscript` has checked what its graph
calls. int8 ONNX files are made by :mod:`rgb2depth.export.quantize`.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from rgb2depth.fileio import write_bytes
from rgb2depth.models.base import ModelMeta, to_metres

OPSET = 17
#: Bumped whenever the graphs the project's modules trace change (e.g. the up-sampling blocks'
#: export form), so that files cached by an older version are made again, not reused.
GRAPH_VERSION = 2
META_KEY = "rgb2depth_meta"
SIZE_KEY = "rgb2depth_input_hw"
TS_META_FILE = "rgb2depth_meta.json"


def _size(model: nn.Module, size: tuple[int, int] | None) -> tuple[int, int]:
    if size is None:
        size = tuple(model.meta.input_size)
    h, w = (int(s) for s in size)
    if h <= 0 or w <= 0:
        raise ValueError(f"export size must be positive, got {h}x{w}")
    return h, w


def _example(model: nn.Module, h: int, w: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, model.meta.in_channels, h, w, generator=g)


def _cpu_eval_copy(model: nn.Module) -> nn.Module:
    m = copy.deepcopy(model).float().cpu().eval()
    return m.to(memory_format=torch.contiguous_format)


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    size: tuple[int, int] | None = None,
    opset: int = OPSET,
) -> Path:
    """Write ``model`` as an ONNX file at input size ``size`` (default ``meta.input_size``).

    Input ``image`` (N, C, H, W) float32 in [0, 1]; output ``depth`` (N, 1, h, w) of kind
    ``meta.output``; N is dynamic. Returns the path.
    """
    import onnx

    path = Path(path)
    h, w = _size(model, size)
    m = _cpu_eval_copy(model)
    x = _example(model, h, w)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                m,
                (x,),
                buf,
                dynamo=False,
                input_names=["image"],
                output_names=["depth"],
                dynamic_axes={"image": {0: "batch"}, "depth": {0: "batch"}},
                opset_version=opset,
                do_constant_folding=True,
            )
        except Exception as legacy_error:  # noqa: BLE001 - fall back to the dynamo exporter
            try:
                prog = torch.onnx.export(
                    m,
                    (x,),
                    dynamo=True,
                    input_names=["image"],
                    output_names=["depth"],
                    dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
                    opset_version=max(opset, 18),
                    verbose=False,
                )
                with tempfile.TemporaryDirectory() as d:
                    prog.save(str(Path(d) / "model.onnx"))
                    buf = io.BytesIO((Path(d) / "model.onnx").read_bytes())
            except Exception as e:  # noqa: BLE001
                raise RuntimeError(
                    f"ONNX export failed (TorchScript exporter: {legacy_error}; dynamo: {e})"
                ) from e
    proto = onnx.load_from_string(buf.getvalue())
    for key, value in (
        (META_KEY, json.dumps(model.meta.to_dict())),
        (SIZE_KEY, f"{h},{w}"),
        ("rgb2depth_name", str(getattr(model, "rgb2depth_name", ""))),
        ("rgb2depth_options", json.dumps(getattr(model, "rgb2depth_options", {}))),
    ):
        p = proto.metadata_props.add()
        p.key, p.value = key, value
    write_bytes(path, proto.SerializeToString())
    return path


def read_onnx_props(path: str | os.PathLike) -> dict[str, str]:
    """The metadata properties of an ONNX file (``ValueError`` naming an unreadable file)."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf / onnx errors, re-raised as one line
        text = str(e).strip().splitlines()
        raise ValueError(f"{path}: not a readable ONNX file ({text[0] if text else type(e).__name__})") from None
    return {p.key: p.value for p in proto.metadata_props}


def read_onnx_meta(path: str | os.PathLike) -> tuple[ModelMeta, tuple[int, int] | None]:
    """The :class:`ModelMeta` and traced (H, W) stored in an rgb2depth ONNX file."""
    props = read_onnx_props(path)
    if META_KEY not in props:
        raise ValueError(f"{path}: ONNX file has no rgb2depth metadata (not exported by rgb2depth)")
    meta = ModelMeta.from_dict(json.loads(props[META_KEY]))
    hw = None
    if SIZE_KEY in props:
        h, w = (int(t) for t in props[SIZE_KEY].split(","))
        hw = (h, w)
    return meta, hw


def export_torchscript(
    model: nn.Module, path: str | os.PathLike, size: tuple[int, int] | None = None
) -> Path:
    """Write ``model`` as a traced TorchScript file at input size ``size``."""
    path = Path(path)
    h, w = _size(model, size)
    m = _cpu_eval_copy(model)
    x = _example(model, h, w)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(m, (x,), check_trace=False)
    extra = {
        TS_META_FILE: json.dumps(
            {"meta": model.meta.to_dict(), "input_hw": [h, w], "name": getattr(model, "rgb2depth_name", "")}
        )
    }
    buf = io.BytesIO()
    torch.jit.save(traced, buf, _extra_files=extra)
    write_bytes(path, buf.getvalue())
    return path


#: Operator namespaces a TorchScript file may use; see :func:`load_torchscript`.
TS_NAMESPACES = ("aten", "prim")
#: Operators of those namespaces that reach outside the process (files) and are refused.
TS_REFUSED_OPS = frozenset({"aten::from_file", "aten::save", "aten::_load_for_mobile"})


def load_torchscript(path: str | os.PathLike) -> tuple[torch.jit.ScriptModule, ModelMeta, tuple[int, int] | None]:
    """A TorchScript file written by :func:`export_torchscript`: ``(module, meta, (H, W))``.

    **What loading one can do.** ``torch.jit.load`` does not unpickle with Python's pickle: the
    archive's ``data.pkl``/``constants.pkl`` are read by PyTorch's C++ unpickler, which builds
    only tensors, TorchScript objects and plain containers, and the ``code/`` it holds is
    TorchScript, compiled (not run) at load time and able to call registered operators only,
    never arbitrary Python. Before the module is returned, every operator of its inlined
    ``forward`` graph must be in :data:`TS_NAMESPACES` and not in :data:`TS_REFUSED_OPS` (the
    file-reading and -writing ones), so a file that reaches custom operators or the file system
    is refused. This is a sanity check, not a sandbox: the C++ parser is a large attack surface
    (PyTorch itself advises loading only trusted TorchScript). Prefer model files
    (``weights_only`` loading) or ONNX files (data only) from untrusted sources.

    Raises ``ValueError`` with one line naming the file.
    """
    path = Path(path)
    files = {TS_META_FILE: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=files)
    except Exception as e:  # noqa: BLE001 - re-raised as one line naming the file
        text = str(e).strip().splitlines()
        raise ValueError(f"{path}: not a readable TorchScript file ({text[0] if text else type(e).__name__})") from None
    if not files[TS_META_FILE]:
        raise ValueError(f"{path}: TorchScript file has no {TS_META_FILE} (not exported by rgb2depth)")
    try:
        info = json.loads(files[TS_META_FILE])
        meta = ModelMeta.from_dict(info["meta"])
        hw = tuple(int(v) for v in info["input_hw"]) if info.get("input_hw") else None
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: bad {TS_META_FILE} ({str(e).splitlines()[0]})") from None
    kinds = {n.kind() for n in module.inlined_graph.nodes()}
    bad = sorted(k for k in kinds if k.split("::")[0] not in TS_NAMESPACES or k in TS_REFUSED_OPS)
    if bad:
        raise ValueError(f"{path}: refused: the TorchScript graph calls {', '.join(bad[:3])}"
                         f"{', ...' if len(bad) > 3 else ''} (only {'/'.join(TS_NAMESPACES)} operators "
                         "that stay inside the process are run)")
    return module.eval(), meta, hw


def onnx_session(path: str | os.PathLike, threads: int | None = None, device: str = "cpu"):
    """An ONNX Runtime session with all graph optimisations; ``threads`` intra-op threads."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if threads:
        so.intra_op_num_threads = int(threads)
    so.log_severity_level = 3
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(str(path), sess_options=so, providers=providers)


def verify_export(
    model: nn.Module,
    path: str | os.PathLike,
    fmt: str,
    size: tuple[int, int] | None = None,
    batch: int = 2,
) -> dict:
    """Run the PyTorch model and the exported file on one random input; compare in metres.

    Returns ``{"max_abs_diff_m", "max_abs_diff_raw", "max_depth_m", "size", "batch"}``.
    """
    h, w = _size(model, size)
    m = _cpu_eval_copy(model)
    x = _example(model, h, w, batch=batch, seed=1)
    with torch.inference_mode():
        ref = m(x)
    if fmt == "onnx":
        sess = onnx_session(path)
        got = torch.from_numpy(sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0])
    elif fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ts = torch.jit.load(str(path), map_location="cpu")
        with torch.inference_mode():
            got = ts(x)
    else:
        raise ValueError(f"unknown export format {fmt!r} (onnx or torchscript)")
    if got.shape != ref.shape:
        raise RuntimeError(f"{path}: exported output shape {tuple(got.shape)} != PyTorch {tuple(ref.shape)}")
    ref_m, got_m = to_metres(ref, model.meta), to_metres(got, model.meta)
    return {
        "max_abs_diff_m": float((ref_m - got_m).abs().max()),
        "max_abs_diff_raw": float((ref - got).abs().max()),
        "max_depth_m": float(ref_m.abs().max()),
        "size": (h, w),
        "batch": batch,
    }


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of the network's name, options, meta and weights (names, dtypes, shapes, bytes):
    the same for the same weights whatever file or PyTorch version they came from."""
    h = hashlib.sha256()
    h.update(json.dumps([getattr(model, "rgb2depth_name", type(model).__name__),
                         getattr(model, "rgb2depth_options", {}), model.meta.to_dict()],
                        sort_keys=True, default=str).encode())
    for k, v in model.state_dict().items():
        h.update(k.encode())
        t = v.detach().cpu().contiguous()
        h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
        h.update(np.ascontiguousarray(t.reshape(-1).view(torch.uint8).numpy()).tobytes())
    return h.hexdigest()


def model_fingerprint(model: nn.Module, *extra: object) -> str:
    """A hash of :func:`weights_digest`, the PyTorch version (its exporter makes the graph),
    :data:`GRAPH_VERSION` and ``extra`` (for cache file names)."""
    h = hashlib.sha256()
    h.update(json.dumps([weights_digest(model), torch.__version__, GRAPH_VERSION, [str(e) for e in extra]]).encode())
    return h.hexdigest()[:20]


def cache_dir() -> Path:
    """Where exported ONNX files are cached: ``RGB2DEPTH_CACHE`` or ``~/.cache/rgb2depth``."""
    env = os.environ.get("RGB2DEPTH_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rgb2depth"
    return base / "onnx"


def cached_onnx(model: nn.Module, size: tuple[int, int]) -> Path:
    """The ONNX export of ``model`` at ``size``, written once and reused from :func:`cache_dir`."""
    h, w = _size(model, size)
    name = f"{getattr(model, 'rgb2depth_name', 'model')}-{model_fingerprint(model, OPSET)}-{h}x{w}.onnx"
    path = cache_dir() / name
    if path.is_file():
        return path
    print(f"rgb2depth: exporting {getattr(model, 'rgb2depth_name', 'the network')} to ONNX for {h}x{w} "
          f"input (once; cached as {path}) ...", file=sys.stderr, flush=True)
    try:
        return export_onnx(model, path, (h, w))
    except OSError:  # cache folder not writable (read-only home, ...): use the temp folder
        path = Path(tempfile.gettempdir()) / "rgb2depth-onnx" / name
        return path if path.is_file() else export_onnx(model, path, (h, w))
