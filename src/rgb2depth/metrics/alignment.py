"""Optional alignment of a prediction to the ground truth before scoring.

Used for models whose output is only defined up to a scale (or scale and shift), e.g. those
trained with the scale-invariant loss of paper 001 with lambda = 1. Every fit uses the valid
pixels only (the mask the protocol produces), in float64:

``median``
    ``s = median(gt) / median(pred)``; aligned = ``s * pred`` (median scaling, the usual
    protocol for scale-ambiguous monocular models).
``scale``
    least-squares scale ``s = argmin sum (s p - g)^2 = sum(p g) / sum(p^2)``.
``scale_shift``
    least-squares scale and shift ``(s, t) = argmin sum (s p + t - g)^2`` (closed-form normal
    equations; MiDaS-style affine alignment, here in depth space).

Alignment space (``space``): ``"depth"`` fits the prediction to the ground-truth depth as above.
``"inverse"`` is for predictions of inverse depth or disparity (MiDaS-style relative outputs,
stereo disparity without its baseline): they are proportional to ``1 / depth`` up to an unknown
scale and, for affine-invariant models, an offset, so the fit maps the prediction onto
``1 / gt`` on the valid pixels (the evaluation of Ranftl et al., MiDaS, TPAMI 2022: scale and
shift in disparity space), then inverts it. The aligned inverse
depth is floored at ``1 / max_depth`` (the protocol's cap; without one, the largest valid
ground-truth depth), so a pixel the fit sends to zero or below becomes the farthest depth
instead of an infinite or negative one. ``"inverse_fit"`` is for depth predictions scored
against ground truth known only as inverse depth up to scale and shift (relative data such as
the Middlebury 2005/2006 disparities): the prediction is inverted, then fitted as ``"inverse"``.
A depth of zero or below has no inverse: :func:`defined` leaves such pixels out of the scoring.
"""

from __future__ import annotations

import math

import numpy as np

ALIGN_METHODS = ("median", "scale", "scale_shift")
ALIGN_SPACES = ("depth", "inverse", "inverse_fit")
_ALIASES = {
    "median": "median",
    "scale": "scale",
    "lstsq": "scale",
    "lstsq-scale": "scale",
    "scale_shift": "scale_shift",
    "scale-shift": "scale_shift",
    "lstsq-scale-shift": "scale_shift",
}


def canonical_method(method: str | None) -> str | None:
    """Normalise an alignment name (aliases ``lstsq-scale``, ``scale-shift`` ...); None stays None."""
    if method is None or method == "none":
        return None
    try:
        return _ALIASES[method]
    except KeyError:
        raise ValueError(
            f"unknown alignment {method!r} (known: none, {', '.join(ALIGN_METHODS)})"
        ) from None


def fit_alignment(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray, method: str) -> tuple[float, float]:
    """Fit ``(scale, shift)`` so that ``scale * pred + shift`` matches ``gt`` on ``valid`` pixels.

    Raises ValueError when the fit is undefined (no valid pixel, zero median / zero energy in
    the prediction, or a constant prediction for ``scale_shift``).
    """
    m = canonical_method(method)
    if m is None:
        return 1.0, 0.0
    valid = np.asarray(valid, dtype=bool) & np.isfinite(pred)
    p = np.asarray(pred, dtype=np.float64)[valid]
    g = np.asarray(gt, dtype=np.float64)[valid]
    if p.size == 0:
        raise ValueError("alignment: no valid pixel to fit on")
    if m == "median":
        mp = float(np.median(p))
        if mp == 0 or not np.isfinite(mp):
            raise ValueError("alignment 'median': the prediction's median over valid pixels is 0")
        return float(np.median(g)) / mp, 0.0
    if m == "scale":
        den = float(np.dot(p, p))
        if den == 0:
            raise ValueError("alignment 'scale': the prediction is 0 on every valid pixel")
        return float(np.dot(p, g)) / den, 0.0
    # scale_shift: 2x2 normal equations on centred data (better conditioned than raw sums)
    pm, gm = p.mean(), g.mean()
    pc, gc = p - pm, g - gm
    var = float(np.dot(pc, pc))
    if var == 0:
        raise ValueError("alignment 'scale_shift': the prediction is constant on the valid pixels")
    s = float(np.dot(pc, gc)) / var
    return s, float(gm - s * pm)


def defined(pred: np.ndarray, space: str) -> np.ndarray:
    """The pixels where a prediction in alignment ``space`` stands for a depth: all of them,
    except in ``"inverse_fit"``, where a depth of zero or below has no inverse to fit (NaN is
    kept, so that the caller's NaN check still sees it)."""
    pred = np.asarray(pred)
    if space == "inverse_fit":
        return ~(pred <= 0)
    return np.ones(pred.shape, dtype=bool)


def align(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray, method: str | None, space: str = "depth",
          max_depth: float = math.inf) -> tuple[np.ndarray, tuple[float, float]]:
    """Return the aligned prediction in metres and ``(scale, shift)`` fitted on ``valid`` pixels.

    ``space="depth"``: ``scale * pred + shift``. ``space="inverse"``: ``pred`` is inverse depth
    or disparity; ``1 / max(scale * pred + shift, 1 / cap)`` with the fit taken against
    ``1 / gt`` and ``cap`` = ``max_depth`` when finite, else the largest valid ground truth
    (see the module docstring). ``space="inverse_fit"``: ``pred`` is depth, inverted and then
    aligned as ``"inverse"`` (NaN where it is zero or below). ``method=None`` is refused in both
    inverse spaces: inverse depth of unknown scale has no depth without a fit.
    """
    if space not in ALIGN_SPACES:
        raise ValueError(f"unknown alignment space {space!r} (known: {', '.join(ALIGN_SPACES)})")
    if space == "depth":
        if canonical_method(method) is None:
            return pred, (1.0, 0.0)
        s, t = fit_alignment(pred, gt, valid, method)
        return np.asarray(pred, dtype=np.float64) * s + t, (s, t)
    if canonical_method(method) is None:
        raise ValueError("inverse depth / disparity needs an alignment (median, scale or scale_shift) to become depth")
    if space == "inverse_fit":
        pred = np.asarray(pred, dtype=np.float64)
        pred = np.divide(1.0, pred, out=np.full(pred.shape, np.nan), where=pred > 0)
    g = np.asarray(gt, dtype=np.float64)
    ok = np.asarray(valid, dtype=bool) & np.isfinite(g) & (g > 0)
    inv_gt = np.divide(1.0, g, out=np.zeros_like(g), where=ok)
    s, t = fit_alignment(pred, inv_gt, ok, method)
    cap = float(max_depth) if math.isfinite(max_depth) else float(g[ok].max()) if ok.any() else math.inf
    inv = np.maximum(np.asarray(pred, dtype=np.float64) * s + t, 1.0 / cap)
    return 1.0 / inv, (s, t)
