"""FCRN: Deeper Depth Prediction with Fully Convolutional Residual Networks (paper 003).

Laina et al., 3DV 2016. Implements Sec. 3.1 and Fig. 1 (ResNet-50 without its pooling and
fully-connected layers, a 1x1 convolution to 1024 channels + BN, four up-sampling blocks that
halve the channels 1024 -> 512 -> 256 -> 128 -> 64, dropout, a final 3x3 convolution to one
depth channel) and every variant of Table 1:

=========  ============  ================================================  =======  ===========  ==========
backbone   decoder       head                                              Table 1  parameters   + BN stats
=========  ============  ================================================  =======  ===========  ==========
alexnet    fc            FC 12288-4096, ReLU, dropout, FC 4096-12288       104.4M   103,149,376  103.1M
alexnet    upconv        4 up-convolutions 256-320-160-80-40 (*)           6.3M     6,199,257    6.2M
vgg16      upconv        4 up-convolutions 512-224-112-56-28 (*)           18.5M    18,406,181   18.4M
resnet50   fc            avg-pool 7x7/1, dropout, FC 16384-20480           359.1M   359,072,832  359.1M
resnet50   fc64x48       avg-pool 7x7/1, dropout, FC 16384-3072            73.9M    73,842,752   73.9M
resnet50   deconv        4 x (2x2 transposed conv stride 2, BN, ReLU)      28.5M    28,395,009   28.5M
resnet50   upconv        4 up-convolutions (Fig. 2a/b)                     43.1M    43,017,729   43.1M
resnet50   upproj        4 up-projections (Fig. 2c/d), the paper's model   63.6M    63,563,009   63.6M
=========  ============  ================================================  =======  ===========  ==========

"+ BN stats" counts each BatchNorm's running mean and variance too, as MatConvNet (the paper's
toolbox, Sec. 4.1) does: it stores them as a layer parameter ("moments"). So counted, every
ResNet row equals Table 1 to its 0.1M (without them fc64x48, deconv and upconv come out 0.1M
short). (*) The paper states no decoder widths for AlexNet and VGG; these widths come within
0.1M of Table 1 with torchvision's backbones (``widths=`` overrides them). The paper's AlexNet
FC figure is that of an ungrouped AlexNet (96-256-384-384-256 channels, 3,747,200 convolution
parameters: 104,426,880 in all); torchvision's AlexNet (64-192-384-256-256, 2,469,696), whose
ImageNet weights users can load, gives 103.1M. "Without removing the final pooling layer"
(Sec. 4.2) the ResNet-FC variants keep ResNet's 7x7 stride-1 average pool, so the 8x10x2048 map
becomes 2x4x2048 = 16384 features; that reproduces 359.1M and 73.9M.

Sizes (Sec. 4.2): a 304x228 input (W x H) gives 160x128 for ResNet, 128x96 for AlexNet and
144x112 for VGG. Fully convolutional decoders accept any H, W (output
``16 * ceil(H / 32) x 16 * ceil(W / 32)`` for ResNet-50, about half the input); fully-connected
heads need the paper's 228x304 input, so other sizes are resized to it (bilinear) inside the
network and the output is always the head's fixed size (``meta.extra["output_size"]``).

The network predicts depth in metres (NYU, Sec. 4.2); ``dropout`` precedes the final
convolution (Sec. 3.1) or the final fully-connected layer. New layers are initialised from a
zero-mean normal (Sec. 4.1: "0.01 variance"; we use std 0.01, MatConvNet's usual scale). The
fast up-convolution / up-projection (``fast=True``, Figs. 2-3) lives in
:mod:`rgb2depth.models.upsampling` and shares its parameters with the naive one.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from rgb2depth.models import register_model
from rgb2depth.models.backbones import PretrainedArg, alexnet, resnet50, vgg16
from rgb2depth.models.base import ModelMeta
from rgb2depth.models.layers import Normalize
from rgb2depth.models.upsampling import FastImpl, Unpool, UpConv, UpProjection

Backbone = Literal["resnet50", "alexnet", "vgg16"]
Decoder = Literal["fc", "fc64x48", "deconv", "upconv", "upproj"]

PAPER_INPUT = (228, 304)  # H, W (Sec. 4.2: 640x480 halved, centre-cropped to 304x228)
_FC_OUTPUT = {  # decoder -> backbone -> (H, W) of the fully-connected head's output
    "fc": {"resnet50": (128, 160), "alexnet": (96, 128), "vgg16": (112, 144)},
    "fc64x48": {"resnet50": (48, 64), "alexnet": (48, 64), "vgg16": (48, 64)},
}
DEFAULT_WIDTHS = {
    "resnet50": (1024, 512, 256, 128, 64),  # Fig. 1: 1x1 conv to 1024, then halve per block
    "alexnet": (None, 320, 160, 80, 40),  # None: no 1x1 reduction (see module docstring)
    "vgg16": (None, 224, 112, 56, 28),
}
TABLE1_PARAMS = {  # Table 1, #params
    ("alexnet", "fc"): 104.4e6,
    ("alexnet", "upconv"): 6.3e6,
    ("vgg16", "upconv"): 18.5e6,
    ("resnet50", "fc"): 359.1e6,
    ("resnet50", "fc64x48"): 73.9e6,
    ("resnet50", "deconv"): 28.5e6,
    ("resnet50", "upconv"): 43.1e6,
    ("resnet50", "upproj"): 63.6e6,
}


def _init_new(module: nn.Module, std: float = 0.01) -> None:
    """Sec. 4.1: new (decoder) layers start from N(0, std^2) filters and zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class DeconvBlock(nn.Module):
    """Table 1 "DeConv": 2x2 transposed convolution, stride 2, then BN and ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.deconv = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.deconv(x)))


class ConvDecoder(nn.Module):
    """Optional 1x1 conv + BN, four 2x up-sampling blocks, dropout, 3x3 conv to one channel."""

    def __init__(
        self,
        in_channels: int,
        widths: tuple,
        block: str,
        fast: bool = True,
        impl: FastImpl = "auto",
        unpool: Unpool = "zero",
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if len(widths) != 5:
            raise ValueError(f"widths needs 5 entries (1x1 reduction or None, then 4 blocks), got {widths}")
        c = in_channels
        if widths[0] is not None:
            self.reduce = nn.Sequential(nn.Conv2d(c, widths[0], 1, bias=False), nn.BatchNorm2d(widths[0]))
            c = widths[0]
        else:
            self.reduce = nn.Identity()
        blocks: list[nn.Module] = []
        for w in widths[1:]:
            if block == "upproj":
                blocks.append(UpProjection(c, w, fast=fast, impl=impl, unpool=unpool))
            elif block == "upconv":
                blocks.append(UpConv(c, w, fast=fast, impl=impl, unpool=unpool))
            elif block == "deconv":
                blocks.append(DeconvBlock(c, w))
            else:
                raise ValueError(f"unknown up-sampling block {block!r}")
            c = w
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.blocks(self.reduce(x))))


class FCHead(nn.Module):
    """Fully-connected head reshaped to a fixed (H, W) map (Table 1 FC rows)."""

    def __init__(
        self, in_features: int, out_size: tuple[int, int], hidden: int | None, dropout: float, avgpool: bool
    ) -> None:
        super().__init__()
        self.out_size = out_size
        # ResNet-FC keeps ResNet's last pooling layer (7x7, stride 1 on the 8x10 map).
        self.pool = nn.AvgPool2d(7, stride=1) if avgpool else nn.Identity()
        n_out = out_size[0] * out_size[1]
        if hidden is None:
            self.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, n_out))
        else:
            self.fc = nn.Sequential(
                nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, n_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(torch.flatten(self.pool(x), 1))
        return y.view(-1, 1, *self.out_size)


class FCRN(nn.Module):
    """Backbone + decoder; input [0, 1] RGB (N, 3, H, W), output depth in metres (N, 1, h, w)."""

    def __init__(
        self,
        backbone: Backbone = "resnet50",
        decoder: Decoder = "upproj",
        fast: bool = True,
        impl: FastImpl = "auto",
        unpool: Unpool = "zero",
        pretrained: PretrainedArg = None,
        dropout: float = 0.5,
        widths: tuple | None = None,
    ) -> None:
        super().__init__()
        ctors = {"resnet50": resnet50, "alexnet": alexnet, "vgg16": vgg16}
        if backbone not in ctors:
            raise ValueError(f"unknown FCRN backbone {backbone!r} (expected one of {sorted(ctors)})")
        if decoder not in ("fc", "fc64x48", "deconv", "upconv", "upproj"):
            raise ValueError(f"unknown FCRN decoder {decoder!r} (expected fc, fc64x48, deconv, upconv or upproj)")
        self.backbone_name, self.decoder_name = backbone, decoder
        self.normalize = Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        self.backbone = ctors[backbone](pretrained=pretrained, include_top=False)
        c = self.backbone.num_features
        self.fixed_input: tuple[int, int] | None = None
        if decoder in _FC_OUTPUT:
            self.fixed_input = PAPER_INPUT
            out_size = _FC_OUTPUT[decoder][backbone]
            with torch.device("meta"):  # shape inference only, nothing allocated
                feat = ctors[backbone](include_top=False).forward_features(torch.empty(1, 3, *PAPER_INPUT))
            if backbone == "resnet50":
                n_in = c * (feat.shape[2] - 6) * (feat.shape[3] - 6)  # after the 7x7/1 pool
                self.decoder = FCHead(n_in, out_size, None, dropout, avgpool=True)
            else:
                self.decoder = FCHead(feat[0].numel(), out_size, 4096, dropout, avgpool=False)
        else:
            block = "upproj" if decoder == "upproj" else "upconv" if decoder == "upconv" else "deconv"
            self.decoder = ConvDecoder(
                c, tuple(widths or DEFAULT_WIDTHS[backbone]), block, fast=fast, impl=impl, unpool=unpool, dropout=dropout
            )
        _init_new(self.decoder)

    def parts(self) -> dict[str, nn.Module]:
        """Named parts (for freezing): the ImageNet ``backbone`` and the new ``decoder``."""
        return {"backbone": self.backbone, "decoder": self.decoder}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"FCRN expects an RGB batch (N, 3, H, W), got shape {tuple(x.shape)}")
        x = self.normalize(x)
        if self.fixed_input is not None and tuple(x.shape[-2:]) != self.fixed_input:
            x = F.interpolate(x, size=self.fixed_input, mode="bilinear", align_corners=False)
        return self.decoder(self.backbone.forward_features(x))


def fcrn_meta(backbone: str, decoder: str, paper: str = "003 FCRN (Laina et al. 2016)") -> ModelMeta:
    """The ModelMeta of an FCRN variant (sizes from Sec. 4.2)."""
    fc = decoder in _FC_OUTPUT
    out = {"resnet50": (128, 160), "alexnet": (96, 128), "vgg16": (112, 144)}[backbone]
    if fc:
        out = _FC_OUTPUT[decoder][backbone]
    size_note = (
        f"fully-connected head: fixed {out[0]}x{out[1]} (HxW) output; inputs are resized to 228x304 inside"
        if fc
        else f"fully convolutional: {out[0]}x{out[1]} (HxW) for a 228x304 input, about half the input size"
        + (" (16*ceil(H/32) x 16*ceil(W/32))" if backbone == "resnet50" else "")
    )
    return ModelMeta(
        paper=paper,
        output="metres",
        max_depth=10.0,
        input_size=PAPER_INPUT,
        output_scale=None if fc else 0.5,
        notes=f"{backbone} + {decoder}; depth in metres; {size_note}",
        extra={"backbone": backbone, "decoder": decoder, "output_size": list(out)},
    )


@register_model("fcrn")
def fcrn(
    backbone: Backbone = "resnet50",
    decoder: Decoder = "upproj",
    fast: bool = True,
    impl: FastImpl = "auto",
    unpool: Unpool = "zero",
    pretrained: PretrainedArg = None,
    dropout: float = 0.5,
    widths: tuple | None = None,
) -> FCRN:
    """FCRN of paper 003 (Table 1 variants): ``backbone`` x ``decoder``, fast up-sampling by default.

    backbone: "resnet50" (paper's model), "alexnet", "vgg16". decoder: "fc" (ResNet FC-160x128,
    AlexNet FC), "fc64x48", "deconv", "upconv", "upproj". fast: the fast up-convolution /
    up-projection of Figs. 2-3 (same parameters and outputs as the naive one); impl: "auto"
    (CPU inference: the 25-tap phases; otherwise one convolution), "fused" (one convolution +
    pixel shuffle) or "split" (four small convolutions); see :mod:`rgb2depth.models.upsampling`. unpool: "zero"
    (paper 003) or "average" (paper 004, always naive). pretrained: ImageNet backbone weights,
    a state_dict path or True (download torchvision's). dropout: before the final conv / FC.
    widths: decoder widths (1x1 reduction or None, then four block outputs).
    """
    model = FCRN(backbone, decoder, fast=fast, impl=impl, unpool=unpool, pretrained=pretrained, dropout=dropout, widths=widths)
    model.meta = fcrn_meta(backbone, decoder)
    return model
