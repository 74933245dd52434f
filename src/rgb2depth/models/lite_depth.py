"""``lite_depth``: the toolkit's practical real-time network, an ImageNet-trained EfficientNet-Lite
encoder with a U-Net decoder, predicting depth for a canonical camera.

What it takes from the papers:

- paper 000 (Sec. 3.2): the U-Net shape for real-time depth, skip connections by concatenation
  between encoder and decoder maps of the same size, bilinear x2 upsampling followed by 3x3
  convolutions rather than transposed convolutions (no checkerboard artifacts);
- paper 003 (Sec. 3, 4.1): an ImageNet-trained encoder as the starting point and a
  fully-convolutional decoder that recovers resolution in x2 steps; the prediction is made at
  half the input resolution and bilinearly upsampled, as FCRN predicts below input size;
- paper 004 (Sec. 5.4): the transfer-learning comparison that motivates pre-training the
  encoder (its CNN+Residual with ImageNet ResNet-50 beats the networks trained from scratch);
- paper 001 (Sec. IV-C): the output is log-depth, trained with the scale-invariant log loss.

The encoder is :class:`~rgb2depth.models.backbones.efficientnet_lite.EfficientNetLite` (stage
outputs at strides 2, 4, 8, 16, 32; without its 1280-wide head). Each decoder level upsamples
x2, concatenates the encoder map of that stride and applies two 3x3 conv + BN + ReLU.

Canonical camera. The depth of what a photo shows depends on its focal length: a 40 cm wide
monitor filling half the frame is 0.5 m away for a wide lens and 1 m for a narrow one. The
network therefore predicts depth for a camera whose focal length is ``canonical_focal`` image
widths (``meta.extra["canonical_focal"]``, 0.82 by default: a Kinect / PrimeSense colour camera,
525 px at 640 px, a 63-degree horizontal field of view); training targets are rescaled to it
with each sample's intrinsics (``depth * canonical_focal / (fx / width)``), and ``predict``
multiplies the output back by ``(fx / width) / canonical_focal`` when the focal length is known.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from rgb2depth.models import register_model
from rgb2depth.models.backbones import PretrainedArg
from rgb2depth.models.backbones.efficientnet_lite import MEAN, STD, VARIANTS, efficientnet_lite
from rgb2depth.models.base import ModelMeta
from rgb2depth.models.layers import Normalize, pad_to_multiple

#: Focal length of the canonical camera in image widths (fx / width).
CANONICAL_FOCAL = 0.82

PAPERS = "000 Sec. 3.2 (U-Net decoder); 003 Sec. 3-4.1 and 004 Sec. 5.4 (ImageNet encoder); 001 Sec. IV-C (log output)"


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DecoderBlock(nn.Module):
    """x2 bilinear upsampling, concatenation with the skip, two 3x3 conv + BN + ReLU."""

    def __init__(self, cin: int, cskip: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(_conv_bn_relu(cin + cskip, cout), _conv_bn_relu(cout, cout))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([x, skip], 1))


class LiteDepth(nn.Module):
    """EfficientNet-Lite encoder + U-Net decoder; log-depth of the canonical camera at 1/2 size,
    upsampled to the input size."""

    def __init__(self, variant: str = "lite0", decoder: Sequence[int] = (128, 64, 48, 24),
                 pretrained: PretrainedArg = None, init_depth: float = 2.5) -> None:
        super().__init__()
        self.normalize = Normalize(MEAN, STD)
        self.encoder = efficientnet_lite(variant, pretrained=pretrained, include_top=False)
        chans = self.encoder.stage_channels  # strides 2, 4, 8, 16, 32
        if len(decoder) != len(chans) - 1:
            raise ValueError(f"lite_depth decoder needs {len(chans) - 1} widths, got {list(decoder)}")
        blocks, cin = [], chans[-1]
        for cout, cskip in zip(decoder, reversed(chans[:-1]), strict=True):
            blocks.append(DecoderBlock(cin, cskip, cout))
            cin = cout
        self.decoder = nn.ModuleList(blocks)
        self.head = nn.Conv2d(cin, 1, 3, padding=1)
        # near-constant start at init_depth metres (small, not zero, weights: gradients reach the
        # input from the first step)
        nn.init.normal_(self.head.weight, std=1e-4)
        nn.init.constant_(self.head.bias, math.log(init_depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, 32)
        feats = self.encoder.forward_features(self.normalize(x), return_stages=True)
        y = feats[-1]
        for block, skip in zip(self.decoder, reversed(feats[:-1]), strict=True):
            y = block(y, skip)
        y = F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return y[..., :h, :w]


@register_model("lite_depth")
def lite_depth(variant: str = "lite0", decoder: Sequence[int] = (128, 64, 48, 24),
               pretrained: PretrainedArg = None, input_size: Sequence[int] = (192, 256),
               canonical_focal: float = CANONICAL_FOCAL, max_depth: float = 20.0) -> LiteDepth:
    """EfficientNet-Lite (``variant`` lite0..lite4) + U-Net decoder (``decoder`` widths at strides
    16, 8, 4, 2); ``pretrained=True`` starts the encoder from the installed ImageNet checkpoint.
    Output kind ``log`` (natural log of canonical-camera metres); ``max_depth`` bounds the
    conversion to metres."""
    if variant not in VARIANTS:
        raise ValueError(f"lite_depth variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    model = LiteDepth(variant, tuple(int(c) for c in decoder), pretrained)
    model.meta = ModelMeta(
        paper=PAPERS, output="log", max_depth=float(max_depth), input_size=(int(input_size[0]), int(input_size[1])),
        mean=MEAN, std=STD, output_scale=1.0,
        notes=f"EfficientNet-{variant.capitalize()} encoder (ImageNet, Apache 2.0) + U-Net decoder; "
              f"depth for a camera with fx = {canonical_focal} x image width",
        extra={"canonical_focal": float(canonical_focal)},
    )
    return model
