"""Multi-scale scale-invariant gradient matching (Li & Snavely, MegaDepth, CVPR 2018, eq. 3).

With the log-depth residual ``R = log p - log y``, the loss at scale ``k`` is the sum over
neighbouring pixel pairs (both valid) of ``|R_right - R| + |R_below - R|`` divided by the number
of valid pixels at that scale; scales are the residual subsampled every ``2**k`` pixels,
``k = 0 .. scales-1``, and the loss is their mean. A constant factor on the prediction adds a
constant to ``R`` and leaves every difference unchanged, so the term is scale-invariant: it
teaches where depth changes (edges, slopes of floors and walls) and leaves the scale to the
data term it is paired with (``silog`` in the default recipe). MiDaS (Ranftl et al., TPAMI 2020,
eq. 11) uses the same term with four scales and weight 0.5 beside its data term.
"""

from __future__ import annotations

import torch

from .base import DepthLoss


class GradientMatchingLoss(DepthLoss):
    """``pred``/``target`` in depth (``log_input=False``: targets <= 0 invalid, ``pred`` floored
    at ``eps`` before the log) or already in log-depth (``log_input=True``)."""

    def __init__(self, scales: int = 4, log_input: bool = False, eps: float = 1e-6) -> None:
        super().__init__()
        if int(scales) < 1:
            raise ValueError(f"GradientMatchingLoss scales must be >= 1, got {scales}")
        self.scales, self.log_input, self.eps = int(scales), log_input, eps
        self.needs_positive = not log_input

    def _loss(self, pred, target, valid, rgb):
        r = pred - target if self.log_input else torch.log(pred.clamp(min=self.eps)) - torch.log(target)
        zero = torch.zeros((), dtype=r.dtype, device=r.device)
        total = zero
        for k in range(self.scales):
            step = 2**k
            rk, vk = r[..., ::step, ::step], valid[..., ::step, ::step]
            n = vk.sum()
            mx = vk[..., :, 1:] & vk[..., :, :-1]
            my = vk[..., 1:, :] & vk[..., :-1, :]
            gx = torch.where(mx, (rk[..., :, 1:] - rk[..., :, :-1]).abs(), zero).sum()
            gy = torch.where(my, (rk[..., 1:, :] - rk[..., :-1, :]).abs(), zero).sum()
            total = total + (gx + gy) / n.clamp(min=1).to(r.dtype)
        return total / self.scales
