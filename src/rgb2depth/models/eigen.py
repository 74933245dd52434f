"""Paper 001 (Single Image Depth Estimation Using a Multi-Scale CNN): Eigen coarse/fine and baselines.

Four networks, all predicting natural-log depth (paper 001 Sec. IV-B/C trains them with the
scale-invariant error on log depth, lambda = 0.5):

``eigen``: the original network of Eigen et al. 2014 (paper 001 Sec. II and Fig. 2), NYU sizes.
    Coarse stack (global): conv 11x11/4 (96) + max-pool 2, conv 5x5 (256) + max-pool 2,
    conv 3x3 (384), conv 3x3 (384), conv 3x3 (256) + max-pool 3x3/2, FC 4096 (+ dropout),
    FC to a 55x74 map (linear). For the paper's 228x304 input the feature maps are 27x37, 13x18,
    13x18, 13x18, 6x8 (Eigen's Fig. 1: 37x27, 18x13, 18x13, 18x13, 8x6), the output 55x74.
    Fine stack (local): conv 9x9/2 (63) + max-pool 2 -> 55x74; the coarse prediction is
    concatenated as the 64th channel ("fed to the second layer"); conv 5x5 (64), conv 5x5 (1,
    linear), zero-padded. ReLU after every hidden layer (Sec. IV-A.1).
``eigen_modified``: paper 001's own network (Sec. IV-A, Fig. 5): "we reduce one layer for each
    partial network". Coarse stack: four conv + max-pool feature layers (Sec. IV-A.1: "four
    feature extraction layers of convolution and max-pooling, followed by two fully connected
    layers"), i.e. Eigen's without its second 384-channel 3x3 conv, output at 1/4 resolution
    (55x74). Fine stack: the coarse output is fed to the fine stack's second layer, and Sec.
    IV-A.2 "eliminated the number of channels produced directly from [the] origin input image"
    to emphasise the coarse output. The text is inconsistent about the fine depth (intro: one
    layer fewer; Sec. IV-A.2: "three convolution layers"); the default keeps three convolution
    layers as Sec. IV-A.2 describes (conv 9x9/2 (15) + pool, concat coarse -> 16 channels,
    conv 5x5 (64), conv 5x5 (1)); ``fine_layers=2`` drops the middle one (conv 9x9/2 + pool,
    concat, conv 5x5 to the output) for the intro's reading. The fine1 width (15, against
    Eigen's 63) is our choice; the paper gives none.
``alexnet_depth``: paper 001 Fig. 3, "Modified AlexNet network for depth estimation": AlexNet
    (torchvision layout, :mod:`rgb2depth.models.backbones.alexnet`) whose last fully-connected
    layer regresses the 55x74 log-depth map instead of 1000 class scores (FC 9216-4096-4096-4070);
    ``pretrained=`` loads the ImageNet conv and FC6/FC7 weights into the backbone.
``resnet18_depth``: paper 001 Fig. 4, "ResNet-18 network for depth estimation". The figure is
    missing; our choice: the ResNet-18 trunk (layer4, 512 channels at 1/32) followed by three
    bilinear x2 upsampling blocks (3x3 conv + BN + ReLU: 256, 128, 64 channels) and a 3x3 conv to
    one channel, output at 1/4 of the input like the Eigen networks so Table I compares like
    with like. ``pretrained=`` loads ImageNet weights into the trunk.

Two-stage training (Sec. IV-A.3): ``model.parts()`` returns ``{"coarse": ..., "fine": ...}``,
``model.stages = ("coarse", "fine")``; after ``set_stage("coarse")`` forward returns the coarse
prediction (log depth, resized to the fine output's size, which it already is at the paper's
228x304), after ``set_stage("fine")`` the full output. The trainer freezes ``coarse`` for the
second stage ("we did not backpropagate through the coarse network").

Input sizes. The coarse stack ends in fully-connected layers, so it is tied to the input size
it was built for (``input_size``, default 228x304 as Eigen et al.: NYU downsampled by 2 and
centre-cropped). Any other input is resized (bilinear) to that size for the coarse stack only;
the fine stack runs on the input as given, and the coarse map is resized (bilinear) to the fine
feature size when they differ. Output size for an H x W input:
``((H - 9) // 2 + 1) // 2`` x ``((W - 9) // 2 + 1) // 2`` (55x74 for 228x304, 58x78 for 240x320).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from rgb2depth.models import register_model
from rgb2depth.models.backbones import PretrainedArg
from rgb2depth.models.backbones.alexnet import alexnet as build_alexnet
from rgb2depth.models.backbones.resnet import resnet18 as build_resnet18
from rgb2depth.models.base import ModelMeta
from rgb2depth.models.layers import Normalize, pad_to_multiple

PAPER_001 = "001: Single Image Depth Estimation Using a Multi-Scale CNN"
INPUT_SIZE = (228, 304)
COARSE_OUT = (55, 74)

# (out_channels, kernel, stride, padding, pool) per coarse conv layer; pool: 0 none, 2 a 2x2
# max-pool stride 2, 3 a 3x3 max-pool stride 2 (AlexNet's pool5), all rounding down. These
# reproduce Eigen et al.'s NYU sizes exactly: 37x27, 18x13, 18x13, 18x13, 8x6 (their Fig. 1).
EIGEN_COARSE = ((96, 11, 4, 0, 2), (256, 5, 1, 2, 2), (384, 3, 1, 1, 0),
                (384, 3, 1, 1, 0), (256, 3, 1, 1, 3))
MODIFIED_COARSE = ((96, 11, 4, 0, 2), (256, 5, 1, 2, 2), (384, 3, 1, 1, 0), (256, 3, 1, 1, 3))


def fine_size(h: int, w: int) -> tuple[int, int]:
    """Output size of the fine stack (conv 9x9 stride 2 unpadded, then max-pool 2)."""
    return ((h - 9) // 2 + 1) // 2, ((w - 9) // 2 + 1) // 2


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class CoarseStack(nn.Module):
    """Global stack: conv/pool layers then two FC layers regressing an ``out_size`` map."""

    def __init__(
        self,
        convs: Sequence[tuple[int, int, int, int, int]],
        input_size: tuple[int, int] = INPUT_SIZE,
        out_size: tuple[int, int] = COARSE_OUT,
        hidden: int = 4096,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.input_size = tuple(input_size)
        self.out_size = tuple(out_size)
        layers: list[nn.Module] = []
        c = 3
        h, w = self.input_size
        for cout, k, s, p, pool in convs:
            layers += [nn.Conv2d(c, cout, k, stride=s, padding=p), nn.ReLU(inplace=True)]
            h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            if pool:
                layers.append(nn.MaxPool2d(pool, stride=2))
                h, w = (h - pool) // 2 + 1, (w - pool) // 2 + 1
            c = cout
        if h < 1 or w < 1:
            raise ValueError(f"coarse stack input {self.input_size} is too small")
        self.features = nn.Sequential(*layers)
        self.feature_shape = (c, h, w)
        self.fc = nn.Sequential(
            nn.Linear(c * h * w, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, out_size[0] * out_size[1]),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` normalised, any size (resized to ``input_size``); returns (N, 1, *out_size)."""
        x = self.features(_resize(x, self.input_size))
        return self.fc(torch.flatten(x, 1)).view(-1, 1, *self.out_size)


