"""Disparity <-> depth for a rectified stereo pair, shared by the stereo matchers
(``stereo``) and the datasets that store ground truth as disparity (``middlebury``).

depth = focal * baseline / (disparity + doffs), where doffs is the x-offset between the two
cameras' principal points (Middlebury's ``doffs``; 0 for KITTI, whose rectified cameras share
theirs): Middlebury's own formula depth_mm = baseline_mm * f / (d + doffs).
"""

from __future__ import annotations

import numpy as np

__all__ = ["depth_to_disparity", "disparity_to_depth", "lr_consistent"]


def disparity_to_depth(disp: np.ndarray, focal: float, baseline: float, doffs: float = 0.0) -> np.ndarray:
    """depth = focal * baseline / (disp + doffs), in the units of ``baseline``; non-positive or
    non-finite disparity -> NaN (Middlebury: depth_mm = baseline_mm * f / (d + doffs))."""
    d = np.asarray(disp, dtype=np.float64) + doffs
    out = np.full(d.shape, np.nan, np.float32)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(d) & (np.asarray(disp) > 0) & (d > 0)
    out[ok] = (focal * baseline / d[ok]).astype(np.float32)
    return out


def depth_to_disparity(depth: np.ndarray, focal: float, baseline: float, doffs: float = 0.0) -> np.ndarray:
    """The inverse of :func:`disparity_to_depth`: focal * baseline / depth - doffs; non-positive
    or non-finite depth -> NaN."""
    z = np.asarray(depth, dtype=np.float64)
    out = np.full(z.shape, np.nan, np.float32)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(z) & (z > 0)
    out[ok] = (focal * baseline / z[ok] - doffs).astype(np.float32)
    return out


def lr_consistent(left: np.ndarray, right: np.ndarray, max_diff: float) -> np.ndarray:
    """The left-right consistency check of two disparity maps (NaN = none) of a rectified pair:
    True where the left view's disparity d at x has, at x - d (rounded) in the right view's map,
    a disparity within ``max_diff`` of it; False where either has none or x - d leaves the
    image (occluded or mismatched pixels fail it)."""
    h, w = left.shape
    xr = np.rint(np.arange(w)[None, :] - np.nan_to_num(left, nan=-1e9)).astype(np.int64)
    inside = np.isfinite(left) & (xr >= 0) & (xr < w)
    rows = np.broadcast_to(np.arange(h)[:, None], (h, w))
    back = np.full((h, w), np.nan, np.float32)
    back[inside] = right[rows[inside], xr[inside]]
    with np.errstate(invalid="ignore"):
        return np.abs(left - back) <= max_diff
