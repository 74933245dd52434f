"""What runs a network inside a :class:`~rgb2depth.inference.api.DepthPredictor`.

- :class:`TorchRunner`: PyTorch, BatchNorm folded into the convolutions (checked numerically at
  load time), channels-last memory, optionally under bfloat16 autocast;
- :class:`OnnxRunner`: ONNX Runtime sessions, one per network input size, exported from the
  PyTorch model once and cached (float32, or int8 from a calibration record), or one given file.

Both take uint8 NHWC batches and return depth in metres, (N, 1, h, w) numpy; ``raw`` gives the
network's raw output for a float tensor (benchmarks).
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np

#: CPU flags (Linux ``/proc/cpuinfo``) of native bfloat16 arithmetic that oneDNN uses.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def bf16_supported() -> bool:
    """Whether this CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX, read from the
    CPU flags; False where they cannot be read): without it PyTorch emulates bfloat16, slower
    than float32."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = {f for line in text.splitlines() if line.startswith("flags") for f in line.split(":", 1)[-1].split()}
    return bool(BF16_FLAGS & flags)


def output_to_metres(y, meta):
    """``models.to_metres`` after clamping to the kind's valid range.

    ``normalized`` outputs are clipped to [0, 1] (depth / max_depth; a linear head can leave it)
    and ``metres`` outputs to >= 0, so a prediction is never a negative depth.
    """
    from rgb2depth.models.base import to_metres

    if meta.output == "normalized":
        y = y.clamp(0.0, 1.0)
    elif meta.output == "metres":
        y = y.clamp_min(0.0)
    return to_metres(y, meta)


def output_to_metres_np(y: np.ndarray, meta) -> np.ndarray:
    """:func:`output_to_metres` for a NumPy array, in NumPy: the ONNX Runtime backend's outputs.

    Not through torch: its first operator after an ONNX Runtime call wakes torch's thread pool
    while ONNX Runtime's threads still spin on the cores, which turned a 96x128 ``exp`` into
    milliseconds. Checked against :func:`output_to_metres` in the tests."""
    y = np.asarray(y, dtype=np.float32)
    if meta.output == "normalized":
        return np.clip(y, 0.0, 1.0) * np.float32(meta.max_depth)
    if meta.output == "metres":
        return np.maximum(y, 0.0)
    if meta.output == "log":
        return np.exp(y)
    raise ValueError(f"unknown output kind {meta.output!r}")


def fold_batchnorm(model):
    """Fold every ``BatchNorm2d`` that directly follows a ``Conv2d`` inside an ``nn.Sequential``.

    Only Sequential containers are rewritten because only there is the data flow conv -> bn
    known from the module structure. Uses ``torch.nn.utils.fusion.fuse_conv_bn_eval``. The model
    must be in eval mode; it is modified in place and returned.
    """
    import torch.nn as nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for mod in list(model.modules()):
        if not isinstance(mod, nn.Sequential):
            continue
        keys = list(mod._modules.keys())
        for a, b in zip(keys, keys[1:], strict=False):
            conv, bn = mod._modules[a], mod._modules[b]
            if (
                isinstance(conv, nn.Conv2d)
                and isinstance(bn, nn.BatchNorm2d)
                and bn.track_running_stats
                and bn.running_mean is not None
                and conv.out_channels == bn.num_features
            ):
                mod._modules[a] = fuse_conv_bn_eval(conv, bn)
                mod._modules[b] = nn.Identity()
    return model