class FineStack(nn.Module):
    """Local stack: conv 9x9/2 + pool, concatenate the coarse map, zero-padded 5x5 convs."""

    def __init__(self, first: int = 63, mid: Sequence[int] = (64,)) -> None:
        super().__init__()
        self.first = nn.Sequential(nn.Conv2d(3, first, 9, stride=2), nn.ReLU(inplace=True), nn.MaxPool2d(2))
        layers: list[nn.Module] = []
        c = first + 1
        for m in mid:
            layers += [nn.Conv2d(c, m, 5, padding=2), nn.ReLU(inplace=True)]
            c = m
        layers.append(nn.Conv2d(c, 1, 5, padding=2))
        self.rest = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        f = self.first(x)
        return self.rest(torch.cat([f, _resize(coarse, f.shape[-2:])], dim=1))


class EigenNet(nn.Module):
    """Coarse + fine stacks with stage switching (see the module docstring)."""

    stages = ("coarse", "fine")

    def __init__(self, coarse: CoarseStack, fine: FineStack) -> None:
        super().__init__()
        self.normalize = Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        self.coarse = coarse
        self.fine = fine
        self.stage = "fine"

    def parts(self) -> dict[str, nn.Module]:
        return {"coarse": self.coarse, "fine": self.fine}

    def set_stage(self, name: str) -> None:
        if name not in self.stages:
            raise ValueError(f"unknown stage {name!r} (stages: {', '.join(self.stages)})")
        self.stage = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x)
        coarse = self.coarse(x)
        if self.stage == "coarse":
            return _resize(coarse, fine_size(*x.shape[-2:]))
        return self.fine(x, coarse)


