"""Up-sampling blocks of paper 003 (FCRN, Sec. 3.1, Figs. 2-3) and paper 004 (Sec. 3.3, 5.4).

- :func:`unpool_zero`: 2x unpooling that puts each value in the top-left corner of a 2x2 block
  of zeros (paper 003 Sec. 3.1, after Dosovitskiy et al.).
- :func:`unpool_average`: the "average unpooling" of paper 004 Sec. 5.4: the holes are filled
  with the mean of their two nearest neighbours (columns first, then rows, so the centre of a
  2x2 block is the mean of four values; the last row/column repeats the border value).
- :class:`UpConv`: up-convolution, Fig. 2(a): unpool, 5x5 convolution, BN, ReLU.
- :class:`UpProjection`: up-projection, Fig. 2(c): unpool, then two branches
  (5x5 conv - BN - ReLU - 3x3 conv - BN) and (5x5 conv - BN), summed, ReLU.
- With ``fast=True``, Figs. 2(b)/2(d) and 3: after zero-unpooling, 75% of the 5x5 filter taps
  multiply zeros. The output pixel at sub-position (a, b) of each 2x2 block only sees kernel
  rows {0, 2, 4} (a = 0) or {1, 3} (a = 1), and likewise columns, so it equals a convolution of
  the *un-unpooled* map with a 3x3, 3x2, 2x3 or 2x2 filter (A, B, C, D of Fig. 3) made of those
  taps; interleaving the four results (``pixel_shuffle``) gives exactly the same map.

Fast and naive blocks have the *same* parameters (``conv.weight`` is the 5x5 filter in both),
so weights transfer between them; the fast path derives its small filters from the 5x5 one at
run time (differentiably, so training gives the same gradients). Two fast implementations:

- ``impl="fused"`` (default): the four filters are zero-padded to 3x3 and stacked into one
  convolution with 4*C_out outputs, followed by ``pixel_shuffle``. One large GEMM is far faster
  on CPUs than four small ones (36 instead of 25 taps per 2x2 output block, vs 100 naive).
- ``impl="split"``: the literal Fig. 3 formulation, four convolutions with 3x3, 3x2, 2x3, 2x2
  kernels, interleaved.

In eval mode, BatchNorm is folded into the convolution (scale the filter, add a bias), and
under ``torch.no_grad()`` the derived filters are cached until a parameter or buffer changes
(``Tensor._version``), so inference pays nothing for the re-arrangement. Average unpooling has
no zeros to skip, so :class:`UpProjection` with ``unpool="average"`` always runs the naive way.

PyTorch has no unpooling-to-corner or fused up-projection layer (``MaxUnpool2d`` needs pooling
indices), hence the hand-written code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

Unpool = Literal["zero", "average"]
FastImpl = Literal["fused", "split"]

# Rows (or columns) of the 5x5 filter seen by output sub-position 0 and 1, as indices into the
# 5x5 filter padded with a zero row/column at index 5 (so sub-position 1's 3-tap filter is
# [0, w1, w3]: its first tap would fall on the row above, which the unpooling left empty).
_PHASE_TAPS = (0, 2, 4, 5, 1, 3)


def unpool_zero(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, 2H, 2W): each value at the top-left of a 2x2 block of zeros."""
    n, c, h, w = x.shape
    z = torch.zeros_like(x)
    row = torch.stack((x, z), dim=-1).reshape(n, c, h, 2 * w)
    return torch.stack((row, torch.zeros_like(row)), dim=-2).reshape(n, c, 2 * h, 2 * w)


