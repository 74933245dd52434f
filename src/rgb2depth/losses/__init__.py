"""Every loss of the papers, behind one registry: ``losses.create(name, **kw)``.

Each loss is an ``nn.Module`` called ``loss(pred, target, valid=None, rgb=None) -> scalar``
with ``pred``/``target`` in the model's output space (see docs/DEVELOPING.md); invalid pixels
(``valid`` False, non-finite target) are ignored, NaN-safe in forward and backward
(:mod:`.base`).

==================  =========================================================================
name                loss
==================  =========================================================================
``l1``              :class:`L1Loss`, mean |p - y| (paper 000 L_1)
``l2``              :class:`L2Loss`, paper 002 eq. 1, 1/(2n) sum over images of ||y - y'||^2
``mse``             :class:`MSELoss`, mean (p - y)^2
``ssim``            :class:`SSIMLoss`, 1 - SSIM (paper 000 eq. 5, kornia SSIM)
``edge``            :class:`EdgeLoss`, paper 000 eq. 6 (RGB-gradient weighted L1; needs rgb)
``combined``        :class:`CombinedLoss`, paper 000 eq. 7 (alpha 2, beta 1, gamma 5)
``silog``           :class:`ScaleInvariantLoss`, paper 001 (lambda 0.5; ``form="sqrt"`` for
                    the BTS/AdaBins form); ``scale_invariant`` is the same entry
``silog_sqrt``      :class:`ScaleInvariantLoss` with ``form="sqrt"`` (alpha 10, lambda 0.85)
``berhu``           :class:`BerHuLoss`, paper 003 eq. 1 (``c_scope="image"`` for paper 004)
``gradient``        :class:`GradientMatchingLoss`, multi-scale log-depth gradient matching
``ssi``             :class:`ScaleShiftInvariantLoss`, MiDaS's scale-and-shift-invariant MAE in
                    disparity (the one term that takes relative-depth samples)
``weighted``        :class:`WeightedSum` of named terms, e.g.
                    ``create("weighted", terms=[{"name": "l1", "weight": 1},
                    {"name": "ssim", "weight": 0.5, "max_val": 10}])``
==================  =========================================================================
"""

from __future__ import annotations

from typing import Any

import torch

from ..registry import Registry
from .base import DepthLoss, masked_mean, prepare
from .gradient import GradientMatchingLoss
from .pixel import BerHuLoss, L1Loss, L2Loss, MSELoss, ScaleInvariantLoss
from .relative import ScaleShiftInvariantLoss
from .structural import CombinedLoss, EdgeLoss, SSIMLoss

LOSSES = Registry("loss")
register_loss = LOSSES.register