def _eigen_meta(notes: str, input_size: tuple[int, int], output_scale: float | None = None) -> ModelMeta:
    return ModelMeta(
        paper=PAPER_001,
        output="log",
        max_depth=10.0,
        input_size=tuple(input_size),
        in_channels=3,
        output_scale=output_scale,
        notes=notes,
    )


def _check_size(input_size: Sequence[int]) -> tuple[int, int]:
    size = tuple(int(s) for s in input_size)
    if len(size) != 2 or min(size) < 32:
        raise ValueError(f"input_size must be (H, W) with both sides >= 32, not {tuple(input_size)}")
    return size


@register_model("eigen")
def eigen(input_size: Sequence[int] = INPUT_SIZE, dropout: float = 0.5) -> EigenNet:
    """Eigen et al. 2014 coarse + fine network (paper 001 Fig. 2), log depth at ~1/4 resolution.

    Output: (N, 1, ((H-9)//2+1)//2, ((W-9)//2+1)//2), 55x74 for the paper's 228x304 input;
    kind ``log`` (natural log of metres; ``models.to_metres`` exponentiates). Two stages:
    ``parts()`` = coarse, fine; ``set_stage("coarse")`` returns the coarse map instead.
    ``input_size``: the size the FC coarse stack is built for (other inputs are resized for it).
    """
    size = _check_size(input_size)
    out = fine_size(*size)
    model = EigenNet(CoarseStack(EIGEN_COARSE, size, out, dropout=dropout), FineStack(63, (64,)))
    model.meta = _eigen_meta(
        f"Eigen 2014 coarse (5 conv + 2 FC) + fine (3 conv) stacks; log depth, {out[0]}x{out[1]} "
        f"for {size[0]}x{size[1]} input (~1/4); coarse stack resizes other inputs to {size}",
        size,
    )
    return model


@register_model("eigen_modified")
def eigen_modified(
    input_size: Sequence[int] = INPUT_SIZE,
    dropout: float = 0.5,
    fine_layers: int = 3,
    fine_channels: int = 15,
) -> EigenNet:
    """Paper 001's modified Eigen network (its Fig. 5): one coarse conv fewer, slimmer fine input.

    Output: (N, 1, ((H-9)//2+1)//2, ((W-9)//2+1)//2), 55x74 for 228x304; kind ``log``.
    ``fine_layers`` 3 (default, Sec. IV-A.2) or 2 (one fewer than Eigen's fine stack);
    ``fine_channels``: channels of the first fine layer (15; Eigen's has 63). Stages as ``eigen``.
    """
    if fine_layers not in (2, 3):
        raise ValueError(f"fine_layers must be 2 or 3, not {fine_layers!r}")
    size = _check_size(input_size)
    out = fine_size(*size)
    fine = FineStack(fine_channels, (64,) if fine_layers == 3 else ())
    model = EigenNet(CoarseStack(MODIFIED_COARSE, size, out, dropout=dropout), fine)
    model.meta = _eigen_meta(
        f"paper 001 modified Eigen: coarse 4 conv + 2 FC, fine {fine_layers} conv "
        f"(first {fine_channels} ch + coarse map); log depth, {out[0]}x{out[1]} for "
        f"{size[0]}x{size[1]} input",
        size,
    )
    return model


