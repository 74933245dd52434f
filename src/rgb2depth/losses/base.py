"""Shared plumbing of the depth losses: input checks, NaN-safe masking, masked reductions.

Every loss is called ``loss(pred, target, valid=None, rgb=None) -> scalar tensor`` with ``pred``
and ``target`` of the same shape, (N,1,H,W) by convention ((N,H,W) and (H,W) also work: dim 0
is the image index, a 2-D input is one image). ``valid`` is a boolean mask of the same shape;
it is combined with ``isfinite(target)`` (and, for losses that take a logarithm of depth,
``target > 0``), so ``valid=None`` means "every finite target pixel".

NaN safety (docs/DEVELOPING.md): invalid target values are replaced (by 1.0) and the
prediction at invalid pixels by that same fill (through ``torch.where``, whose gradient into
the unselected branch is exactly 0) *before* any arithmetic, so neither the forward nor the
backward pass ever sees a NaN, and invalid pixels receive a zero gradient. An all-invalid batch
gives a loss of 0 that is still connected to ``pred`` (zero gradient), so a training step does
not crash on an empty crop.
"""

from __future__ import annotations

import torch
from torch import nn


class DepthLoss(nn.Module):
    """Base class: subclasses implement ``_loss(pred, target, valid, rgb)`` on clean inputs.

    ``needs_positive``: pixels with ``target <= 0`` are invalid (losses that take log(target)).
    """

    needs_positive = False
    needs_rgb = False

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        valid: torch.Tensor | None = None,
        rgb: torch.Tensor | None = None,
    ) -> torch.Tensor:
        pred, target, valid = prepare(pred, target, valid, positive=self.needs_positive)
        if self.needs_rgb and rgb is None:
            raise ValueError(
                f"{type(self).__name__} needs the RGB image: call "
                "loss(pred, target, valid, rgb=batch['image'])"
            )
        return self._loss(pred, target, valid, rgb)

    def _loss(self, pred, target, valid, rgb):  # pragma: no cover - abstract
        raise NotImplementedError


def prepare(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None, positive: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Check shapes, build the full valid mask and fill invalid pixels (see module docstring).

    Returns ``(pred, target, valid)`` with a leading image dimension; at invalid pixels both
    ``pred`` and ``target`` equal 1.0 and ``pred``'s gradient there is 0.
    """
    if not isinstance(pred, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise TypeError("loss inputs pred and target must be torch tensors")
    if pred.shape != target.shape:
        raise ValueError(f"loss: pred shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
    if pred.dim() == 2:
        pred, target = pred[None], target[None]
        valid = None if valid is None else valid[None]
    if pred.dim() < 3:
        raise ValueError(f"loss: expected (H,W), (N,H,W) or (N,1,H,W), got {tuple(pred.shape)}")
    target = target.to(pred.dtype)
    ok = torch.isfinite(target)
    if positive:
        ok = ok & (target > 0)
    if valid is not None:
        if valid.shape != target.shape:
            raise ValueError(
                f"loss: valid mask shape {tuple(valid.shape)} != target shape {tuple(target.shape)}"
            )
        ok = ok & valid.to(torch.bool)
    one = torch.ones((), dtype=pred.dtype, device=pred.device)
    target = torch.where(ok, target, one)
    pred = torch.where(ok, pred, target)
    return pred, target, ok


def masked_mean(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over all valid pixels of the batch (0 when there is none)."""
    n = valid.sum()
    return torch.where(valid, x, torch.zeros_like(x)).sum() / n.clamp(min=1).to(x.dtype)


def per_image_sums(x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image (sum over valid pixels, valid count) as two (N,) tensors."""
    s = torch.where(valid, x, torch.zeros_like(x)).flatten(1).sum(1)
    n = valid.flatten(1).sum(1).to(x.dtype)
    return s, n


def mean_over_images(values: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Mean of per-image values over the images that have at least one valid pixel."""
    has = counts > 0
    return torch.where(has, values, torch.zeros_like(values)).sum() / has.sum().clamp(min=1).to(values.dtype)
