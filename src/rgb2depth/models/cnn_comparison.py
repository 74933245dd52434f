"""The four networks of paper 004 (CNN / CNN+FC / CNN+Residual comparison), Sections 3 and 5.

Paper 004's Fig. 1 (the architecture drawings) is not in the text we have, so layer widths that
the text does not state are reconstructed and marked "reconstruction" below.

- ``cnn_fc`` (Sec. 3.1, 5.1.1): Eigen et al.'s coarse network with BN after every
  convolution: six convolutions (11x11 stride 4, 5x5, four 3x3; 96-256-256-256-256-256
  channels) with BN and ReLU, 2x2 max-pooling after the 1st, 2nd and 6th, then two
  fully-connected layers 13824 -> 4096 (ReLU, dropout 0.5) -> 4070 = 55x74, resized
  (bilinear) to the input size. The paper's figures pin this down: its FC count 73,293,824 is
  exactly 13824 x 4096 + 4096 x 4070, the weight matrices (hence bias-free FC layers by default,
  ``fc_bias=True`` adds 8,166 biases), and 13824 = 256 x 6 x 9 is the pooled 6x9 map of a
  228x304 input. Its convolution figure 27,232 equals sum(k^2 x C_out) = 121x96 + 25x256 +
  4x9x256 for these layers, i.e. the paper left out the C_in factor; the real convolution
  weights number 3,008,544. The fully-connected head fixes the input to 228x304 (Eigen's): other
  sizes are resized to it inside, and the 55x74 output is resized to the input size.
- ``cnn`` (Sec. 3.2, 5.1.2): eight 3x3 convolutions, each followed by BN and ReLU except the
  last (one depth channel, linear), 2x2 max-pooling after the 2nd and 4th so the output is at
  1/4 of the input (57x76 for 228x304, Eigen's output size 55x74 up to borders).
  Widths 32-32-64-64-128-128-64-1 (reconstruction).
- ``cnn_transpose`` (Sec. 3.2): the same, with a 2x2 max-pooling after the 7th layer and the
  last layer a 3x3 transposed convolution of stride 2 back to 1/4 resolution (Sec. 5.1.2
  notes its "strided" artefacts).
- ``cnn_residual`` (Sec. 3.3, 5.1.3, 5.4): FCRN (paper 003): ResNet-50 without pooling and
  FC layers, 1x1 conv to 1024 + BN, four up-projection blocks, dropout, 3x3 conv; ``unpool``
  "zero" (values at the top-left of 2x2 blocks, fast Fig. 3 path available) or "average"
  (holes filled with the mean of their two nearest neighbours, Sec. 5.4; naive path).

All four take [0, 1] RGB, normalise inside (ImageNet statistics) and predict depth in metres.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from rgb2depth.models import register_model
from rgb2depth.models.backbones import PretrainedArg
from rgb2depth.models.base import ModelMeta
from rgb2depth.models.fcrn import FCRN
from rgb2depth.models.layers import Normalize, pad_to_multiple
from rgb2depth.models.upsampling import FastImpl, Unpool

PAPER = "004 CNN / CNN+FC / CNN+Residual comparison"
INPUT = (228, 304)  # H, W: Eigen's coarse input (Sec. 3.1), 10x8 ResNet features (Sec. 3.3)
FC_OUTPUT = (55, 74)  # Eigen's coarse output, 4070 values
CNN_FC_CONV = ((96, 11, 4), (256, 5, 1), (256, 3, 1), (256, 3, 1), (256, 3, 1), (256, 3, 1))  # (C_out, k, stride)
CNN_FC_POOL_AFTER = (0, 1, 5)
CNN_WIDTHS = (32, 32, 64, 64, 128, 128, 64)


def _conv_bn_relu(cin: int, cout: int, k: int, stride: int = 1, padding: int | None = None) -> nn.Sequential:
    pad = k // 2 if padding is None else padding
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


def paper_conv_count(model: nn.Module) -> int:
    """Sec. 3.1's way of counting convolution parameters: sum of k_h x k_w x C_out (no C_in)."""
    return sum(m.out_channels * m.kernel_size[0] * m.kernel_size[1] for m in model.modules() if isinstance(m, nn.Conv2d))


class CNNFC(nn.Module):
    """Sec. 3.1 CNN+FC: six conv-BN-ReLU layers, three 2x2 max-pools, FC 4096, dropout, FC 55x74."""

    def __init__(self, dropout: float = 0.5, fc_bias: bool = False) -> None:
        super().__init__()
        self.normalize = Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        self.features = self._features()
        with torch.device("meta"):  # shape inference on a throw-away copy, nothing allocated
            n_feat = self._features()(torch.empty(1, 3, *INPUT)).numel()  # 256 x 6 x 9 = 13824
        self.fc = nn.Sequential(
            nn.Linear(n_feat, 4096, bias=fc_bias),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, FC_OUTPUT[0] * FC_OUTPUT[1], bias=fc_bias),
        )

    @staticmethod
    def _features() -> nn.Sequential:
        layers: list[nn.Module] = []
        cin = 3
        for i, (cout, k, s) in enumerate(CNN_FC_CONV):
            layers.append(_conv_bn_relu(cin, cout, k, s, padding=0 if k == 11 else None))
            if i in CNN_FC_POOL_AFTER:
                layers.append(nn.MaxPool2d(2))
            cin = cout
        return nn.Sequential(*layers)

    def parts(self) -> dict[str, nn.Module]:
        """Named parts: ``features`` (convolutions) and ``fc`` (fully-connected layers)."""
        return {"features": self.features, "fc": self.fc}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = self.normalize(x)
        if (h, w) != INPUT:
            x = F.interpolate(x, size=INPUT, mode="bilinear", align_corners=False)
        y = self.fc(torch.flatten(self.features(x), 1)).view(-1, 1, *FC_OUTPUT)
        return F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)


