"""The user-facing inference API: ``load`` a depth network, ``predict`` metric depth.

::

    import rgb2depth
    model = rgb2depth.load("default")          # or a model file, or a registry name
    depth = model.predict("photo.jpg")         # HxW float32 metres, same size as the photo

**What ``predict`` does** (the preprocessing travels with the model's ``meta``, so it cannot be
mismatched with the weights):

1. decode (:mod:`rgb2depth.inference.imageio`: EXIF orientation, mode conversion, size checks);
2. choose the network input size (:meth:`DepthPredictor.network_size`): the image is resized to
   the number of pixels of ``meta.input_size`` (240x320 for the real-time U-Net, paper 000
   Section 4.1) while keeping its aspect ratio, each side rounded to a multiple of 16 -- a 4:3
   image runs at exactly ``meta.input_size``, a portrait photo at 320x240 instead of being
   squashed. Models with a fixed-size head (``meta.output_scale is None``) get exactly
   ``meta.input_size``. ``keep_aspect=False`` always uses ``meta.input_size``;
3. resize with OpenCV: ``INTER_AREA`` (pixel-area averaging) when shrinking, ``INTER_LINEAR``
   (bilinear) when enlarging; scale to [0, 1] float32 (the network normalises inside);
4. run the network (PyTorch, or ONNX Runtime with ``backend="onnxruntime"``);
5. convert the output to metres (``models.to_metres`` with ``meta``) and resize it back to the
   input's resolution with bilinear interpolation (``cv2.INTER_LINEAR``, pixel centres aligned,
   i.e. ``align_corners=False``);
6. for a network that predicts depth for a canonical camera (``meta.extra["canonical_focal"]``,
   :func:`rgb2depth.models.camera_scale`), scale it to the photo's camera: the focal length
   given as ``focal=`` (pixels), else the EXIF focal length, else the canonical camera is assumed.

The PyTorch backend folds BatchNorm into the preceding convolutions (``model.fuse()`` when the
model provides it, otherwise :func:`fold_batchnorm`) and runs in channels-last memory format;
the fold is checked numerically against the unfolded network at load time. The ONNX Runtime
backend exports the network once per input size to a cached file
(:func:`rgb2depth.export.formats.cached_onnx`) and runs it with all graph optimisations.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from rgb2depth.inference.imageio import ImageReadError, exif_focal_px, to_rgb_array

BACKENDS = ("torch", "onnxruntime")
#: Network input sides are rounded to this multiple when the aspect ratio is kept.
SIZE_MULTIPLE = 16


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message is one line saying which and why."""


def default_weights_path() -> Path:
    from rgb2depth.paths import WEIGHTS_DIR

    return WEIGHTS_DIR / "default.pt"


