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
4. run the network (PyTorch, or ONNX Runtime with ``backend="onnxruntime"``; see *Precision*);
5. convert the output to metres (``models.to_metres`` with ``meta``) and resize it back to the
   input's resolution with bilinear interpolation (``cv2.INTER_LINEAR``, pixel centres aligned,
   i.e. ``align_corners=False``);
6. for a network that predicts depth for a canonical camera (``meta.extra["canonical_focal"]``,
   :func:`rgb2depth.models.camera_scale`), scale it to the photo's camera: the focal length
   given as ``focal=`` (pixels), else the EXIF focal length, else the canonical camera is assumed.

**Backends** (:mod:`rgb2depth.inference.runners`). The PyTorch backend folds BatchNorm into
the preceding convolutions (``model.fuse()`` when the model provides it, otherwise
:func:`~rgb2depth.inference.runners.fold_batchnorm`) and runs in channels-last memory format;
the fold is checked numerically against the unfolded network at load time. The ONNX Runtime
backend exports the network once per input size to a cached file
(:func:`rgb2depth.export.formats.cached_onnx`) and runs it with all graph optimisations. An
``.onnx`` model file runs with ONNX Runtime and a TorchScript file written by ``rgb2depth export``
with PyTorch, each at the one input size it was exported for; ``backend=None`` (the default)
picks ONNX Runtime for an ``.onnx`` file, for int8 and for the shipped default model on the CPU
(exported once per input size, with a one-line message), and PyTorch otherwise.

**Precision.** ``precision="float32"`` (default); ``"int8"``: ONNX Runtime runs a statically
quantised copy of the network (:mod:`rgb2depth.export.quantize`), made once per input size
from a calibration record and cached -- the default model ships its record; for another model
pass ``calibration=`` a folder of real images like the ones it will see, or load an int8 ``.onnx``
file written by ``rgb2depth export --int8``. ``"bf16"``: the PyTorch backend under bfloat16
autocast, only on CPUs with native bfloat16 arithmetic (AVX512-BF16 / AMX). Speed and accuracy
of each are measured in ``docs/results/int8.md``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from rgb2depth.inference.imageio import ImageReadError, exif_focal_px, to_rgb_array
from rgb2depth.inference.resolve import (
    ModelLoadError,
    ResolvedModel,
    default_weights_path,
    resolve_model,
)
from rgb2depth.inference.runners import (
    OnnxRunner,
    TorchRunner,
    bf16_supported,
    fold_batchnorm,
    output_to_metres,
)

BACKENDS = ("torch", "onnxruntime")
PRECISIONS = ("float32", "bf16", "int8")
#: Network input sides are rounded to this multiple when the aspect ratio is kept.
SIZE_MULTIPLE = 16


