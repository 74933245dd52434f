"""Paper 002 (Single-Stage Refinement CNN for Depth Estimation in Monocular Images): six networks.

``ah`` (Afifi and Hellwich's model, paper 002 Sec. 3 and Figs. 2-3, its baseline) and the
paper's own ``c``, ``sc``, ``scrx``, ``scrxu``, ``scrdu`` (Sec. 3.1-3.2, Figs. 5-9). Common to
all (Sec. 3, 3.1, 3.2.2): 3x3 kernels, biases on every layer, ReLU on hidden layers, sigmoid on
every depth output ("to obtain values between 0 and 1": output kind ``normalized``, depth /
``max_depth``), max-pooling in the first two blocks, and bilinear interpolation of the final map
back to the input size. Single-stage: every model is trained end to end in one run.

The paper has no layer table and gives no parameter counts; its figures (the block diagrams)
are missing from the text. Where the text does not fix a layer, the choice made here is marked
*choice*:

* Residual block (Fig. 4, He et al.): conv 3x3 - ReLU - conv 3x3, plus the identity (a 1x1
  projection when the width changes, *choice*), then ReLU. No batch normalisation (none is
  mentioned; Fig. 1 shows a layer as convolution + bias + activation).
* Widths (*choice*; "the kernel size is 3x3 and subsequently [the width] changes in each
  layer"): 32, 64, 128, 256 for the four blocks of C, SC and Region A; 64 in the refinement and
  upsampling regions.
* ``c`` (Fig. 5): four conv + ReLU layers (max-pool after the first two), conv + sigmoid:
  5 layers, output at 1/4, bilinear to the input size.
* ``sc`` (Fig. 6): the same with the four hidden layers replaced by residual blocks.
* ``scrx`` (Fig. 7, Sec. 3.2.1): Region A ("Reduction", global view) = ``sc`` (four residual
  blocks, max-pool in the first two, conv + sigmoid: a depth map at 1/4). Region B (local view,
  the refinement of Xu et al. [26], Deep Image Matting, which refines the coarse prediction with
  convolutions on the input image): two conv + ReLU + max-pool layers on the input image (1/4),
  concatenated with Region A's map, then the output conv 3x3 + sigmoid at 1/4; bilinear to the
  input size.
* ``scrxu`` (Fig. 8, Sec. 3.2.2): Xu refinement *before* upsampling (Sec. 3.2: "Xu et al.
  performs refinement before the upsampling stage"): Regions A and the Xu refinement as in
  ``scrx`` (1/4), then the upsampling region: a learned x2 upsampling layer (3x3 transposed
  convolution, the "upsample layers" of Zeiler and Fergus [27]), two residual blocks and a
  conv + sigmoid (1/2); bilinear to the input size.
* ``scrdu`` (Fig. 9, Sec. 3.2.2): Dosovitskiy-style refinement (FlowNet [5]) *after*
  upsampling: Region A (1/4), the upsampling region (x2 transposed conv, two residual blocks,
  conv + ReLU: features at 1/2), then Region C on the input image: two conv + ReLU layers with a
  max-pool after the first (1/2, *choice*: the level the upsampled features are at),
  concatenated with the upsampled features and Region A's map upsampled bilinearly (FlowNet
  concatenates the upsampled coarse prediction too), then conv + sigmoid (1/2); bilinear to the
  input size.
* ``ah`` (Figs. 2-3; Afifi and Hellwich, DICTA 2016, a single-stage fully-convolutional
  network of "Convolutional Blocks made by consecutive convolutional layers"): four blocks of
  three 3x3 conv + ReLU (widths 32, 64, 128, 256, *choice*), max-pool after the first two (as
  the other models, *choice*), conv 3x3 + sigmoid at 1/4, bilinear to the input size.

Inputs: ``in_channels`` 1 (grayscale, paper 002's KITTI experiments of Table 1 at 147x37) or 3
(colour, its improved model of Tables 2-3, 310x94 KITTI and 320x240 NYU), default 3. Any H, W
works: the input is padded (replicate) to a multiple of 4, the output map is interpolated to the
padded size and cropped. ``max_depth`` (default 10 m, NYU) converts the [0, 1] output to
metres; paper 002 normalises each dataset's targets to [0, 1] (Sec. 3.2.2).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from rgb2depth.models import register_model
from rgb2depth.models.base import IMAGENET_MEAN, IMAGENET_STD, ModelMeta
from rgb2depth.models.layers import Normalize, pad_to_multiple

PAPER_002 = "002: Single-Stage Refinement CNN for Depth Estimation in Monocular Images"
WIDTHS = (32, 64, 128, 256)
REFINE_WIDTH = 64
#: ImageNet statistics of the luminance (mean of the three channels' means / stds), for gray input.
GRAY_MEAN = (0.449,)
GRAY_STD = (0.226,)


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class ResidualBlock(nn.Module):
    """Paper 002 Fig. 4 (He et al. 2016): ReLU(conv(ReLU(conv(x))) + shortcut(x)), no BN."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(cin, cout)
        self.conv2 = conv3x3(cout, cout)
        self.shortcut = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.relu(self.conv1(x)))
        return self.relu(y + self.shortcut(x))


