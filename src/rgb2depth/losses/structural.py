"""Paper 000's losses (sec. 3.3): structural (eq. 5), edge-aware high-frequency (eq. 6) and
their combination with L1 (eq. 7).

kornia is imported where these losses run, not with the module: every loss is registered when
``rgb2depth.losses`` loads, so a missing kornia shows up where it is used, not at import.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import DepthLoss, masked_mean, per_image_sums
from .pixel import L1Loss


def _as_nchw(x: torch.Tensor) -> torch.Tensor:
    """(N,H,W) -> (N,1,H,W); (N,C,H,W) unchanged."""
    return x.unsqueeze(1) if x.dim() == 3 else x


def _window(size: int, h: int, w: int) -> int:
    """Largest odd window <= size whose reflect padding fits an HxW image."""
    win = min(size, 2 * min(h, w) - 1)
    return max(win - (1 - win % 2), 1)


class SSIMLoss(DepthLoss):
    """Structural loss, paper 000 eq. 5: ``L_s = 1 - SSIM(I_d, I^_d)``.

    SSIM is kornia's (``kornia.metrics.ssim``: Gaussian window ``window`` (11) with sigma 1.5,
    K1 = 0.01, K2 = 0.03, reflect padding, data range ``max_val``). ``max_val`` is the range of
    the values the loss sees: 1.0 for paper 000's targets normalised to [0, 1] (the default); use
    the maximum depth in metres for a model that outputs metres.

    Invalid pixels: the SSIM windows need a full image, so at invalid pixels *both* the
    prediction and the target are replaced by the same per-image constant (the mean of that
    image's valid targets, detached). Those pixels then carry no error of their own, the value
    does not depend on what the prediction or the target hold there, and they receive no
    gradient; the ``1 - SSIM`` map is averaged over the valid pixels only. (Filling only the
    target with ``pred.detach()`` would also cancel their error, but would let the loss depend
    on the prediction at invalid pixels through the shared windows.)
    """

    def __init__(self, max_val: float = 1.0, window: int = 11) -> None:
        super().__init__()
        if not max_val > 0 or window < 1:
            raise ValueError("SSIMLoss needs max_val > 0 and window >= 1")
        self.max_val, self.window = float(max_val), int(window)

    def ssim_map(self, pred, target, valid) -> torch.Tensor:
        s, n = per_image_sums(target, valid)
        fill = (s / n.clamp(min=1)).detach().view(-1, *([1] * (target.dim() - 1)))
        x = torch.where(valid, pred, fill)
        y = torch.where(valid, target, fill)
        x, y = _as_nchw(x), _as_nchw(y)
        from kornia.metrics import ssim as kornia_ssim

        win = _window(self.window, x.shape[-2], x.shape[-1])
        m = kornia_ssim(x, y, win, max_val=self.max_val)
        return m.view(valid.shape) if m.dim() != valid.dim() else m

    def _loss(self, pred, target, valid, rgb):
        return masked_mean(1.0 - self.ssim_map(pred, target, valid), valid)


class EdgeLoss(DepthLoss):
    """Edge-aware high-frequency loss, paper 000 eq. 6::

        L_e = mean over valid pixels of [(1 - exp(-g_x)) + (1 - exp(-g_y))] * |p - p^|

    ``g_x``, ``g_y`` are the absolute horizontal and vertical gradients of the RGB image (in
    [0, 1], as the batches carry it; detached, no gradient flows into the image), taken with
    ``kornia.filters.spatial_gradient`` (``mode`` "sobel", ``normalized=True``: the Sobel kernel
    divided by 8, so a ramp of slope ``a`` per pixel gives ``g = a``; replicate borders).
    ``channels="gray"`` (default) takes the gradient of ``kornia.color.rgb_to_grayscale(rgb)``
    (ITU-R 601 weights); ``channels="mean"`` takes the per-channel absolute gradients and averages
    them over the channels. A 1-channel image is used as is. When the image's size differs from
    the prediction's, it is first resized to the prediction's size (bilinear, antialiased).
    Needs ``rgb``: calling without it is an error.
    """

    needs_rgb = True

    def __init__(self, mode: str = "sobel", normalized: bool = True, channels: str = "gray") -> None:
        super().__init__()
        if channels not in ("gray", "mean"):
            raise ValueError(f"EdgeLoss channels must be 'gray' or 'mean', got {channels!r}")
        self.mode, self.normalized, self.channels = mode, normalized, channels

    def weights(self, rgb: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``(1 - exp(-|g_x|)) + (1 - exp(-|g_y|))`` with the shape of ``like``."""
        img = rgb.detach().to(like.dtype)
        if img.dim() == 3:  # one (C,H,W) image
            img = img.unsqueeze(0)
        if img.dim() != 4 or img.shape[1] not in (1, 3) or img.shape[0] != like.shape[0]:
            raise ValueError(
                f"EdgeLoss: rgb must be (N,3,H,W) or (N,1,H,W) with N={like.shape[0]}, "
                f"got {tuple(rgb.shape)}"
            )
        from kornia.color import rgb_to_grayscale
        from kornia.filters import spatial_gradient

        h, w = like.shape[-2:]
        if img.shape[-2:] != (h, w):
            img = F.interpolate(img, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        if img.shape[1] == 3 and self.channels == "gray":
            img = rgb_to_grayscale(img)
        g = spatial_gradient(img, mode=self.mode, order=1, normalized=self.normalized).abs()
        wgt = (1 - torch.exp(-g[:, :, 0])) + (1 - torch.exp(-g[:, :, 1]))  # (N,C,H,W)
        wgt = wgt.mean(1, keepdim=True)
        return wgt.view(like.shape)

    def _loss(self, pred, target, valid, rgb):
        return masked_mean(self.weights(rgb, pred) * (pred - target).abs(), valid)


class CombinedLoss(DepthLoss):
    """Paper 000 eq. 7::

        L = alpha/(alpha+beta+gamma) L_1 + beta/(alpha+beta+gamma) L_s + gamma/(alpha+beta+gamma) L_e

    with ``alpha = 2`` and ``gamma = 5`` as in paper 000 sec. 4 ("the large value of gamma is to
    compensate the smaller magnitude of L_e, about 1/10 of L_1 and L_s"). The paper never states
    ``beta``; we take ``beta = 1``: it is the one weight the paper leaves unset, i.e. most
    plausibly the unit reference the other two are scaled against, and it keeps the basic L1
    supervision (which the paper calls the basic supervision approach) ahead of the structural
    term. Normalised weights: 2/8, 1/8, 5/8. ``ssim_max_val``/``ssim_window`` go to
    :class:`SSIMLoss`, ``edge_*`` to :class:`EdgeLoss`. The last call's three terms are kept
    (detached) in ``last_terms`` for logging. Needs ``rgb`` unless ``gamma == 0``.
    """

    def __init__(
        self,
        alpha: float = 2.0,
        beta: float = 1.0,
        gamma: float = 5.0,
        ssim_max_val: float = 1.0,
        ssim_window: int = 11,
        edge_mode: str = "sobel",
        edge_normalized: bool = True,
        edge_channels: str = "gray",
    ) -> None:
        super().__init__()
        if min(alpha, beta, gamma) < 0 or alpha + beta + gamma <= 0:
            raise ValueError("CombinedLoss needs alpha, beta, gamma >= 0 with a positive sum")
        total = alpha + beta + gamma
        self.alpha, self.beta, self.gamma = alpha, beta, gamma
        self.weights = (alpha / total, beta / total, gamma / total)
        self.l1 = L1Loss()
        self.ssim = SSIMLoss(ssim_max_val, ssim_window)
        self.edge = EdgeLoss(edge_mode, edge_normalized, edge_channels)
        self.needs_rgb = gamma > 0
        self.last_terms: dict[str, float] = {}

    def _loss(self, pred, target, valid, rgb):
        wa, wb, wg = self.weights
        l1 = self.l1._loss(pred, target, valid, rgb)
        total = wa * l1
        terms = {"l1": l1}
        if wb > 0:
            terms["ssim"] = self.ssim._loss(pred, target, valid, rgb)
            total = total + wb * terms["ssim"]
        if wg > 0:
            terms["edge"] = self.edge._loss(pred, target, valid, rgb)
            total = total + wg * terms["edge"]
        self.last_terms = {k: float(v.detach()) for k, v in terms.items()}
        return total