def resize_rgb(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize uint8 HxWxC: area averaging when shrinking, bilinear when enlarging."""
    import cv2

    h, w = rgb.shape[:2]
    if (h, w) == (height, width):
        return rgb
    interp = cv2.INTER_AREA if height * width < h * w else cv2.INTER_LINEAR
    out = cv2.resize(rgb, (width, height), interpolation=interp)
    return out[..., None] if out.ndim == 2 else out


def prepare_input(rgb: np.ndarray, hw: tuple[int, int], in_channels: int) -> np.ndarray:
    """The network input (HxWxC uint8) for HxWx3 RGB: :func:`resize_rgb` to ``hw``, converted to
    gray for a one-channel network."""
    x = resize_rgb(rgb, *hw)
    if in_channels == 1:
        import cv2

        x = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None]
    elif in_channels != 3:
        raise ValueError(f"model expects {in_channels} input channels; only 1 or 3 are supported")
    return x


def upsample_depth(depth: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of an HxW float32 depth map (``cv2.INTER_LINEAR``, half-pixel centres)."""
    import cv2

    if depth.shape == (height, width):
        return np.ascontiguousarray(depth, dtype=np.float32)
    return cv2.resize(np.ascontiguousarray(depth, dtype=np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


class DepthPredictor:
    """A loaded depth network with its preprocessing; see the module docstring.

    Attributes: ``meta`` (:class:`~rgb2depth.models.base.ModelMeta`), ``backend``,
    ``precision``, ``name``, ``untrained`` (True for a registry name built with random
    weights), ``model`` (the PyTorch module as loaded, unfused; None for an ``.onnx`` or
    TorchScript file), ``fixed_hw`` (the input size of an exported file), ``max_pixels`` (input
    pixel limit, None = :func:`~rgb2depth.inference.imageio.max_pixels_default`).

    ``calibration``: a :class:`rgb2depth.export.quantize.Calibration` for
    ``precision="int8"`` with a PyTorch ``model``.

    ``flip``: test-time flip averaging: each image is also run mirrored left-right and the
    mirrored-back depth is averaged in (in metres, as ``rgb2depth evaluate --flip`` does); it
    doubles the network's work.
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
        torchscript_path: str | os.PathLike | None = None,
        precision: str = "float32",
        calibration=None,
        flip: bool = False,
    ) -> None:
        check_combination(backend, precision, onnx_path, torchscript_path)
        self.flip = bool(flip)
        self.backend = backend
        self.precision = precision
        self.device = device
        self.name = name
        self.untrained = untrained
        self.keep_aspect = keep_aspect
        self.max_pixels = max_pixels
        self.fixed_hw: tuple[int, int] | None = None
        if onnx_path is not None:
            from rgb2depth.export.formats import read_onnx_meta

            self.meta, self.fixed_hw = read_onnx_meta(onnx_path)
            self.model = None
            self._run = OnnxRunner(onnx_path=Path(onnx_path), meta=self.meta, threads=threads,
                                    device=device, fixed_hw=self.fixed_hw)
        elif torchscript_path is not None:
            from rgb2depth.export.formats import load_torchscript

            module, self.meta, self.fixed_hw = load_torchscript(torchscript_path)
            self.model = None
            self._run = TorchRunner(module, device=device, fuse=False, threads=threads, meta=self.meta,
                                     bf16=precision == "bf16")
        else:
            if model is None:
                raise ValueError("DepthPredictor needs a model, an onnx_path or a torchscript_path")
            self.model = model.eval()
            self.meta = model.meta
            if backend == "torch":
                self._run = TorchRunner(model, device=device, fuse=fuse, threads=threads,
                                         bf16=precision == "bf16")
            else:
                self._run = OnnxRunner(model=model, threads=threads, device=device,
                                        calibration=calibration if precision == "int8" else None)

    def __repr__(self) -> str:
        h, w = self.meta.input_size
        tag = (", flip" if self.flip else "") + (", untrained" if self.untrained else "")
        return (f"DepthPredictor({self.name!r}, backend={self.backend!r}, precision={self.precision!r}, "
                f"input {h}x{w}, output {self.meta.output}{tag})")

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
        return prepare_input(rgb, hw, self.meta.in_channels)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        """Depth in metres (N, 1, h, w) for a uint8 NHWC batch; with ``flip``, the mean with the
        prediction for the mirrored batch, mirrored back."""
        y = self._run(batch)
        if self.flip:
            y = 0.5 * (y + self._run(np.ascontiguousarray(batch[:, :, ::-1]))[..., ::-1])
        return y

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
        out = self._infer(x[None])[0, 0] * np.float32(self.focal_scale(focal, w))
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

    def depth_focal(self, focal: float | None, width: int) -> float | None:
        """The focal length (px at ``width``) a prediction holds depth for: ``focal`` (the one
        resolved by :meth:`image_focal`: given or EXIF) when known, else the canonical camera of
        a model that has one (else None), so a point cloud back-projects with the camera the
        network assumed."""
        if focal is not None:
            return focal
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
                y = self._infer(x)
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


def _onnx_precision(path: Path) -> str:
    from rgb2depth.export.formats import read_onnx_props
    from rgb2depth.export.quantize import PRECISION_KEY

    return read_onnx_props(path).get(PRECISION_KEY, "float32")


def _int8_calibration(r: ResolvedModel, calibration):
    """The calibration record for an int8 run of a PyTorch model (see :func:`load`)."""
    from rgb2depth.export import calibration as c
    from rgb2depth.export.quantize import calibration_for

    if isinstance(calibration, c.Calibration):
        c.check_calibration(calibration, r.model, "calibration=")
        return calibration
    if calibration is not None:
        images, _ = c.calibration_images(calibration, c.DEFAULT_COUNT)
        return calibration_for(r.model, images)
    if r.is_default:
        return c.default_calibration(r.model)
    raise c.CalibrationError(
        f"{r.name}: int8 needs calibration images: pass calibration=DIR (predict --int8 --calibrate DIR), "
        "a folder of real images like the ones to predict, or load an int8 .onnx from rgb2depth export --int8")


def check_names(backend: str | None, precision: str) -> None:
    """Raise ValueError (one line) for an unknown backend or precision; ``backend=None`` (not
    chosen yet) passes, so :func:`load` can refuse a typo before it reads any file."""
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")


def check_combination(backend: str, precision: str, onnx_path=None, torchscript_path=None) -> None:
    """Raise ValueError (one line) unless ``backend`` can run ``precision`` and the given file:
    ONNX files and int8 run on ONNX Runtime, TorchScript files and bf16 on PyTorch. The one
    check behind both :func:`load` and :class:`DepthPredictor`."""
    check_names(backend, precision)
    if backend is None:
        raise ValueError(f"no backend chosen (choose from {', '.join(BACKENDS)})")
    if onnx_path is not None and backend != "onnxruntime":
        raise ValueError(f"{onnx_path}: an ONNX file runs with backend 'onnxruntime' only")
    if torchscript_path is not None and backend != "torch":
        raise ValueError(f"{torchscript_path}: a TorchScript file runs with backend 'torch' only")
    if precision == "int8" and backend != "onnxruntime":
        raise ValueError("precision 'int8' runs with backend 'onnxruntime' only")
    if precision == "bf16" and backend != "torch":
        raise ValueError("precision 'bf16' runs with backend 'torch' only")


def default_backend(r: ResolvedModel, device: str, precision: str) -> str:
    """The backend ``backend=None`` picks: ONNX Runtime for an ``.onnx`` file, for int8, and for
    the shipped default model in float32 on the CPU (its ONNX export is checked against PyTorch
    in the tests and runs about twice as fast on a laptop CPU, rgb2depth/weights/MODEL_CARD.md);
    PyTorch for everything else (other model files keep the backend they were trained with unless
    asked, and bf16 and GPUs are PyTorch's)."""
    if r.kind == "onnx" or precision == "int8":
        return "onnxruntime"
    if r.is_default and precision == "float32" and str(device) == "cpu":
        return "onnxruntime"
    return "torch"


def load(
    name_or_path: str | os.PathLike = "default",
    device: str = "cpu",
    backend: str | None = None,
    *,
    precision: str = "float32",
    calibration=None,
    threads: int | None = None,
    fuse: bool = True,
    keep_aspect: bool = True,
    max_pixels: int | None = None,
    flip: bool = False,
) -> DepthPredictor:
    """Load a depth predictor.

    ``name_or_path``: ``"default"`` (the weights shipped in ``rgb2depth/weights/default.pt``),
    a model file or training checkpoint (:func:`rgb2depth.models.io.load_model`), an ``.onnx``
    or TorchScript file written by ``rgb2depth export``, or a registry name (random weights; a
    warning says it is untrained); see :func:`rgb2depth.inference.resolve.resolve_model`.
    ``backend``: ``"torch"``, ``"onnxruntime"`` or None (:func:`default_backend`: ONNX Runtime
    for an ``.onnx`` file, for ``precision="int8"`` and for the default model on the CPU, else
    PyTorch). ``precision``: ``"float32"``, ``"int8"`` or
    ``"bf16"`` (see the module docstring); ``calibration``: for int8, a folder of calibration
    images or a :class:`rgb2depth.export.quantize.Calibration` (the default model needs none).
    ``threads``: intra-op threads (default: the library's choice). ``flip``: test-time flip
    averaging (:class:`DepthPredictor`). Raises :class:`ModelLoadError` with a one-line reason.
    """
    from rgb2depth.export.calibration import CalibrationError

    try:
        check_names(backend, precision)
    except ValueError as e:
        raise ModelLoadError(str(e)) from None
    from rgb2depth.devices import check_device

    try:
        device = check_device(device)
    except ValueError as e:
        raise ModelLoadError(str(e).replace("--device ", "device ")) from None
    r = resolve_model(name_or_path)
    if backend is None:
        backend = default_backend(r, device, precision)
    try:
        check_combination(backend, precision, r.onnx_path, r.torchscript_path)
    except ValueError as e:
        raise ModelLoadError(str(e)) from None
    if calibration is not None and precision != "int8":
        raise ModelLoadError("calibration images are for precision 'int8' only")
    if precision == "bf16" and device == "cpu" and not bf16_supported():
        raise ModelLoadError("precision 'bf16': this CPU has no native bfloat16 arithmetic "
                             "(AVX512-BF16 or AMX), where it is slower than float32; use float32")
    cal = None
    try:
        if r.kind == "onnx":
            stored = _onnx_precision(r.onnx_path)
            if precision == "int8" and stored != "int8":
                raise ModelLoadError(f"{r.onnx_path}: a {stored} ONNX file; write an int8 one with "
                                     "rgb2depth export --int8 --calibrate DIR, or load the model file")
            precision = stored
        elif precision == "int8":
            cal = _int8_calibration(r, calibration)
        predictor = DepthPredictor(
            r.model,
            backend=backend,
            device=device,
            name=r.name,
            untrained=r.untrained,
            onnx_path=r.onnx_path,
            torchscript_path=r.torchscript_path,
            threads=threads,
            fuse=fuse,
            keep_aspect=keep_aspect,
            max_pixels=max_pixels,
            precision=precision,
            calibration=cal,
            flip=flip,
        )
        if cal is not None:  # make (or find) the int8 file for the model's own input size now
            predictor._run.session(*predictor.network_size(*predictor.meta.input_size))
    except (CalibrationError, ValueError) as e:
        raise ModelLoadError(str(e).splitlines()[0]) from None
    return predictor


__all__ = ["BACKENDS", "PRECISIONS", "DepthPredictor", "ImageReadError", "ModelLoadError", "bf16_supported",
           "check_combination", "check_names", "default_backend",
           "default_weights_path", "fold_batchnorm", "load", "output_to_metres", "prepare_input", "resize_rgb",
           "upsample_depth"]