class AlexNetDepth(nn.Module):
    """AlexNet with its last FC layer regressing a fixed-size log-depth map (paper 001 Fig. 3)."""

    def __init__(self, pretrained: PretrainedArg, out_size: tuple[int, int], dropout: float) -> None:
        super().__init__()
        self.normalize = Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        self.backbone = build_alexnet(pretrained=pretrained, include_top=True)
        for m in self.backbone.classifier:
            if isinstance(m, nn.Dropout):
                m.p = dropout
        self.backbone.classifier[-1] = nn.Linear(4096, out_size[0] * out_size[1])
        self.out_size = tuple(out_size)

    def parts(self) -> dict[str, nn.Module]:
        return {"features": self.backbone.features, "head": self.backbone.classifier}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.normalize(x)).view(-1, 1, *self.out_size)


@register_model("alexnet_depth")
def alexnet_depth(
    pretrained: PretrainedArg = None,
    out_size: Sequence[int] = COARSE_OUT,
    dropout: float = 0.5,
) -> AlexNetDepth:
    """AlexNet regressing a 55x74 log-depth map through its FC layers (paper 001 Fig. 3).

    Output: (N, 1, 55, 74) whatever the input size (AlexNet's adaptive 6x6 pooling feeds the FC
    layers); kind ``log``. ``pretrained``: ImageNet AlexNet state_dict path or True (download);
    loads conv and FC6/FC7, the depth FC8 is new. Paper input 228x304.
    """
    out = tuple(int(s) for s in out_size)
    model = AlexNetDepth(pretrained, out, dropout)
    model.meta = _eigen_meta(
        f"AlexNet (torchvision layout) + FC 4096 -> {out[0]}x{out[1]} log-depth map", INPUT_SIZE, None
    )
    return model


def _up_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=False),
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ResNet18Depth(nn.Module):
    """ResNet-18 trunk + bilinear upsampling head to 1/4 resolution (paper 001 Fig. 4)."""

    def __init__(self, pretrained: PretrainedArg, widths: Sequence[int] = (256, 128, 64)) -> None:
        super().__init__()
        self.normalize = Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        self.backbone = build_resnet18(pretrained=pretrained, include_top=False)
        blocks, c = [], self.backbone.num_features
        for w in widths:
            blocks.append(_up_block(c, w))
            c = w
        self.head = nn.Sequential(*blocks, nn.Conv2d(c, 1, 3, padding=1))
        self.out_stride = 32 // 2 ** len(widths)

    def parts(self) -> dict[str, nn.Module]:
        return {"backbone": self.backbone, "head": self.head}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(self.normalize(x), 32)
        y = self.head(self.backbone.forward_features(x))
        s = self.out_stride
        # (h + s - 1) // s, not -(-h // s): traced to ONNX, shape arithmetic becomes integer
        # tensor ops whose division truncates toward zero, which breaks the negative-floor idiom.
        return y[:, :, : (h + s - 1) // s, : (w + s - 1) // s]


@register_model("resnet18_depth")
def resnet18_depth(pretrained: PretrainedArg = None) -> ResNet18Depth:
    """ResNet-18 + upsampling head regressing log depth at 1/4 resolution (paper 001 Fig. 4).

    Output: (N, 1, ceil(H/4), ceil(W/4)) (57x76 for 228x304); kind ``log``. Input padded inside
    to a multiple of 32. ``pretrained``: ImageNet ResNet-18 state_dict path or True (download).
    """
    model = ResNet18Depth(pretrained)
    model.meta = _eigen_meta(
        "ResNet-18 trunk + 3 bilinear x2 conv-BN-ReLU blocks (256, 128, 64) + 3x3 conv; "
        "log depth at ceil(H/4) x ceil(W/4)",
        INPUT_SIZE,
        0.25,
    )
    return model
