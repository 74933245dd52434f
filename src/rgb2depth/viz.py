"""Colour-mapping depth for people to look at (never as a substitute for raw depth files)."""

from __future__ import annotations

import numpy as np


def depth_range(depth: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, float]:
    """Robust display range: 2nd..98th percentile of valid depth (metres)."""
    ok = np.isfinite(depth) & (depth > 0)
    if valid is not None:
        ok &= valid
    if not ok.any():
        return 0.0, 1.0
    lo, hi = np.percentile(depth[ok], [2, 98])
    if hi <= lo:
        hi = lo + 1e-3
    return float(lo), float(hi)


def colorize(
    depth: np.ndarray,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "turbo",
    invalid_color: tuple[int, int, int] = (0, 0, 0),
) -> np.ndarray:
    """HxW depth in metres -> HxWx3 uint8 RGB using a matplotlib colormap.

    Near is the low end of the map. Invalid pixels (non-finite or <= 0) get ``invalid_color``.
    """
    import matplotlib

    depth = np.asarray(depth, dtype=np.float32)
    lo, hi = depth_range(depth)
    vmin = lo if vmin is None else vmin
    vmax = hi if vmax is None else vmax
    ok = np.isfinite(depth) & (depth > 0)
    t = np.clip((np.where(ok, depth, vmin) - vmin) / max(vmax - vmin, 1e-9), 0, 1)
    rgb = (matplotlib.colormaps[cmap](t)[..., :3] * 255).round().astype(np.uint8)
    rgb[~ok] = invalid_color
    return rgb


def image_grid(images: list[dict]) -> np.ndarray:
    """Rows of RGB | ground truth | prediction | |error| (uint8 HxWx3), for TensorBoard/reports."""
    rows = []
    for im in images:
        rgb = im["rgb"]
        gt, pred = im["gt"], im["pred"]
        lo, hi = depth_range(gt)
        err = np.abs(pred - gt)
        err_vis = colorize(np.where(np.isfinite(err), err, np.nan), vmin=0.0,
                           vmax=max(float(np.nanpercentile(err, 98)) if np.isfinite(err).any() else 1.0, 1e-3),
                           cmap="magma")
        row = np.concatenate([rgb, colorize(gt, lo, hi), colorize(pred, lo, hi), err_vis], axis=1)
        rows.append(row)
    return np.concatenate(rows, axis=0)
