"""Per-frame preparation for reconstruction: depth sources, working resolution, lens
undistortion, depth checks and per-frame depth scale.

Everything here acts on one *sample* dict as the dataset loaders produce it (``rgb`` HxWx3
uint8, ``depth`` HxW float32 metres with NaN = invalid or None, ``valid``, ``K``
:class:`~rgb2depth.geometry.camera.Intrinsics`, ``id``, optional ``pose`` camera-to-world and
``timestamp``). Depth is z-depth in metres; at the open3d boundary invalid depth becomes 0
(open3d's "no measurement" value).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

DepthFn = Callable[[dict], np.ndarray]

#: Lens distortion (OpenCV order k1, k2, p1, p2, k3) of the TUM RGB-D cameras, from the
#: dataset's published calibration of the colour camera, in the pixel units of the 640x480
#: images. The stored images and the depth registered to them are not undistorted; freiburg3
#: images are (its coefficients are zero). Matched on the sequence folder name.
TUM_DISTORTION = {
    "freiburg1": (0.2624, -0.9531, -0.0054, 0.0026, 1.1633),
    "freiburg2": (0.2312, -0.7849, -0.0033, -0.0001, 0.9172),
}


class ReconstructionError(ValueError):
    """A problem with the input sequence; the message is one line naming the input."""


# ---------------------------------------------------------------------------------------------
# Depth sources
# ---------------------------------------------------------------------------------------------
def ground_truth_depth(sample: dict) -> np.ndarray:
    """The sample's own (sensor) depth: the reference depth source."""
    d = sample.get("depth")
    if d is None:
        raise ReconstructionError(f"{sample.get('id', '<sample>')}: the sequence has no ground-truth depth")
    return d


def predictor_depth(predictor) -> DepthFn:
    """A depth function from an object with ``predict(rgb_uint8) -> HxW float32 metres``
    (e.g. ``rgb2depth.load("default")``).

    When ``predict`` takes ``focal`` (the library's predictors do), the frame's focal length
    in pixels of the frame as given is passed: a network trained for a canonical camera
    scales its metres to the sequence's camera (7-Scenes' 585 px at 640 px wide is 11 % longer
    than the default model's canonical 0.82 widths).
    """
    import inspect

    try:
        takes_focal = "focal" in inspect.signature(predictor.predict).parameters
    except (TypeError, ValueError):
        takes_focal = False

    def fn(sample: dict) -> np.ndarray:
        K = sample.get("K")
        if takes_focal and K is not None:
            return predictor.predict(sample["rgb"], focal=K.fx)
        return predictor.predict(sample["rgb"])

    fn.predictor = predictor  # type: ignore[attr-defined]
    return fn


# ---------------------------------------------------------------------------------------------
# Working resolution and lens distortion
# ---------------------------------------------------------------------------------------------
def resize_sample(sample: dict, width: int | None) -> dict:
    """The sample at ``width`` pixels wide (aspect kept): RGB by area averaging, depth and
    ``valid`` by nearest neighbour (no mixing of depths across object edges), intrinsics
    scaled. Wider than the image: unchanged."""
    import cv2

    rgb = sample["rgb"]
    h, w = rgb.shape[:2]
    if not width or width >= w:
        return dict(sample)
    nw = int(width)
    nh = max(1, int(round(h * nw / w)))
    out = dict(sample)
    out["rgb"] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    if sample.get("depth") is not None:
        out["depth"] = cv2.resize(sample["depth"], (nw, nh), interpolation=cv2.INTER_NEAREST)
    if sample.get("valid") is not None:
        out["valid"] = cv2.resize(sample["valid"].astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST).astype(bool)
    if sample.get("K") is not None:
        out["K"] = sample["K"].scaled(nw, nh)
    return out


def parse_distortion(text: str) -> tuple[float, ...]:
    """``"k1,k2,p1,p2[,k3]"`` (OpenCV order) as a tuple of floats."""
    try:
        vals = tuple(float(t) for t in text.split(","))
    except ValueError:
        raise ValueError(f"distortion must be 'k1,k2,p1,p2[,k3]' (numbers), got {text!r}") from None
    if len(vals) not in (4, 5) or not all(np.isfinite(vals)):
        raise ValueError(f"distortion must be 'k1,k2,p1,p2[,k3]' (4 or 5 finite numbers), got {text!r}")
    return vals