class TorchRunner:
    """Runs a PyTorch model on uint8 NHWC batches; returns metres (N, 1, h, w) numpy.

    ``meta`` for a module without one (TorchScript); ``bf16``: run under bfloat16 autocast.
    """

    def __init__(self, model, device: str = "cpu", fuse: bool = True, threads: int | None = None,
                 meta=None, bf16: bool = False) -> None:
        import torch

        if threads:
            torch.set_num_threads(int(threads))
        self.device = torch.device(device)
        self.meta = meta if meta is not None else model.meta
        self.bf16 = bf16
        self.channels_last = self.device.type == "cpu" or self.device.type == "cuda"
        model = model.eval().to(self.device)
        if fuse:
            model = self._fused(model)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model

    def _fused(self, model):
        import torch

        fused = copy.deepcopy(model)
        try:
            if callable(getattr(fused, "fuse", None)):
                out = fused.fuse()
                fused = out if isinstance(out, torch.nn.Module) else fused
            else:
                fused = fold_batchnorm(fused)
            fused.eval()
            h, w = self.meta.input_size
            x = torch.rand(1, self.meta.in_channels, h, w, generator=torch.Generator().manual_seed(0)).to(self.device)
            with torch.inference_mode():
                a, b = model(x), fused(x)
            tol = 1e-3 * (1.0 + float(a.abs().max()))
            if a.shape == b.shape and float((a - b).abs().max()) <= tol:
                return fused
            warnings.warn("BatchNorm folding changed the output; running the unfolded model", stacklevel=3)
        except Exception as e:  # noqa: BLE001 - folding is an optimisation; never fatal
            warnings.warn(f"BatchNorm folding failed ({e}); running the unfolded model", stacklevel=3)
        return model

    def _forward(self, x):
        import torch

        if not self.bf16:
            return self.model(x)
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            return self.model(x).float()

    def raw(self, x):
        """The network's raw output for a float (N, C, H, W) tensor in [0, 1] (benchmarks)."""
        import torch

        with torch.inference_mode():
            x = x.to(self.device)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            return self._forward(x)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import torch

        if not batch.flags.writeable:  # torch.from_numpy warns on read-only arrays
            batch = batch.copy()
        with torch.inference_mode():
            # uint8 NHWC -> NCHW view (channels_last strides), float in [0, 1]
            x = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2)
            x = x.float().div_(255.0)
            if not self.channels_last:
                x = x.contiguous()
            y = output_to_metres(self._forward(x), self.meta)
            return y.float().cpu().contiguous().numpy()


class OnnxRunner:
    """Runs ONNX Runtime sessions (one per network input size) on uint8 NHWC batches.

    With a torch ``model``, each input size is exported once to a cached file: float32, or int8
    when a ``calibration`` record is given (:func:`rgb2depth.export.quantize.cached_int8_onnx`).
    """

    def __init__(self, model=None, onnx_path: Path | None = None, meta=None, threads: int | None = None,
                 device: str = "cpu", fixed_hw: tuple[int, int] | None = None, calibration=None) -> None:
        self.model = model  # torch model to export from (None when an .onnx file was given)
        self.calibration = calibration
        self.onnx_path = onnx_path
        self.meta = model.meta if model is not None else meta
        self.threads = threads
        self.device = device
        self.fixed_hw = fixed_hw
        self.sessions: dict[tuple[int, int], object] = {}

    def session(self, h: int, w: int):
        from rgb2depth.export.formats import cached_onnx, onnx_session

        s = self.sessions.get((h, w))
        if s is None:
            if self.model is not None and self.calibration is not None:
                from rgb2depth.export.quantize import cached_int8_onnx

                path = cached_int8_onnx(self.model, self.calibration, (h, w))
            elif self.model is not None:
                path = cached_onnx(self.model, (h, w))
            else:
                if self.fixed_hw is not None and (h, w) != self.fixed_hw:
                    raise ValueError(f"{self.onnx_path}: exported for {self.fixed_hw}, asked to run {h}x{w}")
                path = self.onnx_path
            s = onnx_session(path, threads=self.threads, device=self.device)
            self.sessions[(h, w)] = s
        return s

    def raw(self, x):
        """The network's raw output for a float (N, C, H, W) tensor in [0, 1] (benchmarks)."""
        sess = self.session(int(x.shape[2]), int(x.shape[3]))
        return sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        n, h, w, c = batch.shape
        sess = self.session(h, w)
        x = np.empty((n, c, h, w), dtype=np.float32)
        np.multiply(batch.transpose(0, 3, 1, 2), np.float32(1.0 / 255.0), out=x)
        y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        return output_to_metres_np(y, self.meta)


__all__ = ["OnnxRunner", "TorchRunner", "bf16_supported", "fold_batchnorm", "output_to_metres", "output_to_metres_np"]