class PlainCNN(nn.Module):
    """Sec. 3.2 pure CNN (or CNN-transpose): 3x3 conv-BN-ReLU layers, output at 1/4 resolution."""

    def __init__(self, transpose: bool = False, widths: tuple[int, ...] = CNN_WIDTHS) -> None:
        super().__init__()
        if len(widths) != 7:
            raise ValueError(f"widths needs the 7 hidden widths of the 8-layer CNN, got {widths}")
        self.transpose = transpose
        self.normalize = Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        layers: list[nn.Module] = []
        cin = 3
        for i, cout in enumerate(widths):
            layers.append(_conv_bn_relu(cin, cout, 3))
            if i in (1, 3) or (transpose and i == 6):
                layers.append(nn.MaxPool2d(2))
            cin = cout
        self.features = nn.Sequential(*layers)
        if transpose:
            self.head = nn.ConvTranspose2d(cin, 1, 3, stride=2, padding=1, output_padding=1)
        else:
            self.head = nn.Conv2d(cin, 1, 3, padding=1)
        self.multiple = 8 if transpose else 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x, _ = pad_to_multiple(self.normalize(x), self.multiple)
        y = self.head(self.features(x))
        return y[..., : -(-h // 4), : -(-w // 4)]


def _meta(notes: str, output_scale: float | None, **extra) -> ModelMeta:
    return ModelMeta(paper=PAPER, output="metres", max_depth=10.0, input_size=INPUT, output_scale=output_scale, notes=notes, extra=extra)


@register_model("cnn_fc")
def cnn_fc(dropout: float = 0.5, fc_bias: bool = False) -> CNNFC:
    """Paper 004 CNN+FC (Sec. 3.1): Eigen's coarse network with BN; FC 13824-4096-4070.

    The fully-connected head fixes the working size: inputs are resized to 228x304 inside and the
    55x74 prediction is resized back to the input size (bilinear). ``fc_bias`` adds biases to
    the two FC layers (the paper's 73,293,824 counts weights only).
    """
    model = CNNFC(dropout=dropout, fc_bias=fc_bias)
    model.meta = _meta(
        "depth in metres; fixed 55x74 FC output (inputs resized to 228x304 inside), resized to the input size",
        1.0,
        fc_output_size=list(FC_OUTPUT),
    )
    return model


@register_model("cnn")
def cnn(widths: tuple[int, ...] = CNN_WIDTHS) -> PlainCNN:
    """Paper 004 pure CNN (Sec. 3.2): eight 3x3 conv layers with BN and ReLU, output at 1/4 size."""
    model = PlainCNN(transpose=False, widths=tuple(widths))
    model.meta = _meta("depth in metres at ceil(H/4) x ceil(W/4)", 0.25)
    return model


@register_model("cnn_transpose")
def cnn_transpose(widths: tuple[int, ...] = CNN_WIDTHS) -> PlainCNN:
    """Paper 004 CNN-transpose (Sec. 3.2): the CNN with a stride-2 transposed conv as last layer."""
    model = PlainCNN(transpose=True, widths=tuple(widths))
    model.meta = _meta("depth in metres at ceil(H/4) x ceil(W/4) (1/8 features, 2x transposed conv)", 0.25)
    return model


@register_model("cnn_residual")
def cnn_residual(
    unpool: Unpool = "zero",
    fast: bool = True,
    impl: FastImpl = "auto",
    pretrained: PretrainedArg = None,
    dropout: float = 0.5,
) -> FCRN:
    """Paper 004 CNN+Residual (Sec. 3.3, 5.4): ResNet-50 + four up-projections, zero/average unpooling.

    ``unpool="zero"`` is FCRN's up-projection (fast path of paper 003 Fig. 3 by default);
    ``unpool="average"`` fills the unpooled holes with neighbour means (always the naive path).
    ``pretrained``: ImageNet ResNet-50 weights (state_dict path, or True to download).
    """
    if unpool not in ("zero", "average"):
        raise ValueError(f"unknown unpooling {unpool!r} (expected 'zero' or 'average')")
    model = FCRN("resnet50", "upproj", fast=fast, impl=impl, unpool=unpool, pretrained=pretrained, dropout=dropout)
    model.meta = _meta(
        f"ResNet-50 + up-projection ({unpool} unpooling); depth in metres, 16*ceil(H/32) x 16*ceil(W/32) "
        "(128x160 for 228x304), about half the input size",
        0.5,
        unpool=unpool,
        output_size=[128, 160],
    )
    return model