def known_distortion(path) -> tuple[float, ...] | None:
    """The published lens distortion of a TUM RGB-D sequence, from its folder name
    (``rgbd_dataset_freiburg1_*`` -> freiburg1), or None when the name says nothing."""
    m = re.search(r"freiburg(\d)", Path(path).name)
    return TUM_DISTORTION.get(f"freiburg{m.group(1)}") if m else None


class Undistorter:
    """Remove lens distortion from samples (OpenCV's undistortion maps, cached per size).

    RGB is resampled bilinearly, depth and ``valid`` by nearest neighbour; the intrinsics
    stay those of the pinhole model. Pixels that map outside the image become invalid depth.
    The coefficients are in the pixel units of the full-size images; undistorting after
    :func:`resize_sample` is the same model, as the normalised coordinates do not change.
    """

    def __init__(self, coeffs: Sequence[float]) -> None:
        self.coeffs = np.asarray(coeffs, dtype=np.float64)
        self._maps: dict = {}

    def __call__(self, sample: dict) -> dict:
        import cv2

        K = sample.get("K")
        if K is None or not np.any(self.coeffs):
            return sample
        key = (K.fx, K.fy, K.cx, K.cy, K.width, K.height)
        if key not in self._maps:
            self._maps[key] = cv2.initUndistortRectifyMap(K.matrix(), self.coeffs, None, K.matrix(),
                                                          (K.width, K.height), cv2.CV_32FC1)
        m1, m2 = self._maps[key]
        out = dict(sample)
        out["rgb"] = cv2.remap(sample["rgb"], m1, m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if sample.get("depth") is not None:
            out["depth"] = cv2.remap(sample["depth"], m1, m2, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                                     borderValue=float("nan"))
            out["valid"] = np.isfinite(out["depth"]) & (out["depth"] > 0)
        return out


# ---------------------------------------------------------------------------------------------
# Depth maps
# ---------------------------------------------------------------------------------------------
def fit_depth(depth: np.ndarray, h: int, w: int, name: str) -> np.ndarray:
    """``depth`` as HxW float32 at (h, w), checked; non-finite/<=0 -> NaN.

    Raises :class:`ReconstructionError` naming ``name`` when it is not a 2-D map.
    """
    import cv2

    d = np.asarray(depth)
    if d.ndim == 3 and d.shape[-1] == 1:
        d = d[..., 0]
    if d.ndim != 2:
        raise ReconstructionError(f"{name}: depth must be a 2-D map, got shape {d.shape}")
    d = d.astype(np.float32, copy=False)
    bad = ~np.isfinite(d) | (d <= 0)
    if bad.any():  # invalid first, so no interpolation mixes a real depth with 0 or NaN
        d = d.copy()
        d[bad] = np.nan
    if d.shape != (h, w):
        interp = cv2.INTER_NEAREST if bad.any() else cv2.INTER_LINEAR
        d = cv2.resize(d, (w, h), interpolation=interp)
    return d


def o3d_depth(depth: np.ndarray, depth_min: float, depth_max: float) -> np.ndarray:
    """open3d's encoding: float32 metres with 0 = no measurement (NaN and out-of-range -> 0)."""
    d = np.where(np.isfinite(depth) & (depth >= depth_min) & (depth <= depth_max), depth, 0.0)
    return np.ascontiguousarray(d, dtype=np.float32)


def median_scale(depth: np.ndarray, reference: np.ndarray, min_pixels: int = 100) -> float | None:
    """The factor ``s`` with ``median(reference / (s * depth)) = 1`` over pixels valid in both,
    or None when fewer than ``min_pixels`` overlap (no reliable scale).

    The median of per-pixel ratios is the usual scale fit of monocular depth (Eigen et al.
    2014's scale-invariant evaluation); it ignores the minority of pixels where the two maps
    see different surfaces.
    """
    ok = np.isfinite(depth) & np.isfinite(reference) & (depth > 0) & (reference > 0)
    if int(ok.sum()) < min_pixels:
        return None
    s = float(np.median(reference[ok] / depth[ok]))
    return s if np.isfinite(s) and s > 0 else None


def sample_stamp(sample: dict) -> str:
    """The sample's trajectory stamp: its timestamp (6 decimals) or its id without spaces."""
    t = sample.get("timestamp")
    if t is not None:
        return f"{float(t):.6f}"
    s = str(sample.get("id", ""))
    s = Path(s).stem if ("/" in s or "\\" in s) else s
    return "".join("_" if c.isspace() else c for c in s) or "frame"

