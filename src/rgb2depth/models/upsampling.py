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
run time (differentiably, so training gives the same gradients). ``impl`` chooses how:

- ``"fused"``: the four filters are zero-padded to 3x3 and stacked into one convolution with
  4*C_out outputs, then interleaved (``pixel_shuffle`` order). 36 taps per 2x2 output block
  instead of 25, but one operator: what training, autograd and ONNX export use by default.
- ``"split"``: the literal Fig. 3 formulation, four convolutions with 3x3, 3x2, 2x3 and 2x2
  kernels (25 taps), interleaved.
- ``"auto"`` (default): ``"fused"`` for training, autograd and non-CPU devices;
  for CPU inference (``torch.no_grad()``), the 25-tap phases written straight into the
  interleaved output: four oneDNN convolutions (``"split"``) on larger maps, and on small ones
  (at most :data:`GEMM_MAX_PIXELS` input pixels: FCRN's first two blocks, 8x10 and 16x20)
  four matrix products over a channels-last im2col, which beat oneDNN's convolutions there
  (``benchmarks/bench_models.py``).

A traced eval-mode block (ONNX / TorchScript export) computes, for each of its G branches, the
fused 36-tap convolution with its output channels in ``pixel_shuffle`` order, then
``pixel_shuffle`` (ONNX ``DepthToSpace``): ONNX Runtime runs the shuffle on int8 data in a
quantised graph, where the reshape/transpose chain of :func:`interleave` runs as slow
7-dimensional transposes, and one convolution per branch needs no ``Split`` of a shared output,
which stays float32 when one branch's ReLU is folded into its quantiser
(``docs/results/int8.md``).

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
FastImpl = Literal["auto", "fused", "split"]

# Output sub-position a (row, and likewise column) of a 2x2 block uses 5x5 filter rows _ROWS5[a]
# on input rows i - 1 + _NEIGHBOURS[a] (offsets into the input padded by one pixel).
_ROWS5 = ((0, 2, 4), (1, 3))
_NEIGHBOURS = ((0, 1, 2), (1, 2))
# The same rows as indices into the 5x5 filter padded with a zero row/column at index 5, each
# sub-position zero-padded to 3 taps (sub-position 1's filter is [0, w1, w3]: its first tap would
# fall on the row above, which the unpooling left empty). index_select with these constant
# indices keeps the bank's static shape, which the ONNX exporter needs (padding each phase
# filter separately does not).
_PHASE_TAPS = (*_ROWS5[0], 5, *_ROWS5[1])
_SUBPOSITIONS = ((0, 0), (0, 1), (1, 0), (1, 1))

# At most this many input pixels, the inference path computes the four phases as matrix
# products over a channels-last im2col instead of oneDNN convolutions. Measured at 228x304 on
# 2 CPU cores (both branches of a block, median ms, matrix products / split convolutions /
# one fused 36-tap convolution): 8x10 input, 1024 -> 2x512 channels: 28 / 39 / 91;
# 16x20, 512 -> 2x256: 24 / 27 / 32; 32x40: 29 / 24 / 28; 64x80: 48 / 22 / 27.
GEMM_MAX_PIXELS = 512


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
    return [weight[:, :, _ROWS5[a]][:, :, :, _ROWS5[b]] for a, b in _SUBPOSITIONS]


def phase_filters(weights: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The four Fig. 3 filters of G weights, stacked along output channels: (G*C, C_in, ka, kb)."""
    per_weight = [split_filters(w) for w in weights]
    return [torch.cat([f[k] for f in per_weight]) for k in range(4)]


def phase_matrices(weights: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """:func:`phase_filters` as matrices (G*C, ka*kb*C_in) for a channels-last im2col (columns
    ordered kernel row, kernel column, input channel)."""
    return [f.permute(0, 2, 3, 1).reshape(f.shape[0], -1).contiguous() for f in phase_filters(weights)]


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


def up_phases(
    x: torch.Tensor, filters: Sequence[torch.Tensor], bias: torch.Tensor | None, groups: int = 1
) -> torch.Tensor:
    """The four sub-positions computed separately (25 taps) and written into one interleaved map.

    ``filters``: :func:`phase_filters` (4-D: four convolutions) or :func:`phase_matrices`
    (2-D: four matrix products over a channels-last im2col); ``bias`` (G*C,) or None.
    Returns (G, N, C, 2H, 2W) in the memory format of ``x``. For inference (CPU, no autograd).
    """
    n, _, h, w = x.shape
    gemm = filters[0].dim() == 2
    co = filters[0].shape[0] // groups
    cl = _is_channels_last(x)
    if gemm or cl:  # sub-position (a, b) of pixel (i, j) at [g, n, i, a, j, b, c]
        out = x.new_empty(groups, n, h, 2, w, 2, co)
    else:  # [g, n, c, i, a, j, b]
        out = x.new_empty(groups, n, co, h, 2, w, 2)
    xp = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, 1, 1, 1)) if gemm else F.pad(x, (1, 1, 1, 1))
    for (a, b), f in zip(_SUBPOSITIONS, filters, strict=True):
        if gemm:
            cols = torch.stack([xp[:, r:r + h, s:s + w] for r in _NEIGHBOURS[a] for s in _NEIGHBOURS[b]], 3)
            cols = cols.reshape(n * h * w, -1).t()
            # (G*C, K) @ (K, N*H*W): MKL runs this orientation ~1.4x faster than its transpose
            # when N*H*W is small (FCRN's first block; benchmarks/bench_models.py).
            y = f @ cols if bias is None else torch.addmm(bias.unsqueeze(1), f, cols)
            out[:, :, :, a, :, b] = y.view(groups, co, n, h, w).permute(0, 2, 3, 4, 1)
        else:
            y = F.conv2d(xp[:, :, a:, b:], f, bias)  # (N, G*C, H, W)
            if cl:
                out[:, :, :, a, :, b] = y.permute(0, 2, 3, 1).reshape(n, h, w, groups, co).permute(3, 0, 1, 2, 4)
            else:
                out[..., a, :, b] = y.view(n, groups, co, h, w).transpose(0, 1)
    if gemm or cl:
        res = out.view(groups, n, 2 * h, 2 * w, co).permute(0, 1, 4, 2, 3)
        return res if cl else res.contiguous()
    return out.view(groups, n, co, 2 * h, 2 * w)


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

    Returns (G, N, C, 2H, 2W) for G weights. ``impl="fused"`` (or ``"auto"``): one convolution
    with the :func:`fast_filters` bank; ``"split"``: four convolutions (3x3, 3x2, 2x3, 2x2).
    Differentiable and traceable (the training and export path).
    """
    g = len(weights)
    biases = list(biases) if biases is not None else [None] * g
    if impl in ("fused", "auto"):
        b = None if biases[0] is None else torch.cat(biases).repeat(4)
        return interleave(F.conv2d(x, fast_filters(weights), b, padding=1), g)
    if impl != "split":
        raise ValueError(f"unknown fast implementation {impl!r} (expected 'auto', 'fused' or 'split')")
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


def _building_graph() -> bool:
    """Autograd, tracing or scripting is recording: filters must be derived as graph operations
    (differentiable, exportable), not taken from a cache or computed by inference-only kernels."""
    return torch.is_grad_enabled() or torch.jit.is_tracing() or torch.jit.is_scripting()


def _inference_kind(impl: FastImpl, x: torch.Tensor) -> str:
    """How an eval-mode fast block computes its 5x5 convolutions on ``x`` (see the module doc):
    "fused" or "split" (differentiable, traceable), "shuffle" (traced for export), "phases" or
    "gemm" (CPU inference)."""
    if impl != "split" and torch.jit.is_tracing():
        return "shuffle"
    graph = _building_graph()
    if impl == "fused" or (impl == "auto" and (graph or x.device.type != "cpu")):
        return "fused"
    if graph:
        return "split"
    if impl == "split":
        return "phases"
    return "gemm" if x.shape[2] * x.shape[3] <= GEMM_MAX_PIXELS else "phases"


def _arrange(kind: str, weights: list[torch.Tensor], biases: list[torch.Tensor | None]):
    """Filters and bias of G (BN-folded) 5x5 convolutions in the layout ``kind`` consumes."""
    bias = None if biases[0] is None else torch.cat(biases)
    if kind == "fused":
        return fast_filters(weights), None if bias is None else bias.repeat(4)
    if kind == "shuffle":  # output channel (phase, g, c) -> (g, c, phase), pixel_shuffle's order
        bank = fast_filters(weights)
        bank = bank.reshape(4, -1, *bank.shape[1:]).transpose(0, 1).reshape(bank.shape)
        return bank, None if bias is None else bias.repeat(4).reshape(4, -1).t().reshape(-1)
    if kind == "split":
        return weights, biases
    return (phase_matrices if kind == "gemm" else phase_filters)(weights), bias


def _run(kind: str, x: torch.Tensor, filters, bias, groups: int) -> torch.Tensor:
    """Apply what :func:`_arrange` built: (G, N, C, 2H, 2W)."""
    if kind == "fused":
        return interleave(F.conv2d(x, filters, bias, padding=1), groups)
    if kind == "shuffle":  # a tuple of G (N, C, 2H, 2W) maps: one convolution + shuffle per branch
        per = int(filters.shape[0]) // groups
        return tuple(F.pixel_shuffle(F.conv2d(x, filters[g * per:(g + 1) * per],
                                              None if bias is None else bias[g * per:(g + 1) * per], padding=1), 2)
                     for g in range(groups))
    if kind == "split":
        return up_fast(x, filters, bias, "split")
    return up_phases(x, filters, bias, groups)


class _FoldCache:
    """Derived (folded / re-arranged) eval-mode filters, rebuilt when any source tensor changes.

    Only used without autograd and outside tracing/scripting; otherwise the filters are derived
    on every call (differentiably, or as graph operations an exporter constant-folds).
    """

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.value = None

    def get(self, module: nn.Module, build, x: torch.Tensor, kind: str = ""):
        if _building_graph():
            return build()
        key = (kind, _is_channels_last(x)) + tuple(
            (t.data_ptr(), t._version, t.dtype, t.device, t.shape)
            for t in list(module.parameters()) + list(module.buffers())
        )
        if key != self.key:
            self.key = None
            self.value = tuple(
                [_like(f, x) for f in v] if isinstance(v, list) else _like(v, x) if isinstance(v, torch.Tensor) else v
                for v in build()
            )
            self.key = key
        return self.value


class UpConv(nn.Module):
    """Up-convolution (paper 003 Fig. 2a/b): 2x unpool, 5x5 conv, BN, ReLU; ``fast`` skips the zeros."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        fast: bool = True,
        impl: FastImpl = "auto",
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
            kind = _inference_kind(self.impl, x)

            def build():
                w, b = _fold(self.conv.weight, self.conv.bias, self.bn)
                return _arrange(kind, [w], [b])

            f, b = self._cache.get(self, build, x, kind)
            y = _run(kind, x, f, b, 1)[0]
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
        impl: FastImpl = "auto",
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fast:
            return self._forward_naive(x)
        if self.training:
            a, p = up_fast(x, [self.conv1.weight, self.proj.weight], None, self.impl)
            a = self.bn2(self.conv2(F.relu(self.bn1(a))))
            return F.relu(a + self.bn_proj(p))
        kind = _inference_kind(self.impl, x)

        def build():
            w1, b1 = _fold(self.conv1.weight, None, self.bn1)
            wp, bp = _fold(self.proj.weight, None, self.bn_proj)
            return (*_arrange(kind, [w1, wp], [b1, bp]), *_fold(self.conv2.weight, None, self.bn2))

        w, b, w2, b2 = self._cache.get(self, build, x, kind)
        a, p = _run(kind, x, w, b, 2)
        a = F.conv2d(F.relu(a), w2, b2, padding=1)
        return F.relu(a.add_(p)) if not torch.is_grad_enabled() else F.relu(a + p)
