"""Depth metrics over valid pixels, per image or pooled over a dataset.

All metrics work in metres on float64 copies of the inputs. For an image, with ``p`` the
(clamped, optionally aligned) prediction, ``g`` the ground truth, both over the ``n`` valid
pixels, and ``d = ln p - ln g``:

=============  ==========================================================================
key            definition (standard form, the default)
=============  ==========================================================================
``delta{k}``   fraction of pixels with ``max(p/g, g/p) < 1.25**k``, k = 1, 2, 3
               (paper 001 sec. V-B, paper 003 sec. 4, paper 004 sec. 5.2)
``abs_rel``    ``mean(|p - g| / g)``                 (paper 001 "Abs rel diff", 003 "rel")
``sq_rel``     ``mean((p - g)^2 / g)``
``rmse``       ``sqrt(mean((p - g)^2))``             (paper 001, 002 eq. 2, 003 "rms")
``rmse_log``   ``sqrt(mean(d^2))``, natural log      (paper 002 LRMSE eq. 5, 003 "rms(log)")
``log10``      ``mean(|log10 p - log10 g|)``         (paper 003 "log10")
``silog``      Eigen's scale-invariant log error ``sqrt(mean(d^2) - lambda * mean(d)^2)``:
               the square root of paper 001's ``D = 1/n sum d^2 - lambda/n^2 (sum d)^2``,
               ``lambda`` = ``silog_lambda`` (default 1, the fully scale-invariant error).
               ``silog_form``: ``"rmse"`` (default, the root above), ``"mse"`` (``D`` itself,
               paper 001's formula as written) or ``"percent"`` (``100 * sqrt(D)``, the KITTI
               benchmark / BTS / AdaBins convention). Paper 002's LRMSE-SI (eq. 6) is printed
               as ``mean((ln y - ln y')^2)``, i.e. ``D`` with lambda 0 and no root; its
               ``variant="paper002"`` reproduces it literally (``silog_lambda=0``,
               ``silog_form="mse"``).
``mse``        ``mean((p - g)^2)``                   (paper 000 eq. 8, paper 002 eq. 3)
``mae``        ``mean(|p - g|)``
``ssim``       paper 000's SSIM metric (sec. 4.1): kornia's Gaussian SSIM (11x11 window,
               sigma 1.5, K1 0.01, K2 0.03) between ``p / L`` and ``g / L`` with ``max_val=1``,
               i.e. a data range ``L`` = the protocol's ``max_depth`` (10 m for ``nyu``, 80 m
               for KITTI, 70 m for ``make3d``; the same scaling as paper 000's depth targets
               normalised to [0, 1]); for protocols without a finite cap (``none``), ``L`` is
               the image's largest valid ground-truth depth. Override with
               ``ssim_data_range``. The SSIM map is computed on the crop box, with invalid
               ground-truth pixels filled by the prediction (so they carry no error into the
               windows), and averaged over the valid pixels only. The window shrinks to the
               largest odd size the image allows when the image is smaller than 11 pixels. The
               filtering runs in float32 (kornia's fast CPU path; mean error ~1e-8).
=============  ==========================================================================

Paper variant (``variant="paper002"``, paper 002 sec. 3.4): ARD (eq. 4) and SRD (eq. 7) divide by
the *reconstruction* ``y'`` (``rel_denominator="pred"``) and LRMSE-SI is eq. 6 as printed (see
above). Paper 002's names map to keys as RMSE=``rmse``, MSE=``mse``, ARD=``abs_rel``,
LRMSE=``rmse_log``, LRMSE-SI=``silog``, SRD=``sq_rel``. Any option given explicitly overrides
the variant's preset.

Valid pixels: ground truth finite and strictly inside the protocol's depth range, inside the
protocol's crop, and True in the optional user mask. The prediction is first (optionally)
aligned on those pixels (:mod:`.alignment`), then clamped to the protocol range (and never below
:data:`~.protocols.EPS_DEPTH`), so logarithms and ratios are always finite. A non-finite
prediction at a valid pixel is an error (a model bug must not turn into a silent NaN). An
image with no valid pixel is reported with a :class:`NoValidPixelWarning` naming its index/id
and skipped: it counts in ``skipped``, not in the means.

Aggregation over a dataset (:class:`MetricAccumulator`):

``per_image`` (default; BTS / AdaBins / ZoeDepth style)
    every metric computed per image, then the arithmetic mean over the scored images.
``pooled`` (DenseDepth style)
    every valid pixel of every image in one pool: the same formulas applied to the pooled
    sums (e.g. ``rmse = sqrt(sum of all squared errors / total valid pixels)``, ``silog`` with
    the mean of ``d`` over the pool). Pooled ``ssim`` is the mean of the per-pixel SSIM map
    over all valid pixels of all images (each image's SSIM map is still computed within the
    image; pooling only changes the weighting: images with more valid pixels weigh more).

Every result dict records ``aggregation``, ``protocol``, ``align``, ``align_space``, ``variant``, ``count``
(images scored), ``skipped`` (images without a valid pixel) and ``pixels`` (valid pixels scored).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

import numpy as np

from .alignment import ALIGN_SPACES, align, canonical_method, defined
from .protocols import Protocol, get_protocol

METRIC_KEYS = (
    "delta1", "delta2", "delta3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog",
    "mse", "mae", "ssim",
)
#: Metrics where higher is better (the rest: lower is better).
HIGHER_IS_BETTER = frozenset({"delta1", "delta2", "delta3", "ssim"})

_STAT_KEYS = (
    "n", "d1", "d2", "d3", "abs_rel", "sq_rel", "sq", "abs", "log_sq", "log_sum", "log10_abs",
    "ssim", "log_m2",
)


class NoValidPixelWarning(UserWarning):
    """An image had no valid ground-truth pixel under the protocol and was skipped."""


@dataclass(frozen=True)
class MetricOptions:
    """Knobs of the metric definitions (see the module docstring)."""

    silog_lambda: float = 1.0
    silog_form: Literal["rmse", "mse", "percent"] = "rmse"
    rel_denominator: Literal["gt", "pred"] = "gt"
    ssim_window: int = 11
    ssim_data_range: float | None = None

    def __post_init__(self) -> None:
        if self.silog_form not in ("rmse", "mse", "percent"):
            raise ValueError(f"silog_form must be rmse, mse or percent, got {self.silog_form!r}")
        if self.rel_denominator not in ("gt", "pred"):
            raise ValueError(f"rel_denominator must be gt or pred, got {self.rel_denominator!r}")
        if not 0.0 <= self.silog_lambda <= 1.0:
            raise ValueError(f"silog_lambda must be in [0, 1], got {self.silog_lambda}")
        if self.ssim_window < 1:
            raise ValueError(f"ssim_window must be >= 1, got {self.ssim_window}")
        if self.ssim_data_range is not None and not self.ssim_data_range > 0:
            raise ValueError(f"ssim_data_range must be > 0, got {self.ssim_data_range}")


#: Named presets of paper-specific metric forms; ``standard`` is the default.
VARIANTS: dict[str, dict[str, Any]] = {
    "standard": {},
    "paper002": {"rel_denominator": "pred", "silog_lambda": 0.0, "silog_form": "mse"},
}


def make_options(variant: str = "standard", **options: Any) -> MetricOptions:
    """MetricOptions from a variant preset plus explicit overrides."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown metric variant {variant!r} (known: {', '.join(VARIANTS)})")
    known = {f.name for f in fields(MetricOptions)}
    unknown = set(options) - known
    if unknown:
        raise TypeError(f"unknown metric option(s) {sorted(unknown)} (known: {sorted(known)})")
    return replace(MetricOptions(), **{**VARIANTS[variant], **options})