def unpool_average(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, 2H, 2W): holes filled with the mean of their two nearest neighbours."""
    n, c, h, w = x.shape
    xr = F.pad(x, (0, 1, 0, 0), mode="replicate")
    mid = 0.5 * (xr[..., :-1] + xr[..., 1:])
    row = torch.stack((x, mid), dim=-1).reshape(n, c, h, 2 * w)
    rr = F.pad(row, (0, 0, 0, 1), mode="replicate")
    mid = 0.5 * (rr[..., :-1, :] + rr[..., 1:, :])
    return torch.stack((row, mid), dim=-2).reshape(n, c, 2 * h, 2 * w)


def unpool(x: torch.Tensor, mode: Unpool = "zero") -> torch.Tensor:
    """2x unpooling, ``mode`` "zero" (paper 003) or "average" (paper 004 Sec. 5.4)."""
    if mode == "zero":
        return unpool_zero(x)
    if mode == "average":
        return unpool_average(x)
    raise ValueError(f"unknown unpooling mode {mode!r} (expected 'zero' or 'average')")


def fast_filters(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """Fig. 3: G filters (C, C_in, 5, 5) -> one (4*G*C, C_in, 3, 3) filter bank for one convolution.

    Each 5x5 filter yields four sub-filters (3x3, 3x2, 2x3, 2x2 for sub-positions (a, b) =
    (0,0), (0,1), (1,0), (1,1)), zero-padded to 3x3. Output channels are phase-major:
    ``((2a + b) * G + g) * C + c``, the order :func:`interleave` expects.
    """
    idx = torch.tensor(_PHASE_TAPS, device=weights[0].device)
    banks = []
    for w in weights:
        co, ci = w.shape[:2]
        wp = F.pad(w, (0, 1, 0, 1))  # index 5 = zero tap
        wp = wp.index_select(2, idx).index_select(3, idx)  # (co, ci, 6, 6) = (a, 3) x (b, 3)
        banks.append(wp.reshape(co, ci, 2, 3, 2, 3).permute(2, 4, 0, 1, 3, 5))  # (a, b, co, ci, 3, 3)
    bank = torch.stack(banks, dim=2)  # (a, b, G, co, ci, 3, 3)
    return bank.reshape(-1, *bank.shape[-3:])


def split_filters(weight: torch.Tensor) -> list[torch.Tensor]:
    """Fig. 3 literally: the 3x3 (A), 3x2 (B), 2x3 (C) and 2x2 (D) filters, in (a, b) order."""
    rows = ([0, 2, 4], [1, 3])
    return [weight[:, :, rows[a]][:, :, :, rows[b]] for a in (0, 1) for b in (0, 1)]


def interleave(y: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """(N, 4*G*C, H, W) phase-major -> (G, N, C, 2H, 2W): place sub-position (a, b) at (2i+a, 2j+b).

    The same interleaving as ``pixel_shuffle`` (ONNX DepthToSpace, DCR order), written so that a
    channels-last input is copied in contiguous runs of C values (``pixel_shuffle`` on CPU
    is several times slower on FCRN's maps); each result is contiguous in the input's format.
    """
    n, c4, h, w = y.shape
    co = c4 // (4 * groups)
    if _is_channels_last(y):
        t = y.permute(0, 2, 3, 1).reshape(n, h, w, 2, 2, groups, co)  # a view
        t = t.permute(5, 0, 1, 3, 2, 4, 6).reshape(groups, n, 2 * h, 2 * w, co)
        return t.permute(0, 1, 4, 2, 3)  # (G, N, C, 2H, 2W), channels-last memory
    t = y.reshape(n, 2, 2, groups, co, h, w).permute(3, 0, 4, 5, 1, 6, 2)
    return t.reshape(groups, n, co, 2 * h, 2 * w)


# Below this many input pixels, a 3x3 convolution runs faster as im2col + one matrix product
# than through oneDNN on CPUs (FCRN's first block, an 8x10 map with 1024 -> 8x512 channels:
# ~1.6x faster); tracing, scripting and autograd always see a plain convolution.
IM2COL_MAX_PIXELS = 256


def conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """3x3 convolution, padding 1 (im2col + matmul for small maps on CPU: same result)."""
    n, _, h, w = x.shape
    if (
        h * w > IM2COL_MAX_PIXELS
        or x.device.type != "cpu"
        or torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or torch.is_grad_enabled()
    ):
        return F.conv2d(x, weight, bias, padding=1)
    cols = F.unfold(x, 3, padding=1).transpose(1, 2)  # (N, H*W, C_in*9)
    wt = weight.reshape(weight.shape[0], -1).t()
    y = torch.matmul(cols, wt) if bias is None else torch.addmm(bias, cols.reshape(n * h * w, -1), wt)
    y = y.reshape(n, h, w, -1).permute(0, 3, 1, 2)  # channels-last memory
    return y if _is_channels_last(x) else y.contiguous()  # keep the caller's memory format


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def _like(w: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    """A 4-D filter in the memory format of the activations (avoids a conversion per call)."""
    if w is None or w.dim() != 4:
        return w
    return w.contiguous(memory_format=torch.channels_last if _is_channels_last(x) else torch.contiguous_format)


def up_fast(
    x: torch.Tensor,
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor | None] | None = None,
    impl: FastImpl = "fused",
) -> torch.Tensor:
    """Zero-unpool + 5x5 conv (padding 2) of ``x`` with each weight, without the zeros (Fig. 3).

    Returns (G, N, C, 2H, 2W) for G weights. ``impl="fused"``: one convolution with the
    :func:`fast_filters` bank; ``"split"``: four convolutions per weight (3x3, 3x2, 2x3, 2x2).
    """
    g = len(weights)
    biases = list(biases) if biases is not None else [None] * g
    if impl == "fused":
        b = None if biases[0] is None else torch.cat(biases).repeat(4)
        return interleave(conv3x3(x, fast_filters(weights), b), g)
    if impl != "split":
        raise ValueError(f"unknown fast implementation {impl!r} (expected 'fused' or 'split')")
    xp = F.pad(x, (1, 1, 1, 1))
    phases = [[], [], [], []]
    for w, b in zip(weights, biases, strict=True):
        for k, f in enumerate(split_filters(w)):
            # Sub-position 0 taps input rows i-1, i, i+1 (padded rows i..i+2); 1 taps rows i, i+1.
            a, c = divmod(k, 2)
            phases[k].append(F.conv2d(xp[:, :, a:, c:], f, b))
    return interleave(torch.cat([t for ph in phases for t in ph], dim=1), g)


def _bn_scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BN as y = x * scale + shift."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


def _fold(weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm2d | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Fold an eval-mode BN that follows a convolution into its weight and bias."""
    if bn is None:
        return weight, bias
    scale, shift = _bn_scale_shift(bn)
    w = weight * scale.view(-1, 1, 1, 1)
    b = shift if bias is None else bias * scale + shift
    return w, b


class _FoldCache:
    """Derived (folded / re-arranged) eval-mode filters, rebuilt when any source tensor changes.

    Only used without autograd and outside tracing/scripting; otherwise the filters are derived
    on every call (differentiably, or as graph operations an exporter constant-folds).
    """

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.value = None

    def get(self, module: nn.Module, build, x: torch.Tensor):
        if torch.is_grad_enabled() or torch.jit.is_tracing() or torch.jit.is_scripting():
            return build()
        key = (_is_channels_last(x),) + tuple(
            (t.data_ptr(), t._version, t.dtype, t.device, t.shape)
            for t in list(module.parameters()) + list(module.buffers())
        )
        if key != self.key:
            self.key = None
            self.value = tuple(_like(v, x) if isinstance(v, torch.Tensor) else v for v in build())
            self.key = key
        return self.value


class UpConv(nn.Module):
    """Up-convolution (paper 003 Fig. 2a/b): 2x unpool, 5x5 conv, BN, ReLU; ``fast`` skips the zeros."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        fast: bool = True,
        impl: FastImpl = "fused",
        batch_norm: bool = True,
        relu: bool = True,
        unpool: Unpool = "zero",
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 5, padding=2, bias=not batch_norm)
        self.bn = nn.BatchNorm2d(out_channels) if batch_norm else None
        self.relu = relu
        self.unpool = unpool
        self.fast = fast and unpool == "zero"
        self.impl = impl
        self._cache = _FoldCache()

    def _eval_filters(self):
        w, b = _fold(self.conv.weight, self.conv.bias, self.bn)
        if self.impl == "fused":  # pre-arranged once, then cached
            return fast_filters([w]), None if b is None else b.repeat(4)
        return w, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fast:
            y = self.conv(unpool(x, self.unpool))
            if self.bn is not None:
                y = self.bn(y)
        elif self.training:
            y = up_fast(x, [self.conv.weight], [self.conv.bias], self.impl)[0]
            if self.bn is not None:
                y = self.bn(y)
        else:
            w, b = self._cache.get(self, self._eval_filters, x)
            if self.impl == "fused":
                y = interleave(conv3x3(x, w, b))[0]
            else:
                y = up_fast(x, [w], [b], "split")[0]
        return F.relu(y) if self.relu else y


class UpProjection(nn.Module):
    """Up-projection (paper 003 Fig. 2c/d): unpool; (5x5-BN-ReLU-3x3-BN) + (5x5-BN); ReLU.

    Parameter names: ``conv1``/``bn1`` (upper branch 5x5), ``conv2``/``bn2`` (its 3x3),
    ``proj``/``bn_proj`` (projection branch 5x5); identical for ``fast`` True/False. The fast
    version runs both branches' 5x5 filters as one convolution (Fig. 2d shares the input).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        fast: bool = True,
        impl: FastImpl = "fused",
        unpool: Unpool = "zero",
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 5, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.proj = nn.Conv2d(in_channels, out_channels, 5, padding=2, bias=False)
        self.bn_proj = nn.BatchNorm2d(out_channels)
        self.unpool = unpool
        self.fast = fast and unpool == "zero"
        self.impl = impl
        self._cache = _FoldCache()

    def _forward_naive(self, x: torch.Tensor) -> torch.Tensor:
        u = unpool(x, self.unpool)  # one unpooling shared by both branches (Sec. 3.1)
        a = F.relu(self.bn1(self.conv1(u)))
        a = self.bn2(self.conv2(a))
        return F.relu(a + self.bn_proj(self.proj(u)))

    def _eval_filters(self):
        w1, b1 = _fold(self.conv1.weight, None, self.bn1)
        wp, bp = _fold(self.proj.weight, None, self.bn_proj)
        w2, b2 = _fold(self.conv2.weight, None, self.bn2)
        if self.impl == "fused":
            return fast_filters([w1, wp]), torch.cat((b1, bp)).repeat(4), w2, b2
        return (w1, wp), (b1, bp), w2, b2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fast:
            return self._forward_naive(x)
        if self.training:
            a, p = up_fast(x, [self.conv1.weight, self.proj.weight], None, self.impl)
            a = self.bn2(self.conv2(F.relu(self.bn1(a))))
            return F.relu(a + self.bn_proj(p))
        w, b, w2, b2 = self._cache.get(self, self._eval_filters, x)
        if self.impl == "fused":
            a, p = interleave(conv3x3(x, w, b), 2)
        else:
            a, p = up_fast(x, w, b, "split")
        a = F.conv2d(F.relu(a), w2, b2, padding=1)
        return F.relu(a.add_(p)) if not torch.is_grad_enabled() else F.relu(a + p)