def resize_rgb(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize uint8 HxWxC: area averaging when shrinking, bilinear when enlarging."""
    import cv2

    h, w = rgb.shape[:2]
    if (h, w) == (height, width):
        return rgb
    interp = cv2.INTER_AREA if height * width < h * w else cv2.INTER_LINEAR
    out = cv2.resize(rgb, (width, height), interpolation=interp)
    return out[..., None] if out.ndim == 2 else out


def upsample_depth(depth: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of an HxW float32 depth map (``cv2.INTER_LINEAR``, half-pixel centres)."""
    import cv2

    if depth.shape == (height, width):
        return np.ascontiguousarray(depth, dtype=np.float32)
    return cv2.resize(np.ascontiguousarray(depth, dtype=np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


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


class _TorchRunner:
    """Runs a PyTorch model on uint8 NHWC batches; returns metres (N, 1, h, w) numpy."""

    def __init__(self, model, device: str = "cpu", fuse: bool = True, threads: int | None = None) -> None:
        import torch

        if threads:
            torch.set_num_threads(int(threads))
        self.device = torch.device(device)
        self.meta = model.meta
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

    def raw(self, x):
        """The network's raw output for a float (N, C, H, W) tensor in [0, 1] (benchmarks)."""
        import torch

        with torch.inference_mode():
            x = x.to(self.device)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            return self.model(x)

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
            y = output_to_metres(self.model(x), self.meta)
            return y.float().cpu().contiguous().numpy()


class _OnnxRunner:
    """Runs ONNX Runtime sessions (one per network input size) on uint8 NHWC batches."""

    def __init__(self, model=None, onnx_path: Path | None = None, meta=None, threads: int | None = None,
                 device: str = "cpu", fixed_hw: tuple[int, int] | None = None) -> None:
        self.model = model  # torch model to export from (None when an .onnx file was given)
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
            if self.model is not None:
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
        import torch

        n, h, w, c = batch.shape
        sess = self.session(h, w)
        x = np.empty((n, c, h, w), dtype=np.float32)
        np.multiply(batch.transpose(0, 3, 1, 2), np.float32(1.0 / 255.0), out=x)
        y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        return output_to_metres(torch.from_numpy(y), self.meta).numpy()


class DepthPredictor:
    """A loaded depth network with its preprocessing; see the module docstring.

    Attributes: ``meta`` (:class:`~rgb2depth.models.base.ModelMeta`), ``backend``, ``name``,
    ``untrained`` (True for a registry name built with random weights), ``model`` (the PyTorch
    module as loaded, unfused; None for an ``.onnx`` file), ``max_pixels`` (input pixel limit,
    None = :func:`~rgb2depth.inference.imageio.max_pixels_default`).
    """

    def __init__(
        self,
        model=None,
        *,
        backend: str = "torch",
        device: str = "cpu",
        name: str = "",
        untrained: bool = False,
        onnx_path: str | os.PathLike | None = None,
        threads: int | None = None,
        fuse: bool = True,
        keep_aspect: bool = True,
        max_pixels: int | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
        self.backend = backend
        self.device = device
        self.name = name
        self.untrained = untrained
        self.keep_aspect = keep_aspect
        self.max_pixels = max_pixels
        self.fixed_hw: tuple[int, int] | None = None
        if onnx_path is not None:
            from rgb2depth.export.formats import read_onnx_meta

            if backend != "onnxruntime":
                raise ValueError(f"{onnx_path}: an ONNX file needs backend='onnxruntime'")
            self.meta, self.fixed_hw = read_onnx_meta(onnx_path)
            self.model = None
            self._run = _OnnxRunner(onnx_path=Path(onnx_path), meta=self.meta, threads=threads,
                                    device=device, fixed_hw=self.fixed_hw)
        else:
            if model is None:
                raise ValueError("DepthPredictor needs a model or an onnx_path")
            self.model = model.eval()
            self.meta = model.meta
            if backend == "torch":
                self._run = _TorchRunner(model, device=device, fuse=fuse, threads=threads)
            else:
                self._run = _OnnxRunner(model=model, threads=threads, device=device)

    def __repr__(self) -> str:
        h, w = self.meta.input_size
        tag = ", untrained" if self.untrained else ""
        return f"DepthPredictor({self.name!r}, backend={self.backend!r}, input {h}x{w}, output {self.meta.output}{tag})"

    # -- sizes -----------------------------------------------------------------------------
    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """The (h, w) the network runs at for an input image of ``height`` x ``width``."""
        if self.fixed_hw is not None:
            return self.fixed_hw
        h0, w0 = (int(s) for s in self.meta.input_size)
        if not self.keep_aspect or self.meta.output_scale is None:
            return h0, w0
        area = h0 * w0
        aspect = width / height
        nh = math.sqrt(area / aspect)
        nw = nh * aspect
        m = SIZE_MULTIPLE
        return max(m, int(round(nh / m)) * m), max(m, int(round(nw / m)) * m)

    # -- prediction ------------------------------------------------------------------------
    def _prepare(self, rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        x = resize_rgb(rgb, *hw)
        if self.meta.in_channels == 1:
            import cv2

            x = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None]
        elif self.meta.in_channels != 3:
            raise ValueError(f"model expects {self.meta.in_channels} input channels; only 1 or 3 are supported")
        return x

    def _postprocess(self, out: np.ndarray, height: int, width: int, name: str) -> np.ndarray:
        if not np.isfinite(out).all():
            raise RuntimeError(f"{name}: the network produced NaN or infinite depth")
        return upsample_depth(out, height, width)

    def predict_rgb(self, rgb: np.ndarray, name: str = "<array>", focal: float | None = None) -> np.ndarray:
        """Depth (HxW float32 metres) for an already-decoded HxWx3 uint8 RGB array.

        ``focal``: the camera's horizontal focal length in pixels of ``rgb``; see :meth:`predict`.
        """
        h, w = rgb.shape[:2]
        x = self._prepare(rgb, self.network_size(h, w))
        out = self._run(x[None])[0, 0] * np.float32(self.focal_scale(focal, w))
        return self._postprocess(out, h, w, name)

    def focal_scale(self, focal: float | None, width: int) -> float:
        """Output factor for a camera of ``focal`` px on an image ``width`` px wide (1 when the
        focal length is unknown or the model has no canonical camera)."""
        from rgb2depth.models.base import camera_scale

        if focal is None:
            return 1.0
        if not (np.isfinite(focal) and focal > 0):
            raise ValueError(f"focal length must be a positive number of pixels, got {focal}")
        return float(camera_scale(self.meta, float(focal) / float(width)))

    def load_image(self, image, name: str | None = None) -> np.ndarray:
        """Decode/validate ``image`` (path, PIL image, array) to HxWx3 uint8 RGB."""
        if name is None:
            name = str(image) if isinstance(image, (str, os.PathLike)) else f"<{type(image).__name__}>"
        return to_rgb_array(image, name=name, max_pixels=self.max_pixels)

    def predict(self, image, focal: float | None = None) -> np.ndarray:
        """HxW float32 depth in metres for ``image`` at the image's own (displayed) resolution.

        ``image``: a file path, a PIL image or an HxWx3 uint8 RGB array. Raises
        :class:`~rgb2depth.inference.imageio.ImageReadError` for unusable input.
        ``focal``: horizontal focal length in pixels of the image as given. When None, the EXIF
        focal length of a file or PIL image is used if present; otherwise a model with a
        canonical camera assumes it (``meta.extra["canonical_focal"]`` image widths).
        """
        return self.predict_with_rgb(image, focal)[0]

    def image_focal(self, image, focal: float | None = None) -> float | None:
        """``focal`` if given, else the EXIF focal length (px) of a file or PIL image, else None."""
        if focal is not None or isinstance(image, np.ndarray):
            return focal
        return exif_focal_px(image)

    def depth_focal(self, image, focal: float | None, width: int) -> float | None:
        """The focal length (px at ``width``) the prediction for ``image`` holds depth for: the
        given or EXIF one, else the canonical camera of a model that has one (else None), so a
        point cloud back-projects with the camera the network assumed."""
        f = self.image_focal(image, focal)
        if f is not None:
            return f
        canonical = (self.meta.extra or {}).get("canonical_focal") if self.meta is not None else None
        return None if canonical is None else float(canonical) * width

    def predict_with_rgb(self, image, focal: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(depth, rgb)``: the prediction and the decoded, oriented RGB it was made from."""
        rgb = self.load_image(image)
        return self.predict_rgb(rgb, name=_name_of(image), focal=self.image_focal(image, focal)), rgb

    def predict_batch(self, images: Iterable, batch_size: int = 8, on_error: str = "raise"):
        """Predict many images, running the network on batches of ``batch_size``.

        Images of the same network input size are stacked into one forward pass.

        ``on_error="raise"`` (default): returns the list of depth maps in the input order; a
        bad input raises its ``ImageReadError`` (a non-finite prediction its ``RuntimeError``)
        and no result is returned. ``on_error="collect"``: every good input is still
        predicted; returns ``(depths, errors)`` where ``depths[i]`` is the depth map of input
        ``i`` or None when it failed, and ``errors`` maps the index of each failed input to its
        exception (``str(err)`` is one line naming the input).
        """
        if on_error not in ("raise", "collect"):
            raise ValueError(f"on_error must be 'raise' or 'collect', got {on_error!r}")
        images = list(images)
        names = [_name_of(im) for im in images]
        rgbs: dict[int, np.ndarray] = {}
        errors: dict[int, Exception] = {}
        for i, im in enumerate(images):
            try:
                rgbs[i] = self.load_image(im)
            except ImageReadError as e:
                if on_error == "raise":
                    raise
                errors[i] = e
        idx = list(rgbs)
        result = self.predict_rgb_batch([rgbs[i] for i in idx], batch_size=batch_size,
                                        names=[names[i] for i in idx], on_error=on_error)
        if on_error == "raise":
            return result
        good, failed = result
        depths: list[np.ndarray | None] = [None] * len(images)
        for k, i in enumerate(idx):
            depths[i] = good[k]
        errors.update({idx[k]: e for k, e in failed.items()})
        return depths, dict(sorted(errors.items()))

    def predict_rgb_batch(self, rgbs: Sequence[np.ndarray], batch_size: int = 8,
                          names: Sequence[str] | None = None, on_error: str = "raise"):
        """:meth:`predict_batch` for decoded HxWx3 uint8 arrays (``on_error`` likewise: with
        ``"collect"`` a non-finite prediction is reported per image, not raised)."""
        out: list[np.ndarray | None] = [None] * len(rgbs)
        errors: dict[int, Exception] = {}
        groups: dict[tuple[int, int], list[int]] = {}
        for i, rgb in enumerate(rgbs):
            groups.setdefault(self.network_size(*rgb.shape[:2]), []).append(i)
        for hw, idx in groups.items():
            for s in range(0, len(idx), max(1, batch_size)):
                chunk = idx[s:s + max(1, batch_size)]
                x = np.stack([self._prepare(rgbs[i], hw) for i in chunk])
                y = self._run(x)
                for j, i in enumerate(chunk):
                    h, w = rgbs[i].shape[:2]
                    try:
                        out[i] = self._postprocess(y[j, 0], h, w, names[i] if names else "<image>")
                    except RuntimeError as e:
                        if on_error == "raise":
                            raise
                        errors[i] = e
        return out if on_error == "raise" else (out, errors)


def _name_of(image) -> str:
    return str(image) if isinstance(image, (str, os.PathLike)) else f"<{type(image).__name__}>"


def _resolve(name_or_path: str | os.PathLike):
    """-> (torch model or None, onnx path or None, display name, untrained flag)."""
    from rgb2depth import models
    from rgb2depth.models.io import load_model

    text = str(name_or_path)
    if text == "default":
        path = default_weights_path()
        if not path.is_file():
            raise ModelLoadError(
                f"the default weights are not present ({path} does not exist): this installation "
                "has no trained default model yet; pass a model file (--model PATH) instead"
            )
        return load_model(path), None, "default", False
    path = Path(text).expanduser()
    if path.is_file():
        if path.suffix.lower() == ".onnx":
            return None, path, path.name, False
        try:
            return load_model(path), None, path.name, False
        except (ValueError, KeyError, RuntimeError) as e:
            raise ModelLoadError(str(e).splitlines()[0]) from None
    if text in models.names():
        warnings.warn(
            f"model {text!r} is built with random weights (untrained): its depth is meaningless; "
            "use it only to test plumbing or speed",
            UserWarning,
            stacklevel=3,
        )
        return models.create(text), None, text, True
    if path.suffix or os.sep in text:
        raise ModelLoadError(f"{text}: no such model file")
    raise ModelLoadError(
        f"{text!r} is neither 'default', a model file, nor a registered model "
        f"(known: {', '.join(models.names()) or 'none'})"
    )


def load(
    name_or_path: str | os.PathLike = "default",
    device: str = "cpu",
    backend: str = "torch",
    *,
    threads: int | None = None,
    fuse: bool = True,
    keep_aspect: bool = True,
    max_pixels: int | None = None,
) -> DepthPredictor:
    """Load a depth predictor.

    ``name_or_path``: ``"default"`` (the weights shipped in ``rgb2depth/weights/default.pt``),
    a model file or training checkpoint (:func:`rgb2depth.models.io.load_model`), an ``.onnx``
    file exported by rgb2depth (ONNX Runtime backend only), or a registry name (random weights;
    a warning says it is untrained). ``backend``: ``"torch"`` or ``"onnxruntime"``.
    ``threads``: intra-op threads (default: the library's choice). Raises
    :class:`ModelLoadError` with a one-line reason.
    """
    if backend not in BACKENDS:
        raise ModelLoadError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    from rgb2depth.devices import check_device

    try:
        device = check_device(device)
    except ValueError as e:
        raise ModelLoadError(str(e).replace("--device ", "device ")) from None
    model, onnx_path, name, untrained = _resolve(name_or_path)
    if onnx_path is not None and backend != "onnxruntime":
        raise ModelLoadError(f"{onnx_path}: an ONNX file runs with backend 'onnxruntime' only")
    return DepthPredictor(
        model,
        backend=backend,
        device=device,
        name=name,
        untrained=untrained,
        onnx_path=onnx_path,
        threads=threads,
        fuse=fuse,
        keep_aspect=keep_aspect,
        max_pixels=max_pixels,
    )


__all__ = ["DepthPredictor", "ImageReadError", "ModelLoadError", "load", "resize_rgb", "upsample_depth"]
