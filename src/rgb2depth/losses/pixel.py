"""Pixel-wise depth losses: L1, L2 (paper 002 eq. 1), MSE, berHu (paper 003 eq. 1 / paper 004
sec. 5.3.3) and the scale-invariant log loss (paper 001 sec. IV-B/C, with the sqrt/variance form
of later work). ``p`` is the prediction, ``y`` the target, sums run over valid pixels only (see
:mod:`.base` for masking).
"""

from __future__ import annotations

from typing import Literal

import torch

from .base import DepthLoss, masked_mean, mean_over_images, per_image_sums


class L1Loss(DepthLoss):
    """``L1 = 1/n sum_i |p_i - y_i|`` over the n valid pixels of the batch (paper 000's L_1)."""

    def _loss(self, pred, target, valid, rgb):
        return masked_mean((pred - target).abs(), valid)


class MSELoss(DepthLoss):
    """``MSE = 1/n sum_i (p_i - y_i)^2`` over the n valid pixels of the batch (paper 000 eq. 8)."""

    def _loss(self, pred, target, valid, rgb):
        return masked_mean((pred - target) ** 2, valid)


class L2Loss(DepthLoss):
    """Paper 002 eq. 1: ``L2 = 1/(2n) sum_{i=1..n} ||y(i) - y'(i)||_2^2``.

    As written, ``n`` is the number of *images* in the batch and ``||.||_2^2`` sums the squared
    error over the (valid) pixels of image ``i`` (``normalize="images"``, the default), so the
    value grows with the image size. ``normalize="pixels"`` divides by the number of valid
    pixels instead (``0.5 * MSE``), which keeps the scale independent of resolution and masks.
    """

    def __init__(self, normalize: Literal["images", "pixels"] = "images") -> None:
        super().__init__()
        if normalize not in ("images", "pixels"):
            raise ValueError(f"L2Loss normalize must be 'images' or 'pixels', got {normalize!r}")
        self.normalize = normalize

    def _loss(self, pred, target, valid, rgb):
        sq = (pred - target) ** 2
        if self.normalize == "pixels":
            return 0.5 * masked_mean(sq, valid)
        s, _ = per_image_sums(sq, valid)
        return s.sum() / (2 * pred.shape[0])