# ----------------------------------------------------------------------------- array helpers


def _to_numpy(x: Any, what: str) -> np.ndarray:
    if x is None:
        return None  # type: ignore[return-value]
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch tensor, without importing torch
        x = x.detach().cpu()
        if x.dtype.is_floating_point:
            x = x.double()  # also makes half / bfloat16 convertible
        x = x.numpy()
    a = np.asarray(x)
    if a.dtype == object:
        raise TypeError(f"{what}: expected a numeric array or tensor, got {type(x).__name__}")
    return a


def _as_batch(a: np.ndarray, what: str) -> np.ndarray:
    """HxW -> 1xHxW; Nx1xHxW -> NxHxW; NxHxW unchanged."""
    if a.ndim == 2:
        return a[None]
    if a.ndim == 4 and a.shape[1] == 1:
        return a[:, 0]
    if a.ndim == 3:
        return a
    raise ValueError(f"{what}: expected HxW, NxHxW or Nx1xHxW, got shape {tuple(a.shape)}")


# ----------------------------------------------------------------------------- per-image pieces


def _ssim_window(opt_window: int, h: int, w: int) -> int:
    """Largest odd window <= opt_window whose reflect padding fits the image."""
    win = min(opt_window, 2 * min(h, w) - 1)
    if win % 2 == 0:
        win -= 1
    return max(win, 1)


