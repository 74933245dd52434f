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
from .structural import CombinedLoss, EdgeLoss, SSIMLoss

LOSSES = Registry("loss")
register_loss = LOSSES.register


class WeightedSum(DepthLoss):
    """``sum_k w_k L_k`` of registered losses: the one weighted-sum loss of the toolkit (the
    ``weighted`` entry and the training configs' ``loss.terms``).

    ``terms``: a list of dicts ``{"name": ..., "weight": ..., **kwargs of that loss}`` (weight
    defaults to 1), or of ``(name, weight, module)`` for losses already built (a config's plugin
    losses). ``normalize``: divide the weights by their sum (paper 000 Eq. 7). The last call's
    unweighted term values are kept (detached) in ``last_terms`` (keyed ``name`` or
    ``name_<k>`` when a name repeats) for logging.
    """

    def __init__(self, terms: list, normalize: bool = False) -> None:
        super().__init__()
        if not terms:
            raise ValueError("WeightedSum needs at least one term")
        mods, weights, keys = [], [], []
        for t in terms:
            if isinstance(t, tuple):
                name, weight, mod = t
            else:
                t = dict(t)
                if "name" not in t:
                    raise ValueError(f"loss term {t} has no 'name'")
                name = t.pop("name")
                if name == "weighted":
                    raise ValueError("a weighted loss cannot contain another weighted loss")
                weight = t.pop("weight", 1.0)
                mod = create(name, **t)
            weights.append(float(weight))
            mods.append(mod)
            keys.append(name if name not in keys else f"{name}_{len(keys)}")
        total = sum(weights)
        if normalize:
            if not total > 0:
                raise ValueError("loss term weights must sum to a positive number")
            weights = [w / total for w in weights]
        self.terms = torch.nn.ModuleList(mods)
        self.term_weights = weights
        self.term_names = keys
        self.needs_rgb = any(getattr(m, "needs_rgb", False) for m in mods)
        self.last_terms: dict[str, torch.Tensor] = {}

    def forward(self, pred, target, valid=None, rgb=None):
        total = None
        values = {}
        for key, w, m in zip(self.term_names, self.term_weights, self.terms, strict=True):
            v = m(pred, target, valid, rgb)
            values[key] = v.detach()  # a tensor: reading it (float) would sync a GPU every step
            total = w * v if total is None else total + w * v
        self.last_terms = values
        return total


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
    "SSIMLoss",
    "ScaleInvariantLoss",
    "WeightedSum",
    "create",
    "masked_mean",
    "names",
    "prepare",
    "register_loss",
]