class BerHuLoss(DepthLoss):
    """Reverse Huber (berHu), paper 003 eq. 1, on the residual ``x = p - y``::

        B(x) = |x|                 if |x| <= c
               (x^2 + c^2) / (2c)  if |x| >  c

    ``c = c_factor * max_i |x_i|`` (``c_factor`` 0.2 = 1/5 in both papers), recomputed at every
    call from the detached residuals (a constant of the gradient step, as paper 003 sets it
    "in every gradient descent step"), and floored at ``c_min`` so it is never 0.

    ``c_scope="batch"`` (paper 003): the max runs over all valid pixels of all images of the
    batch and the loss is the mean of ``B`` over those pixels. ``c_scope="image"`` (paper 004,
    sec. 5.3.3: "c = 1/5 max_i |y^_i - y_i| for each image", ``B = 1/n sum ...`` per image): one
    ``c`` per image, the per-image means then averaged over the images.
    """

    def __init__(
        self, c_scope: Literal["batch", "image"] = "batch", c_factor: float = 0.2, c_min: float = 1e-6
    ) -> None:
        super().__init__()
        if c_scope not in ("batch", "image"):
            raise ValueError(f"BerHuLoss c_scope must be 'batch' or 'image', got {c_scope!r}")
        if not (c_factor > 0 and c_min > 0):
            raise ValueError("BerHuLoss needs c_factor > 0 and c_min > 0")
        self.c_scope, self.c_factor, self.c_min = c_scope, c_factor, c_min

    def threshold(self, absres: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``c`` broadcastable to the input (scalar for ``batch``, (N,1,...) for ``image``)."""
        a = torch.where(valid, absres, torch.zeros_like(absres)).detach()
        if self.c_scope == "batch":
            m = a.max()
        else:
            m = a.flatten(1).max(1).values.view(-1, *([1] * (a.dim() - 1)))
        return (self.c_factor * m).clamp(min=self.c_min)

    def _loss(self, pred, target, valid, rgb):
        x = (pred - target).abs()
        c = self.threshold(x, valid)
        b = torch.where(x <= c, x, (x * x + c * c) / (2 * c))
        if self.c_scope == "batch":
            return masked_mean(b, valid)
        s, n = per_image_sums(b, valid)
        return mean_over_images(s / n.clamp(min=1), n)


class ScaleInvariantLoss(DepthLoss):
    """Scale-invariant log loss of paper 001 (sec. IV-C), after Eigen et al.

    With ``d_i = log p_i - log y_i`` over the ``n`` valid pixels of one image::

        form="eigen" (default):  D = 1/n sum d_i^2 - lambda/n^2 (sum d_i)^2

    averaged over the images of the batch. ``lam`` defaults to 0.5 (paper 001's choice);
    ``lam=0`` is the element-wise log L2, ``lam=1`` the scale-invariant error exactly (then
    multiplying ``p`` by a constant does not change the loss). ::

        form="sqrt":  alpha * sqrt(Var(d) + (1 - lambda) mean(d)^2)
                      = alpha * sqrt(mean(d^2) - lambda mean(d)^2)

    the square-root ("silog") form of BTS and AdaBins, computed over all valid pixels of the
    batch, with ``alpha`` 10 and ``lam`` 0.85 by default for this form (their settings); the
    variance is computed centred (no cancellation); the root's argument is floored at ``1e-12``
    (and an exact 0 gives 0 with a zero gradient) so the gradient stays finite at a perfect
    prediction.

    ``log_input=True``: ``pred`` and ``target`` already hold log-depth (the output space of
    Eigen-style models, ``ModelMeta.output == "log"``); ``d = p - y`` and every finite target is
    usable. ``log_input=False`` (default): they hold depth; targets ``<= 0`` are invalid and the
    prediction is floored at ``eps`` before the log (zero gradient below it).
    """

    def __init__(
        self,
        lam: float | None = None,
        form: Literal["eigen", "sqrt"] = "eigen",
        log_input: bool = False,
        alpha: float = 10.0,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if form not in ("eigen", "sqrt"):
            raise ValueError(f"ScaleInvariantLoss form must be 'eigen' or 'sqrt', got {form!r}")
        lam = (0.5 if form == "eigen" else 0.85) if lam is None else float(lam)
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"ScaleInvariantLoss lam must be in [0, 1], got {lam}")
        self.lam, self.form, self.log_input, self.alpha, self.eps = lam, form, log_input, alpha, eps
        self.needs_positive = not log_input

    def log_diff(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.log_input:
            return pred - target
        return torch.log(pred.clamp(min=self.eps)) - torch.log(target)

    def _loss(self, pred, target, valid, rgb):
        d = self.log_diff(pred, target)
        zero = torch.zeros_like(d)
        if self.form == "sqrt":
            n = valid.sum().clamp(min=1).to(d.dtype)
            mean = torch.where(valid, d, zero).sum() / n
            var = torch.where(valid, (d - mean) ** 2, zero).sum() / n
            x = var + (1 - self.lam) * mean**2
            root = torch.where(x > 0, x.clamp(min=1e-12).sqrt(), torch.zeros_like(x))
            return self.alpha * root
        s, n = per_image_sums(d, valid)
        nn_ = n.clamp(min=1)
        mean = s / nn_
        shape = (-1,) + (1,) * (d.dim() - 1)
        var = per_image_sums((d - mean.view(shape)) ** 2, valid)[0] / nn_
        per_image = var + (1 - self.lam) * mean**2  # = 1/n sum d^2 - lam/n^2 (sum d)^2
        return mean_over_images(per_image, n)