class WeightedSum(DepthLoss):
    """``sum_k w_k L_k`` of registered losses: the one weighted-sum loss of the toolkit (the
    ``weighted`` entry and the training configs' ``loss.terms``).

    ``terms``: a list of dicts ``{"name": ..., "weight": ..., **kwargs of that loss}`` (weight
    defaults to 1), or of ``(name, weight, module[, samples])`` for losses already built (a
    config's terms). ``normalize``: divide the weights by their sum (paper 000 Eq. 7). The last
    call's unweighted term values are kept (detached) in ``last_terms`` (keyed ``name`` or
    ``name_<k>`` when a name repeats) for logging.

    Mixed supervision: ``forward(..., relative=)`` takes one bool per image, True where the
    target is known only up to scale and shift (a relative-depth loader's samples). Each term's
    ``samples`` says which images it sees: ``"metric"`` (the default of metric losses: relative
    images are masked out), ``"relative"`` or ``"all"`` (the default of scale-and-shift-invariant
    losses, those with ``relative_ok``; a metric loss refuses both, since it would fit metric
    values to a target that has none).
    """

    def __init__(self, terms: list, normalize: bool = False) -> None:
        super().__init__()
        if not terms:
            raise ValueError("WeightedSum needs at least one term")
        mods, weights, keys, samples = [], [], [], []
        for t in terms:
            if isinstance(t, tuple):
                name, weight, mod, *rest = t
                which = rest[0] if rest else None
            else:
                t = dict(t)
                if "name" not in t:
                    raise ValueError(f"loss term {t} has no 'name'")
                name = t.pop("name")
                if name == "weighted":
                    raise ValueError("a weighted loss cannot contain another weighted loss")
                weight = t.pop("weight", 1.0)
                which = t.pop("samples", None)
                mod = create(name, **t)
            weights.append(float(weight))
            mods.append(mod)
            samples.append(term_samples(name, mod, which))
            keys.append(name if name not in keys else f"{name}_{len(keys)}")
        total = sum(weights)
        if normalize:
            if not total > 0:
                raise ValueError("loss term weights must sum to a positive number")
            weights = [w / total for w in weights]
        self.terms = torch.nn.ModuleList(mods)
        self.term_weights = weights
        self.term_names = keys
        self.term_samples = samples
        self.needs_rgb = any(getattr(m, "needs_rgb", False) for m in mods)
        self.last_terms: dict[str, torch.Tensor] = {}

    @property
    def takes_relative(self) -> bool:
        """Whether some term learns from relative-depth samples."""
        return any(s != "metric" for s in self.term_samples)

    def forward(self, pred, target, valid=None, rgb=None, relative=None):
        total = None
        values = {}
        masks = {"all": valid}
        if relative is not None:
            r = torch.as_tensor(relative, dtype=torch.bool, device=pred.device).view(-1, *[1] * (pred.dim() - 1))
            base = torch.ones_like(pred, dtype=torch.bool) if valid is None else valid.to(torch.bool)
            masks = {"all": valid, "metric": base & ~r, "relative": base & r}
        for key, w, m, which in zip(self.term_names, self.term_weights, self.terms, self.term_samples, strict=True):
            v = m(pred, target, masks.get(which, valid), rgb)
            values[key] = v.detach()  # a tensor: reading it (float) would sync a GPU every step
            total = w * v if total is None else total + w * v
        self.last_terms = values
        return total


#: Which images a weighted-sum term sees (:class:`WeightedSum`, a config's ``loss.terms[i].samples``).
SAMPLE_KINDS = ("metric", "relative", "all")


def term_samples(name: str, mod: torch.nn.Module, samples: str | None) -> str:
    """The images a weighted-sum term sees (see :class:`WeightedSum`), checked."""
    ok = bool(getattr(mod, "relative_ok", False))
    if samples is None:
        return "all" if ok else "metric"
    if samples not in SAMPLE_KINDS:
        raise ValueError(f"loss term {name!r}: samples must be one of {', '.join(SAMPLE_KINDS)}, got {samples!r}")
    if samples != "metric" and not ok:
        raise ValueError(f"loss term {name!r}: samples {samples!r} would fit metric depth to targets known only "
                         "up to scale and shift; only scale-and-shift-invariant terms (ssi) take them")
    return samples


for _name, _cls in (
    ("l1", L1Loss),
    ("l2", L2Loss),
    ("mse", MSELoss),
    ("ssim", SSIMLoss),
    ("edge", EdgeLoss),
    ("combined", CombinedLoss),
    ("silog", ScaleInvariantLoss),
    ("scale_invariant", ScaleInvariantLoss),
    ("berhu", BerHuLoss),
    ("gradient", GradientMatchingLoss),
    ("ssi", ScaleShiftInvariantLoss),
    ("weighted", WeightedSum),
):
    register_loss(_name)(_cls)


@register_loss("silog_sqrt")
def _silog_sqrt(**kw: Any) -> ScaleInvariantLoss:
    return ScaleInvariantLoss(form="sqrt", **kw)


def create(name: str, **kwargs: Any) -> DepthLoss:
    """Build the loss registered as ``name`` with its keyword arguments."""
    return LOSSES.create(name, **kwargs)


def names() -> list[str]:
    """Registered loss names."""
    return LOSSES.names()


__all__ = [
    "LOSSES",
    "BerHuLoss",
    "CombinedLoss",
    "DepthLoss",
    "EdgeLoss",
    "GradientMatchingLoss",
    "L1Loss",
    "L2Loss",
    "MSELoss",
    "SAMPLE_KINDS",
    "SSIMLoss",
    "ScaleInvariantLoss",
    "ScaleShiftInvariantLoss",
    "WeightedSum",
    "create",
    "masked_mean",
    "names",
    "prepare",
    "register_loss",
]