def ssim_map(pred: np.ndarray, gt: np.ndarray, data_range: float, window: int = 11) -> np.ndarray:
    """kornia's SSIM map (Gaussian window, sigma 1.5, same padding) of two HxW depth maps.

    Both are divided by ``data_range`` and compared with ``max_val=1``. The filtering runs in
    float32, kornia's fast CPU path (about 5x faster than float64 here); on [0, 1] inputs the
    map differs from a float64 computation by a few 1e-6 per pixel and its mean by ~1e-8.
    """
    import torch
    from kornia.metrics import ssim as kornia_ssim

    h, w = pred.shape
    win = _ssim_window(window, h, w)
    a = torch.from_numpy((np.asarray(pred, dtype=np.float64) / data_range).astype(np.float32))
    b = torch.from_numpy((np.asarray(gt, dtype=np.float64) / data_range).astype(np.float32))
    with torch.no_grad():
        m = kornia_ssim(a[None, None], b[None, None], win, max_val=1.0)
    return m[0, 0].double().numpy()


def _image_stats(
    p: np.ndarray, g: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int],
    protocol: Protocol, opts: MetricOptions,
) -> dict[str, float]:
    """Sums over the valid pixels of one image; ``p`` already aligned and clamped."""
    pv, gv = p[mask], g[mask]
    n = pv.size
    ratio = np.maximum(pv / gv, gv / pv)
    diff = pv - gv
    den = gv if opts.rel_denominator == "gt" else pv
    d = np.log(pv) - np.log(gv)
    stats = {
        "n": float(n),
        "d1": float(np.count_nonzero(ratio < 1.25)),
        "d2": float(np.count_nonzero(ratio < 1.25**2)),
        "d3": float(np.count_nonzero(ratio < 1.25**3)),
        "abs_rel": float(np.sum(np.abs(diff) / den)),
        "sq_rel": float(np.sum(diff**2 / den)),
        "sq": float(np.sum(diff**2)),
        "abs": float(np.sum(np.abs(diff))),
        "log_sq": float(np.sum(d**2)),
        "log_sum": float(np.sum(d)),
        # centred sum of squares of d: silog = sqrt(m2/n + (1 - lambda) mean^2) without the
        # cancellation of mean(d^2) - mean(d)^2 when d is nearly constant
        "log_m2": float(np.sum((d - d.mean()) ** 2)),
        "log10_abs": float(np.sum(np.abs(np.log10(pv) - np.log10(gv)))),
    }
    # SSIM on the crop box; invalid gt filled with the prediction (no error there).
    t, b, lft, r = box
    pc, gc, mc = p[t:b, lft:r], g[t:b, lft:r], mask[t:b, lft:r]
    gfill = np.where(mc, gc, pc)
    if opts.ssim_data_range is not None:
        rng = float(opts.ssim_data_range)
    elif math.isfinite(protocol.max_depth):
        rng = float(protocol.max_depth)
    else:
        rng = float(gv.max())
    smap = ssim_map(pc, gfill, rng, opts.ssim_window)
    stats["ssim"] = float(np.sum(smap[mc]))
    return stats


def finalize(stats: dict[str, float], opts: MetricOptions) -> dict[str, float]:
    """Metrics from (per-image or pooled) sums; ``stats["n"]`` must be > 0."""
    n = stats["n"]
    mse = stats["sq"] / n
    mean_d = stats["log_sum"] / n
    # D = mean(d^2) - lambda mean(d)^2 = Var(d) + (1 - lambda) mean(d)^2
    si = max(stats["log_m2"] / n + (1.0 - opts.silog_lambda) * mean_d**2, 0.0)
    if opts.silog_form == "rmse":
        silog = math.sqrt(si)
    elif opts.silog_form == "percent":
        silog = 100.0 * math.sqrt(si)
    else:
        silog = si
    return {
        "delta1": stats["d1"] / n,
        "delta2": stats["d2"] / n,
        "delta3": stats["d3"] / n,
        "abs_rel": stats["abs_rel"] / n,
        "sq_rel": stats["sq_rel"] / n,
        "rmse": math.sqrt(mse),
        "rmse_log": math.sqrt(stats["log_sq"] / n),
        "log10": stats["log10_abs"] / n,
        "silog": silog,
        "mse": mse,
        "mae": stats["abs"] / n,
        "ssim": stats["ssim"] / n,
    }


def _pool_add(pool: dict[str, float], stats: dict[str, float]) -> None:
    """Add one image's sums to the pool; ``log_m2`` combines by Chan et al.'s parallel formula."""
    na, nb = pool["n"], stats["n"]
    if na > 0:
        delta = stats["log_sum"] / nb - pool["log_sum"] / na
        m2 = pool["log_m2"] + stats["log_m2"] + delta**2 * na * nb / (na + nb)
    else:
        m2 = stats["log_m2"]
    for k in _STAT_KEYS:
        pool[k] += stats[k]
    pool["log_m2"] = m2


