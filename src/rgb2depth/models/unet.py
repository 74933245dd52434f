"""Paper 000 (Realtime Single Image Depth Estimation): the compact real-time U-Net and its baseline.

``unet_realtime`` follows Sec. 3.2 ("Network Structure", Figs. 2-3) and Table 2 of paper 000:

* two feature-extraction layers at full resolution (3x3 conv + BN + ReLU each);
* an encoder of four convolutional blocks, each two 3x3 conv + BN + ReLU followed by a 2x2
  max-pool, so the encoder output (the bottleneck) has 101 channels at 1/16 of H and W;
* a decoder of four upsampling blocks, each one bilinear x2 upsampling and two 3x3 conv + ReLU
  with no batch normalisation (Sec. 3.2 prefers bilinear upsampling to transposed convolution
  because of checkerboard artifacts), with skip connections (concatenation) between encoder and
  decoder blocks working at the same size;
* one final 3x3 conv to a single channel, at the input resolution.

Order inside a decoder block (the paper's Fig. 3 is missing, its text lists "a single upsampling
layer and two 3x3 convolutional layers" without an order). Default ``upsample_first=False``:
each block convolves at its input size, then upsamples. The first block then works on the
101-channel bottleneck at 1/16 (so the bottleneck is really computed on, and the deepest layer
sees the widest context); block j > 1 first concatenates the encoder features of its size
(encoder block outputs before their max-pool: 1/8, 1/4, 1/2); the final conv takes the last
block's output concatenated with the full-resolution encoder features. ``upsample_first=True``
is the textbook U-Net order (upsample, concatenate, two convs; decoder widths 224, 64, 32, 16
there, 1,225,054 parameters); the map at 1/16 is then only a max-pooled copy of the 1/8
features, nothing convolves at 1/16, the parameters must sit at 1/8 and the network costs about
1.6-2x the CPU time per image (``benchmarks/bench_models.py``, fused and channels-last,
240x320).

Widths. The paper states the bottleneck width (101) and the total, 1.22M parameters (Table 2),
not the others. The defaults hit the total and keep the full-resolution layers narrow, because
the paper's goal is real-time inference (Table 2: 28 ms per image) and a 3x3 conv costs in
proportion to its resolution: the bulk of the parameters sit at 1/16 and 1/8.

    feature extraction 3 -> 8 -> 8                                (full resolution)
    encoder blocks     8 -> 8, 8 -> 16, 16 -> 32, 32 -> 101        (1, 1/2, 1/4, 1/8; pool after)
    decoder blocks     101 -> 224                     at 1/16, then upsample
                       224 + skip 101 -> 96           at 1/8,  then upsample
                       96 + skip 32 -> 32             at 1/4,  then upsample
                       32 + skip 16 -> 16             at 1/2,  then upsample
    final conv         16 + skip 8 -> 1               at full resolution

That is 1,215,974 parameters (Table 2: 1.22M; -0.3%) and about 1.48 GMAC at 240x320.

Inference: :meth:`UNetRealtime.fuse` folds every BN into its conv (an eval-mode copy, equal to
1e-5); with ``model.to(memory_format=torch.channels_last)`` that is the fastest CPU form
(``benchmarks/bench_models.py --channels-last``; figures in ``docs/results/models_cpu.md``).
Convolutions followed by BN carry no bias (the BN shift plays that role); the decoder's have one.

The paper normalises ground-truth depth to [0, 1] for training (Sec. 4.1); the network's output
is therefore ``normalized`` depth (depth / ``max_depth``, 10 m by default, NYU's range), squashed
by a sigmoid by default (``out_activation="none"`` gives the raw linear output, which the paper
does not exclude; clamp it before converting to metres).

``unet_baseline`` is the baseline of Sec. 4.2 / Table 2: "the first U-Net [20] proposed in
segmentation" (Ronneberger et al. 2015). The original U-Net (64 ... 1024 channels, four
poolings, transposed-convolution "up-convolutions") has about 31.0M parameters, not the 17.26M of
Table 2; see :func:`unet_baseline` for the configuration that matches 17.26M.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

from rgb2depth.models import register_model
from rgb2depth.models.base import IMAGENET_MEAN, IMAGENET_STD, ModelMeta
from rgb2depth.models.layers import Normalize, pad_to_multiple

PAPER_000 = "000: Realtime Single Image Depth Estimation (Sec. 3.2, Table 2)"

#: Widths of ``unet_realtime`` (see the module docstring).
REALTIME_FEATURES = 8
REALTIME_ENCODER = (8, 16, 32, 101)
REALTIME_DECODER = (224, 96, 32, 16)
#: Decoder widths with ``upsample_first=True`` (1,225,054 parameters).
REALTIME_DECODER_UPSAMPLE_FIRST = (224, 64, 32, 16)
#: Table 2 of paper 000.
PARAMS_REALTIME_PAPER = 1_220_000
PARAMS_BASELINE_PAPER = 17_260_000


def _conv_bn_relu(cin: int, cout: int, fused: bool) -> nn.Sequential:
    """3x3 conv + BN + ReLU; ``fused`` builds the inference form (conv with bias, no BN)."""
    if fused:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=True), nn.Identity(), nn.ReLU(inplace=True))
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _up2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def _conv_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True))


class UNetRealtime(nn.Module):
    """The compact U-Net of paper 000 Sec. 3.2 (widths configurable, defaults in the module doc).

    Input (N, C, H, W) in [0, 1], any H, W (padded inside to a multiple of 16, output cropped
    back); output (N, 1, H, W).
    """

    def __init__(
        self,
        features: int = REALTIME_FEATURES,
        encoder: Sequence[int] = REALTIME_ENCODER,
        decoder: Sequence[int] | None = None,
        in_channels: int = 3,
        mean: Sequence[float] = (0.485, 0.456, 0.406),
        std: Sequence[float] = (0.229, 0.224, 0.225),
        out_activation: str = "sigmoid",
        fused: bool = False,
        upsample_first: bool = False,
    ) -> None:
        super().__init__()
        if decoder is None:
            decoder = REALTIME_DECODER_UPSAMPLE_FIRST if upsample_first else REALTIME_DECODER
        if len(encoder) != len(decoder):
            raise ValueError(f"encoder {tuple(encoder)} and decoder {tuple(decoder)} need the same number of blocks")
        if out_activation not in ("sigmoid", "none"):
            raise ValueError(f"out_activation must be 'sigmoid' or 'none', not {out_activation!r}")
        self.multiple = 2 ** len(encoder)
        self.out_activation = out_activation
        self.fused = fused
        self.upsample_first = upsample_first
        self.normalize = Normalize(tuple(mean), tuple(std))
        self.stem = nn.Sequential(_conv_bn_relu(in_channels, features, fused), _conv_bn_relu(features, features, fused))
        blocks, c = [], features
        for w in encoder:
            blocks.append(nn.Sequential(_conv_bn_relu(c, w, fused), _conv_bn_relu(w, w, fused)))
            c = w
        self.encoder = nn.ModuleList(blocks)
        self.pool = nn.MaxPool2d(2)
        # Skip widths seen by each decoder block: upsample-first blocks concatenate the encoder
        # features of the size they upsample to; conv-first blocks those of the size they work
        # at (none for the first, at 1/16), and the head takes the full-resolution ones.
        skips = list(reversed(encoder)) if upsample_first else [0, *reversed(encoder[1:])]
        ups = []
        for skip, w in zip(skips, decoder, strict=True):
            ups.append(nn.Sequential(_conv_relu(c + skip, w), _conv_relu(w, w)))
            c = w
        self.decoder = nn.ModuleList(ups)
        self.head = nn.Conv2d(c + (0 if upsample_first else encoder[0]), 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x)
        x, (h, w) = pad_to_multiple(x, self.multiple)
        x = self.stem(x)
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        if self.upsample_first:
            for block, skip in zip(self.decoder, reversed(skips), strict=True):
                x = _up2(x)
                x = block(torch.cat([x, skip], dim=1))
            x = self.head(x)
        else:
            for j, block in enumerate(self.decoder):
                if j:
                    x = torch.cat([x, skips[-j]], dim=1)
                x = _up2(block(x))
            x = self.head(torch.cat([x, skips[0]], dim=1))
        if self.out_activation == "sigmoid":
            x = torch.sigmoid(x)
        return x[:, :, :h, :w]

    @torch.no_grad()
    def fuse(self) -> UNetRealtime:
        """An eval-mode copy with every BN folded into the conv before it (inference only).

        The copy is the model ``create(name, ..., fused=True)`` builds, so it saves and loads with
        :mod:`rgb2depth.models.io` like any other model; it cannot be trained (no BN).
        """
        if self.fused:
            return copy.deepcopy(self).eval()
        new = copy.deepcopy(self).eval()
        for seq in new.modules():
            if isinstance(seq, nn.Sequential) and len(seq) == 3 and isinstance(seq[1], nn.BatchNorm2d):
                seq[0] = fuse_conv_bn_eval(seq[0], seq[1])
                seq[1] = nn.Identity()
        new.fused = True
        if hasattr(new, "rgb2depth_options"):
            new.rgb2depth_options = {**new.rgb2depth_options, "fused": True}
        return new


def _realtime_meta(max_depth: float, in_channels: int, out_activation: str, widths: str) -> ModelMeta:
    return ModelMeta(
        paper=PAPER_000,
        output="normalized",
        max_depth=float(max_depth),
        input_size=(240, 320),
        in_channels=in_channels,
        output_scale=1.0,
        notes=(
            f"compact U-Net, bottleneck 101 ch at 1/16, {widths}; output depth/max_depth "
            f"({'sigmoid, in [0,1]' if out_activation == 'sigmoid' else 'linear, clamp to [0,1]'}) "
            "at the input resolution; input size not stated by the paper (NYU at half resolution)"
        ),
    )


@register_model("unet_realtime")
def unet_realtime(
    max_depth: float = 10.0,
    out_activation: str = "sigmoid",
    features: int = REALTIME_FEATURES,
    encoder: Sequence[int] = REALTIME_ENCODER,
    decoder: Sequence[int] | None = None,
    fused: bool = False,
    upsample_first: bool = False,
) -> UNetRealtime:
    """Paper 000's real-time U-Net (1.22M parameters, bottleneck 101 ch at 1/16).

    Output: (N, 1, H, W), same size as the input, kind ``normalized`` (depth / ``max_depth``,
    default 10 m; sigmoid in [0, 1] unless ``out_activation="none"``).
    ``models.to_metres(y, model.meta)`` gives metres. ``fused=True`` builds the BN-folded
    inference form that :meth:`UNetRealtime.fuse` returns. Widths and ``upsample_first`` (order
    inside a decoder block, default conv then upsample): module docstring.
    """
    model = UNetRealtime(
        features, tuple(encoder), None if decoder is None else tuple(decoder),
        out_activation=out_activation, fused=fused, upsample_first=upsample_first,
    )
    decoder = tuple(block[-1][0].out_channels for block in model.decoder)
    order = "upsample-then-conv" if upsample_first else "conv-then-upsample"
    widths = f"features {features}, encoder {tuple(encoder)}, decoder {tuple(decoder)} ({order})"
    model.meta = _realtime_meta(max_depth, 3, out_activation, widths)
    return model


def _double_conv(cin: int, cout: int, mid: int, batch_norm: bool) -> nn.Sequential:
    """Two padded 3x3 convs (+ BN) + ReLU: the U-Net unit (Ronneberger et al. 2015, Fig. 1)."""
    layers: list[nn.Module] = []
    for a, b in ((cin, mid), (mid, cout)):
        layers.append(nn.Conv2d(a, b, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(b))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UNetBaseline(nn.Module):
    """The U-Net of Ronneberger et al. 2015 with padded convs (output size = input size).

    ``bilinear=True``: bilinear x2 upsampling instead of 2x2 up-convolutions; the deepest
    encoder level and each decoder level then halve their output width so that the concatenation
    widths stay those of the original (1024, 512, 256, 128), and the first conv of each decoder
    unit halves the width ("mid" channels). This is the configuration with Table 2's 17.26M.
    ``bilinear=False``: the original up-convolution U-Net (31.0M parameters).
    """

    def __init__(
        self,
        widths: Sequence[int] = (64, 128, 256, 512, 1024),
        in_channels: int = 3,
        bilinear: bool = True,
        batch_norm: bool = True,
        out_activation: str = "sigmoid",
    ) -> None:
        super().__init__()
        if out_activation not in ("sigmoid", "none"):
            raise ValueError(f"out_activation must be 'sigmoid' or 'none', not {out_activation!r}")
        w = list(widths)
        n = len(w) - 1
        factor = 2 if bilinear else 1
        self.bilinear = bilinear
        self.out_activation = out_activation
        self.multiple = 2**n
        self.normalize = Normalize(IMAGENET_MEAN, IMAGENET_STD)
        self.inc = _double_conv(in_channels, w[0], w[0], batch_norm)
        downs = []
        for i in range(1, n + 1):
            cout = w[i] // factor if i == n else w[i]
            downs.append(_double_conv(w[i - 1], cout, cout, batch_norm))
        self.downs = nn.ModuleList(downs)
        self.pool = nn.MaxPool2d(2)
        ups, convs = [], []
        for i in range(n, 0, -1):
            cout = w[i - 1] // factor if i > 1 else w[0]
            if bilinear:
                ups.append(nn.Identity())
                convs.append(_double_conv(w[i], cout, w[i] // 2, batch_norm))
            else:
                ups.append(nn.ConvTranspose2d(w[i], w[i] // 2, 2, stride=2))
                convs.append(_double_conv(w[i], cout, cout, batch_norm))
        self.ups = nn.ModuleList(ups)
        self.up_convs = nn.ModuleList(convs)
        self.head = nn.Conv2d(w[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x)
        x, (h, w) = pad_to_multiple(x, self.multiple)
        x = self.inc(x)
        skips = [x]
        for down in self.downs:
            x = down(self.pool(x))
            skips.append(x)
        skips.pop()
        for up, conv, skip in zip(self.ups, self.up_convs, reversed(skips), strict=True):
            x = _up2(x) if self.bilinear else up(x)
            x = conv(torch.cat([skip, x], dim=1))
        x = self.head(x)
        if self.out_activation == "sigmoid":
            x = torch.sigmoid(x)
        return x[:, :, :h, :w]


@register_model("unet_baseline")
def unet_baseline(
    max_depth: float = 10.0,
    out_activation: str = "sigmoid",
    bilinear: bool = True,
    batch_norm: bool = True,
) -> UNetBaseline:
    """Paper 000's baseline: the original U-Net, bilinear variant (17.26M parameters, Table 2).

    Output: (N, 1, H, W), same size as the input, kind ``normalized`` (depth / ``max_depth``;
    sigmoid in [0, 1] unless ``out_activation="none"``), trained like ``unet_realtime``
    (Sec. 4.2: "same batch size, learning rate, data augmentation").

    Configuration matching Table 2's 17.26M: widths 64-128-256-512-1024, four max-pools, padded
    3x3 convs with BN, bilinear x2 upsampling in place of the 2x2 up-convolutions, with the
    bottom encoder unit and each decoder unit halving its output width (512 at 1/16; decoder
    1024->256, 512->128, 256->64, 128->64 with mid widths 512, 256, 128, 64) so the concatenated
    widths stay the original's: 17,262,977 parameters (17,258,561 with ``batch_norm=False``).
    The literal Ronneberger U-Net (``bilinear=False``, 2x2 up-convolutions) has 31,037,633
    (31,031,745 without BN): 1.8x Table 2's figure, so it cannot be the paper's baseline.
    """
    model = UNetBaseline(bilinear=bilinear, batch_norm=batch_norm, out_activation=out_activation)
    kind = "bilinear (17.26M)" if bilinear else "up-convolution (31.0M)"
    model.meta = ModelMeta(
        paper=PAPER_000.replace("Sec. 3.2", "Sec. 4.2"),
        output="normalized",
        max_depth=float(max_depth),
        input_size=(240, 320),
        in_channels=3,
        output_scale=1.0,
        notes=f"original U-Net (Ronneberger 2015), {kind}, BN {batch_norm}; output depth/max_depth at input size",
    )
    return model
