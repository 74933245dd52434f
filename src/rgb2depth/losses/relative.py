"""Scale-and-shift-invariant loss in disparity space (MiDaS: Ranftl et al., "Towards Robust
Monocular Depth Estimation: Mixing Datasets for Zero-shot Cross-dataset Transfer", TPAMI 2022,
arXiv 1907.01341, section 5).

Data whose depth is known only up to an unknown scale and shift of inverse depth (stereo
disparity without its offset, such as the Middlebury 2005/2006 scenes) cannot teach metric
depth, but it can teach structure: per image, the ground-truth disparity ``d`` is normalised to
zero median and unit mean absolute deviation, the predicted disparity ``p`` (1 / predicted depth)
is fitted to it by a least-squares scale ``s`` and shift ``t`` (a closed form),
and the loss is the mean ``|s p + t - d_n|`` over valid pixels, averaged over images (MiDaS's
``L_ssimae``, without its trimming). Neither a scale of depth nor a shift of disparity on either
side changes the value, so every dataset's own unit and offset drop out.
"""

from __future__ import annotations

import torch

from .base import DepthLoss, mean_over_images, per_image_sums


class ScaleShiftInvariantLoss(DepthLoss):
    """``pred``/``target`` in depth (``log_input=False``) or log-depth (``log_input=True``, the
    default networks' output); both are turned into disparity before the fit. ``eps`` keeps the
    fit defined for a flat prediction (its scale is then 0 and the loss the normalised target's
    mean absolute deviation about its mean, at least 1)."""

    #: the term accepts samples whose depth is known only up to scale and shift
    relative_ok = True

    def __init__(self, log_input: bool = False, eps: float = 1e-6) -> None:
        super().__init__()
        self.log_input, self.eps = bool(log_input), float(eps)
        self.needs_positive = not log_input

    def disparity(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-x) if self.log_input else 1.0 / x.clamp(min=self.eps)

    def _loss(self, pred, target, valid, rgb):
        p, d = self.disparity(pred), self.disparity(target).detach()
        n = valid.flatten(1).sum(1).to(p.dtype)
        has = n > 0
        # target: zero median, unit mean absolute deviation per image (as MiDaS normalises)
        med = torch.nanmedian(torch.where(valid, d, torch.full_like(d, float("nan"))).flatten(1), dim=1).values
        med = torch.where(has, med, torch.zeros_like(med)).view(-1, *[1] * (d.dim() - 1))
        mad, _ = per_image_sums((d - med).abs(), valid)
        mad = (mad / n.clamp(min=1)).clamp(min=self.eps).view_as(med)
        dn = (d - med) / mad
        # least-squares scale and shift of the prediction, closed form
        sp, _ = per_image_sums(p, valid)
        sd, _ = per_image_sums(dn, valid)
        mp, md = (sp / n.clamp(min=1)).view_as(med), (sd / n.clamp(min=1)).view_as(med)
        cov, _ = per_image_sums((p - mp) * (dn - md), valid)
        var, _ = per_image_sums((p - mp) ** 2, valid)
        s = (cov / (var + self.eps)).view_as(med)
        fit = s * (p - mp) + md
        err, _ = per_image_sums((fit - dn).abs(), valid)
        return mean_over_images(err / n.clamp(min=1), n)