# ----------------------------------------------------------------------------- accumulator


class MetricAccumulator:
    """Accumulates metrics over a dataset, image by image.

    ``MetricAccumulator(protocol="nyu", aggregation="per_image" | "pooled", align=None |
    "median" | "scale" | "scale_shift", variant="standard", align_space="depth" | "inverse" |
    "inverse_fit",
    **options)``; feed it with
    ``update(pred, gt, valid=None, id=None)`` (HxW, NxHxW or Nx1xHxW numpy arrays or torch
    tensors, metres; ``id`` a name or a list of names for a batch) and read ``compute()``.
    Per-image values are kept in :attr:`per_image` whatever the aggregation.

    ``align_space="inverse"``: the predictions are inverse depth or disparity (any scale and
    offset); each is aligned to ``1 / gt`` and inverted before scoring
    (:func:`~.alignment.align`), which needs an ``align`` method. ``align_space="inverse_fit"``:
    the predictions are depth and the ground truth is known only as inverse depth up to scale
    and shift, so each prediction is inverted, then aligned the same way; its pixels of zero or
    negative depth are not scored (:func:`~.alignment.defined`).
    """

    def __init__(
        self,
        protocol: str | Protocol | None = None,
        aggregation: Literal["per_image", "pooled"] = "per_image",
        align: str | None = None,
        variant: str = "standard",
        align_space: Literal["depth", "inverse", "inverse_fit"] = "depth",
        **options: Any,
    ) -> None:
        if aggregation not in ("per_image", "pooled"):
            raise ValueError(f"aggregation must be 'per_image' or 'pooled', got {aggregation!r}")
        if align_space not in ALIGN_SPACES:
            raise ValueError(f"align_space must be one of {', '.join(ALIGN_SPACES)}, got {align_space!r}")
        self.protocol = get_protocol(protocol)
        self.aggregation = aggregation
        self.align = canonical_method(align)
        if align_space != "depth" and self.align is None:
            raise ValueError("inverse depth / disparity predictions need an alignment (median, scale or scale_shift)")
        self.align_space = align_space
        self.variant = variant
        self.options = make_options(variant, **options)
        self.reset()

    def reset(self) -> None:
        self._pool = dict.fromkeys(_STAT_KEYS, 0.0)
        self.per_image: list[dict[str, Any]] = []
        self.skipped: list[str] = []
        self._seen = 0

    # -- feeding

    def update(self, pred: Any, gt: Any, valid: Any = None, id: Any = None) -> None:  # noqa: A002
        p = _as_batch(_to_numpy(pred, "pred"), "pred")
        g = _as_batch(_to_numpy(gt, "gt"), "gt")
        if p.shape != g.shape:
            raise ValueError(f"pred shape {p.shape} and gt shape {g.shape} differ")
        v = None
        if valid is not None:
            v = _as_batch(_to_numpy(valid, "valid"), "valid")
            if v.shape != g.shape:
                raise ValueError(f"valid mask shape {v.shape} and gt shape {g.shape} differ")
            v = v.astype(bool)
        n = p.shape[0]
        if id is None:
            ids = [None] * n
        elif isinstance(id, (str, int)):
            if n != 1:
                raise ValueError(f"one id {id!r} given for a batch of {n} images; pass a list")
            ids = [id]
        else:
            ids = list(id)
            if len(ids) != n:
                raise ValueError(f"{len(ids)} ids given for a batch of {n} images")
        for i in range(n):
            self._update_one(p[i], g[i], None if v is None else v[i], ids[i])

    def _update_one(self, p: np.ndarray, g: np.ndarray, v: np.ndarray | None, ident: Any) -> None:
        index = self._seen
        self._seen += 1
        label = f"#{index}" if ident is None else f"#{index} ({ident})"
        p = p.astype(np.float64, copy=False)
        g = g.astype(np.float64, copy=False)
        h, w = g.shape
        proto = self.protocol
        box = proto.crop_box(h, w)
        mask = self.valid_mask(g, v) & defined(p, self.align_space)
        if not mask.any():
            warnings.warn(
                f"image {label}: no valid ground-truth pixel under protocol {proto.name!r} "
                "(finite, inside the depth range and crop, and in the mask); skipped",
                NoValidPixelWarning,
                stacklevel=3,
            )
            self.skipped.append(str(index) if ident is None else str(ident))
            return
        bad = int(np.count_nonzero(np.isnan(p[mask])))
        if bad:
            raise ValueError(f"image {label}: prediction is NaN at {bad} valid pixel(s)")
        try:
            p, (scale, shift) = self.scored_prediction(p, g, mask)
        except ValueError as e:
            raise ValueError(f"image {label}: {e}") from None
        # Outside the valid pixels the prediction only feeds the SSIM windows: keep it finite.
        fill = float(np.median(g[mask]))
        p = np.where(np.isfinite(p), p, fill)
        if not np.all(np.isfinite(p[mask])):  # +inf with an uncapped protocol
            raise ValueError(f"image {label}: prediction is infinite at valid pixels")
        stats = _image_stats(p, g, mask, box, proto, self.options)
        _pool_add(self._pool, stats)
        rec: dict[str, Any] = {"index": index, "id": ident, "pixels": int(stats["n"])}
        if self.align is not None:
            rec.update(scale=scale, shift=shift)
        rec.update(finalize(stats, self.options))
        self.per_image.append(rec)

    def valid_mask(self, gt: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """The pixels an HxW ground truth is scored on: inside the protocol's depth range and
        crop, and True in ``valid`` when given."""
        h, w = gt.shape
        mask = self.protocol.range_mask(gt) & self.protocol.crop_mask(h, w)
        return mask & np.asarray(valid, dtype=bool) if valid is not None else mask

    def scored_prediction(self, pred: np.ndarray, gt: np.ndarray, mask: np.ndarray
                          ) -> tuple[np.ndarray, tuple[float, float]]:
        """``(prediction as the metrics see it, (scale, shift))``: aligned on ``mask`` (see
        :meth:`valid_mask`) when this accumulator aligns, in its ``align_space``, then clamped
        to the protocol's range. Reports show predictions this way. A fit that is undefined
        raises ValueError."""
        p = np.asarray(pred, dtype=np.float64)
        scale, shift = 1.0, 0.0
        if self.align is not None:
            p, (scale, shift) = align(p, np.asarray(gt, dtype=np.float64), mask, self.align, self.align_space,
                                      self.protocol.clamp_max)
        with np.errstate(invalid="ignore"):
            p = np.clip(p, self.protocol.clamp_min, self.protocol.clamp_max)
        return p, (scale, shift)

    # -- results

    @property
    def count(self) -> int:
        return len(self.per_image)

    def compute(self) -> dict[str, Any]:
        """Aggregated metrics plus the bookkeeping keys (see the module docstring).

        Raises ValueError when no image had a valid pixel (there is nothing to report).
        """
        if not self.per_image:
            raise ValueError(
                f"no image with a valid ground-truth pixel under protocol {self.protocol.name!r} "
                f"({len(self.skipped)} skipped)"
            )
        if self.aggregation == "pooled":
            out: dict[str, Any] = finalize(self._pool, self.options)
        else:
            out = {k: float(np.mean([r[k] for r in self.per_image])) for k in METRIC_KEYS}
        out.update(
            aggregation=self.aggregation,
            protocol=self.protocol.name,
            align=self.align or "none",
            align_space=self.align_space,
            variant=self.variant,
            count=self.count,
            skipped=len(self.skipped),
            pixels=int(self._pool["n"]),
        )
        return out


def compute_metrics(
    pred: Any,
    gt: Any,
    valid: Any = None,
    protocol: str | Protocol | None = None,
    *,
    aggregation: Literal["per_image", "pooled"] = "per_image",
    align: str | None = None,
    ids: Any = None,
    variant: str = "standard",
    align_space: Literal["depth", "inverse", "inverse_fit"] = "depth",
    **options: Any,
) -> dict[str, Any]:
    """Metrics of ``pred`` against ``gt`` (HxW, NxHxW or Nx1xHxW; numpy or torch; metres).

    ``valid``: optional user mask (same shape), combined with the protocol's range and crop.
    ``protocol``: a name from :func:`~.protocols.protocol_names`, a Protocol, or None (``none``).
    ``align_space="inverse"``: ``pred`` is inverse depth or disparity, aligned to ``1 / gt``;
    ``"inverse_fit"``: ``pred`` is depth, inverted and aligned so (see :class:`MetricAccumulator`).
    ``options``: :class:`MetricOptions` fields (``silog_lambda``, ``silog_form``,
    ``rel_denominator``, ``ssim_window``, ``ssim_data_range``). Returns the keys of
    :data:`METRIC_KEYS` as floats plus ``aggregation``, ``protocol``, ``align``, ``variant``,
    ``count``, ``skipped``, ``pixels``.
    """
    acc = MetricAccumulator(protocol, aggregation, align, variant, align_space, **options)
    acc.update(pred, gt, valid, id=ids)
    return acc.compute()