def conv_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(conv3x3(cin, cout), nn.ReLU(inplace=True))


def conv_block(cin: int, cout: int, n: int) -> nn.Sequential:
    """Afifi and Hellwich's Convolutional Block (paper 002 Fig. 3): ``n`` consecutive conv + ReLU."""
    return nn.Sequential(*(conv_relu(cin if i == 0 else cout, cout) for i in range(n)))


def reduction(cin: int, widths: Sequence[int], kind: str) -> nn.Sequential:
    """Four blocks (conv, residual or AH conv blocks), max-pool after the first two, conv + sigmoid.

    Region A of Figs. 7-9 (``kind="residual"``), the whole C/SC/AH models otherwise.
    """
    layers: list[nn.Module] = []
    c = cin
    for i, w in enumerate(widths):
        if kind == "residual":
            layers.append(ResidualBlock(c, w))
        elif kind == "conv":
            layers.append(conv_relu(c, w))
        else:  # "ah"
            layers.append(conv_block(c, w, 3))
        if i < 2:
            layers.append(nn.MaxPool2d(2))
        c = w
    layers += [conv3x3(c, 1), nn.Sigmoid()]
    return nn.Sequential(*layers)


class XuRefinement(nn.Module):
    """Refinement before upsampling (Xu et al. 2017 as used by paper 002 Fig. 7, Region B).

    Two conv + ReLU + max-pool layers on the input image (to 1/4), concatenated with the coarse
    map, then conv 3x3 + sigmoid.
    """

    def __init__(self, cin: int, width: int = REFINE_WIDTH) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_relu(cin, width), nn.MaxPool2d(2), conv_relu(width, width), nn.MaxPool2d(2)
        )
        self.out = nn.Sequential(conv3x3(width + 1, 1), nn.Sigmoid())

    def forward(self, image: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        return self.out(torch.cat([self.features(image), coarse], dim=1))


class Upsampling(nn.Module):
    """Paper 002's upsample region (Figs. 8-9, Region B): x2 transposed conv, two residual blocks, conv."""

    def __init__(self, cin: int, width: int, cout: int, activation: nn.Module) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, width, 3, stride=2, padding=1, output_padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.blocks = nn.Sequential(ResidualBlock(width, width), ResidualBlock(width, width))
        self.out = nn.Sequential(conv3x3(width, cout), activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.blocks(self.relu(self.up(x))))


class RefinementNet(nn.Module):
    """One of paper 002's networks (``variant`` in ah, c, sc, scrx, scrxu, scrdu)."""

    VARIANTS = ("ah", "c", "sc", "scrx", "scrxu", "scrdu")

    def __init__(self, variant: str, in_channels: int = 3, widths: Sequence[int] = WIDTHS,
                 refine_width: int = REFINE_WIDTH) -> None:
        super().__init__()
        if variant not in self.VARIANTS:
            raise ValueError(f"unknown paper-002 variant {variant!r} (one of {', '.join(self.VARIANTS)})")
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 (grayscale) or 3 (colour), not {in_channels!r}")
        self.variant = variant
        self.in_channels = in_channels
        self.multiple = 4
        mean, std = (GRAY_MEAN, GRAY_STD) if in_channels == 1 else (IMAGENET_MEAN, IMAGENET_STD)
        self.normalize = Normalize(mean, std)
        kind = {"ah": "ah", "c": "conv"}.get(variant, "residual")
        self.reduction = reduction(in_channels, widths, kind)
        if variant in ("scrx", "scrxu"):
            self.refine = XuRefinement(in_channels, refine_width)
        if variant == "scrxu":
            self.upsample = Upsampling(1, refine_width, 1, nn.Sigmoid())
        if variant == "scrdu":
            self.upsample = Upsampling(1, refine_width, refine_width, nn.ReLU(inplace=True))
            self.local = nn.Sequential(conv_relu(in_channels, refine_width), nn.MaxPool2d(2),
                                       conv_relu(refine_width, refine_width))
            self.out = nn.Sequential(conv3x3(2 * refine_width + 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"{self.variant}: expected {self.in_channels}-channel images, got {x.shape[1]} channels"
            )
        x = self.normalize(x)
        x, (h, w) = pad_to_multiple(x, self.multiple)
        y = self.reduction(x)  # Region A: 1/4
        if self.variant in ("scrx", "scrxu"):
            y = self.refine(x, y)  # Xu refinement at 1/4, before upsampling
        if self.variant == "scrxu":
            y = self.upsample(y)  # 1/2
        elif self.variant == "scrdu":
            up = self.upsample(y)  # 1/2 features
            coarse = F.interpolate(y, size=up.shape[-2:], mode="bilinear", align_corners=False)
            y = self.out(torch.cat([up, self.local(x), coarse], dim=1))  # refinement after upsampling
        y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return y[:, :, :h, :w]


_DESCRIPTIONS = {
    "ah": "Afifi and Hellwich's FCN (paper 002 Figs. 2-3): 4 blocks of 3 convs, pool x2, sigmoid",
    "c": "paper 002 model C (Fig. 5): 4 conv layers, pool x2, conv + sigmoid",
    "sc": "paper 002 model SC (Fig. 6): 4 residual blocks, pool x2, conv + sigmoid",
    "scrx": "paper 002 model SCRX (Fig. 7): SC + Xu refinement on the image at 1/4",
    "scrxu": "paper 002 model SCRXU (Fig. 8): SCRX + x2 upsampling region (2 residual blocks)",
    "scrdu": "paper 002 model SCRDU (Fig. 9): SC + x2 upsampling + Dosovitskiy refinement at 1/2",
}


def _build(variant: str, in_channels: int, max_depth: float, input_size: Sequence[int]) -> RefinementNet:
    model = RefinementNet(variant, in_channels)
    model.meta = ModelMeta(
        paper=PAPER_002,
        output="normalized",
        max_depth=float(max_depth),
        input_size=tuple(int(s) for s in input_size),
        in_channels=in_channels,
        mean=GRAY_MEAN if in_channels == 1 else IMAGENET_MEAN,
        std=GRAY_STD if in_channels == 1 else IMAGENET_STD,
        output_scale=1.0,
        notes=_DESCRIPTIONS[variant] + "; depth/max_depth in [0,1], bilinear to the input size",
    )
    return model


@register_model("ah")
def ah(in_channels: int = 3, max_depth: float = 10.0, input_size: Sequence[int] = (240, 320)) -> RefinementNet:
    """Afifi and Hellwich's single-stage FCN, paper 002's baseline AH (its Figs. 2-3).

    Output: (N, 1, H, W), kind ``normalized`` (sigmoid, depth / ``max_depth``), computed at 1/4
    and interpolated bilinearly to the input size. ``in_channels``: 1 (gray) or 3 (colour).
    """
    return _build("ah", in_channels, max_depth, input_size)


@register_model("c")
def c(in_channels: int = 3, max_depth: float = 10.0, input_size: Sequence[int] = (240, 320)) -> RefinementNet:
    """Paper 002's Convolutional model C (Fig. 5): five 3x3 conv layers, sigmoid output.

    Output: (N, 1, H, W), kind ``normalized``; computed at 1/4, bilinear to the input size.
    """
    return _build("c", in_channels, max_depth, input_size)


@register_model("sc")
def sc(in_channels: int = 3, max_depth: float = 10.0, input_size: Sequence[int] = (240, 320)) -> RefinementNet:
    """Paper 002's reSidual-Convolutional model SC (Fig. 6): four residual blocks + sigmoid conv.

    Output: (N, 1, H, W), kind ``normalized``; computed at 1/4, bilinear to the input size.
    """
    return _build("sc", in_channels, max_depth, input_size)


@register_model("scrx")
def scrx(in_channels: int = 3, max_depth: float = 10.0, input_size: Sequence[int] = (240, 320)) -> RefinementNet:
    """Paper 002's SCRX (Fig. 7): SC plus Xu et al.'s refinement from the image, single stage.

    Output: (N, 1, H, W), kind ``normalized``; computed at 1/4, bilinear to the input size.
    The paper's best model ("improved SCR", Tables 2-3: colour input, 310x94 KITTI, 320x240 NYU).
    """
    return _build("scrx", in_channels, max_depth, input_size)


@register_model("scrxu")
def scrxu(in_channels: int = 3, max_depth: float = 10.0, input_size: Sequence[int] = (240, 320)) -> RefinementNet:
    """Paper 002's SCRXU (Fig. 8): SCRX refinement, then a x2 upsampling region.

    Output: (N, 1, H, W), kind ``normalized``; computed at 1/2, bilinear to the input size.
    """
    return _build("scrxu", in_channels, max_depth, input_size)


@register_model("scrdu")
def scrdu(in_channels: int = 3, max_depth: float = 10.0, input_size: Sequence[int] = (240, 320)) -> RefinementNet:
    """Paper 002's SCRDU (Fig. 9): SC, x2 upsampling region, then Dosovitskiy-style refinement.

    Output: (N, 1, H, W), kind ``normalized``; computed at 1/2, bilinear to the input size.
    """
    return _build("scrdu", in_channels, max_depth, input_size)
