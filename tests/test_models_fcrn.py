"""FCRN (paper 003): Table 1 parameter counts, output sizes, and fast == naive up-sampling.

The naive reference here is written independently of the package: zero-unpooling by strided
assignment into a zero tensor, then ``F.conv2d`` with the 5x5 filter (Sec. 3.1, Fig. 2a/c).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from rgb2depth.models import create
from rgb2depth.models.fcrn import TABLE1_PARAMS
from rgb2depth.models.upsampling import (
    GEMM_MAX_PIXELS,
    UpConv,
    UpProjection,
    fast_filters,
    interleave,
    phase_filters,
    phase_matrices,
    unpool_average,
    unpool_zero,
    up_fast,
    up_phases,
)

# Table 1 of paper 003, "#params", as the model module records it.
TABLE1 = [(backbone, decoder, n) for (backbone, decoder), n in TABLE1_PARAMS.items()]


def ref_unpool(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    u = torch.zeros(n, c, 2 * h, 2 * w, dtype=x.dtype)
    u[:, :, ::2, ::2] = x
    return u


def randomize_bn(module: nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affine parameters, so eval-mode folding is really tested."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(1 + 0.2 * torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(0.2 * torch.randn(m.num_features, generator=g))


# ------------------------------------------------------------------ parameter counts by layer arithmetic
# Each count below is written from the architecture (paper 003 Sec. 3.1 / 4.2, Fig. 1-2, and the
# backbones' published layer lists), not read from the package: (weights, BatchNorm channels).


def conv(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def linear(cin: int, cout: int) -> int:
    return cin * cout + cout


def resnet50_trunk() -> tuple[int, int]:
    """ResNet-50 without pooling/FC: 7x7 conv + BN, then 3-4-6-3 bottlenecks (1x1, 3x3, 1x1 x4,
    a BN after each; a 1x1 projection + BN on each stage's first block); no conv biases."""
    n, bn = conv(3, 64, 7, False), 64
    cin = 64
    for width, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for i in range(blocks):
            n += conv(cin, width, 1, False) + conv(width, width, 3, False) + conv(width, 4 * width, 1, False)
            bn += width + width + 4 * width
            if i == 0:
                n += conv(cin, 4 * width, 1, False)
                bn += 4 * width
            cin = 4 * width
    return n + 2 * bn, bn


def alexnet_trunk(widths=(64, 192, 384, 256, 256)) -> int:
    """AlexNet's five convolutions (11x11, 5x5, 3x3, 3x3, 3x3, with biases); default torchvision's widths."""
    ks, cin, n = (11, 5, 3, 3, 3), 3, 0
    for k, c in zip(ks, widths, strict=True):
        n, cin = n + conv(cin, c, k), c
    return n


def vgg16_trunk() -> int:
    cfg, cin, n = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512), 3, 0
    for c in cfg:
        n, cin = n + conv(cin, c, 3), c
    return n


def conv_decoder(cin: int, widths, block: str) -> tuple[int, int]:
    """Optional 1x1 conv + BN, four blocks, 3x3 head conv to 1 (with bias). upconv: 5x5 + BN;
    upproj: 5x5 + BN, 3x3 + BN, projection 5x5 + BN; deconv: 2x2 transposed + BN; no biases."""
    n, bn = 0, 0
    if widths[0] is not None:
        n, bn, cin = conv(cin, widths[0], 1, False), widths[0], widths[0]
    for c in widths[1:]:
        if block == "upconv":
            n, bn = n + conv(cin, c, 5, False), bn + c
        elif block == "upproj":
            n, bn = n + 2 * conv(cin, c, 5, False) + conv(c, c, 3, False), bn + 3 * c
        else:
            n, bn = n + conv(cin, c, 2, False), bn + c
        cin = c
    return n + 2 * bn + conv(cin, 1, 3), bn


def fcrn_count(backbone: str, decoder: str) -> tuple[int, int]:
    """(parameters, BatchNorm channels) of an FCRN variant at the paper's 228x304 input."""
    if backbone == "resnet50":
        n, bn = resnet50_trunk()
        if decoder in ("fc", "fc64x48"):
            # 228x304 -> 8x10x2048 at stride 32; the kept 7x7/1 average pool leaves 2x4
            out = {"fc": 128 * 160, "fc64x48": 48 * 64}[decoder]
            return n + linear(2 * 4 * 2048, out), bn
        d, dbn = conv_decoder(2048, (1024, 512, 256, 128, 64), decoder)
        return n + d, bn + dbn
    if backbone == "alexnet":
        if decoder == "fc":
            # 228x304: conv 11/4 pad 2 -> 56x75, three 3/2 max-pools -> 27x37, 13x18, 6x8
            return alexnet_trunk() + linear(256 * 6 * 8, 4096) + linear(4096, 96 * 128), 0
        d, dbn = conv_decoder(256, (None, 320, 160, 80, 40), "upconv")
        return alexnet_trunk() + d, dbn
    d, dbn = conv_decoder(512, (None, 224, 112, 56, 28), "upconv")
    return vgg16_trunk() + d, dbn


@pytest.mark.parametrize("backbone,decoder,table", TABLE1)
def test_table1_parameter_counts(backbone, decoder, table):
    """Exact counts; with BatchNorm running statistics counted as MatConvNet (the paper's
    toolbox) stores them, every ResNet row rounds to Table 1's figure."""
    with torch.device("meta"):
        model = create("fcrn", backbone=backbone, decoder=decoder)
    n, bn = fcrn_count(backbone, decoder)
    assert sum(p.numel() for p in model.parameters()) == n
    stats = sum(v.numel() for k, v in model.state_dict().items() if k.endswith(("running_mean", "running_var")))
    assert stats == 2 * bn
    matconvnet = n + 2 * bn
    if backbone == "resnet50":
        assert round(matconvnet / 1e5) == round(table / 1e5), f"{matconvnet} vs Table 1 {table}"
    elif decoder == "upconv":
        # decoder widths unstated in the paper (ours: fitted), so only "within 0.1M"
        assert abs(matconvnet - table) <= 0.1e6
    else:
        # AlexNet FC: Table 1 counts the ungrouped 96-256-384-384-256 AlexNet; ours is torchvision's
        ungrouped = alexnet_trunk((96, 256, 384, 384, 256)) + linear(256 * 6 * 8, 4096) + linear(4096, 96 * 128)
        assert ungrouped == 104_426_880 and round(ungrouped / 1e5) == round(table / 1e5)


def test_trunk_counts_match_the_published_backbones():
    """The trunk arithmetic against the published totals of the ImageNet models (minus their
    classifier heads): ResNet-50 25,557,032, AlexNet 61,100,840, VGG-16 138,357,544."""
    assert resnet50_trunk()[0] == 25_557_032 - linear(2048, 1000)
    assert alexnet_trunk() == 61_100_840 - linear(256 * 36, 4096) - linear(4096, 4096) - linear(4096, 1000)
    assert vgg16_trunk() == 138_357_544 - linear(512 * 49, 4096) - linear(4096, 4096) - linear(4096, 1000)


@pytest.mark.parametrize(
    "backbone,decoder,out",
    [
        ("resnet50", "upproj", (128, 160)),
        ("resnet50", "upconv", (128, 160)),
        ("resnet50", "deconv", (128, 160)),
        ("resnet50", "fc", (128, 160)),
        ("resnet50", "fc64x48", (48, 64)),
        ("alexnet", "upconv", (96, 128)),
        ("alexnet", "fc", (96, 128)),
        ("vgg16", "upconv", (112, 144)),
    ],
)
def test_output_sizes_at_paper_input(backbone, decoder, out):
    """Sec. 4.2: 304x228 input -> 160x128 (ResNet), 128x96 (AlexNet), 144x112 (VGG)."""
    with torch.device("meta"):
        model = create("fcrn", backbone=backbone, decoder=decoder)
        y = model(torch.empty(2, 3, 228, 304))
    assert tuple(y.shape) == (2, 1, *out)
    assert model.meta.output == "metres" and model.meta.input_size == (228, 304)
    assert list(model.meta.extra["output_size"]) == list(out)


def test_unpooling_by_hand():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    assert torch.equal(
        unpool_zero(x),
        torch.tensor([[[[1.0, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]]]),
    )
    # Average unpooling (paper 004 Sec. 5.4): holes = mean of the two nearest neighbours, the
    # last row/column repeats the border.
    assert torch.equal(
        unpool_average(x),
        torch.tensor([[[[1.0, 1.5, 2, 2], [2, 2.5, 3, 3], [3, 3.5, 4, 4], [3, 3.5, 4, 4]]]]),
    )


@pytest.mark.parametrize("impl", ["fused", "split"])
def test_fast_upconv_equals_unpool_then_5x5(impl):
    torch.manual_seed(0)
    x = torch.randn(2, 5, 6, 7, dtype=torch.float64)
    w = torch.randn(4, 5, 5, 5, dtype=torch.float64)
    b = torch.randn(4, dtype=torch.float64)
    ref = F.conv2d(ref_unpool(x), w, b, padding=2)
    got = up_fast(x, [w], [b], impl)[0]
    torch.testing.assert_close(got, ref, atol=1e-12, rtol=0)


def test_fast_filter_shapes_follow_fig3():
    w = torch.arange(25.0).view(1, 1, 5, 5)
    bank = fast_filters([w])  # (a, b) = (0,0), (0,1), (1,0), (1,1)
    a = bank[0, 0]
    assert torch.equal(a, w[0, 0][[0, 2, 4]][:, [0, 2, 4]])  # A: 3x3
    assert torch.equal(bank[1, 0][:, 1:], w[0, 0][[0, 2, 4]][:, [1, 3]])  # B: 3x2
    assert torch.equal(bank[2, 0][1:, :], w[0, 0][[1, 3]][:, [0, 2, 4]])  # C: 2x3
    assert torch.equal(bank[3, 0][1:, 1:], w[0, 0][[1, 3]][:, [1, 3]])  # D: 2x2
    assert bank[1, 0][:, 0].abs().sum() == 0 and bank[3, 0][0].abs().sum() == 0
    # 9 + 6 + 6 + 4 = 25 taps: each 5x5 weight is used exactly once.
    assert int((bank != 0).sum()) == 24  # the 25 values 0..24 minus the zero at w[0, 0, 0, 0]


def test_interleave_matches_pixel_shuffle_order():
    y = torch.randn(2, 4 * 3, 5, 6)
    ref = F.pixel_shuffle(y.view(2, 4, 3, 5, 6).transpose(1, 2).reshape(2, 12, 5, 6), 2)
    assert torch.equal(interleave(y)[0], ref)
    assert torch.equal(interleave(y.contiguous(memory_format=torch.channels_last))[0], ref)


@pytest.mark.parametrize("kind", ["gemm", "conv"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_phase_inference_path_equals_unpool_then_5x5(kind, channels_last):
    """The 25-tap inference path (four matrix products or four convolutions written into one
    interleaved map) against unpool + 5x5 convolution, two weights sharing the input."""
    torch.manual_seed(0)
    x = torch.randn(2, 6, 5, 7, dtype=torch.float64)
    ws = [torch.randn(4, 6, 5, 5, dtype=torch.float64) for _ in range(2)]
    b = torch.randn(8, dtype=torch.float64)
    ref = F.conv2d(ref_unpool(x), torch.cat(ws), b, padding=2)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    filters = phase_matrices(ws) if kind == "gemm" else phase_filters(ws)
    assert [tuple(f.shape) for f in phase_filters(ws)] == [(8, 6, 3, 3), (8, 6, 3, 2), (8, 6, 2, 3), (8, 6, 2, 2)]
    got = up_phases(x, filters, b, groups=2)
    assert got.shape == (2, 2, 4, 10, 14)
    torch.testing.assert_close(torch.cat(list(got), 1), ref, atol=1e-12, rtol=0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    assert got[0].is_contiguous(memory_format=fmt)  # the caller's memory format is kept


def _grads(module, x):
    y = module(x)
    loss = (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum()
    return y, torch.autograd.grad(loss, [x, *module.parameters()])


@pytest.mark.parametrize("cls", [UpConv, UpProjection])
@pytest.mark.parametrize("impl", ["auto", "fused", "split"])
@pytest.mark.parametrize("train", [False, True])
def test_fast_block_equals_naive(cls, impl, train):
    torch.manual_seed(1)
    naive = cls(12, 8, fast=False)
    randomize_bn(naive)
    fast = cls(12, 8, fast=True, impl=impl)
    assert list(fast.state_dict()) == list(naive.state_dict())  # drop-in: same parameters
    fast.load_state_dict(naive.state_dict())
    naive.train(train)
    fast.train(train)
    # Under no_grad, "auto" computes 6x7 = 42 pixels as matrix products and 24x26 = 624 (more than
    # GEMM_MAX_PIXELS) as four convolutions.
    assert 6 * 7 <= GEMM_MAX_PIXELS < 24 * 26
    for size in ((6, 7), (24, 26)):
        x = torch.randn(3, 12, *size, requires_grad=True)
        yn, gn = _grads(naive, x)
        yf, gf = _grads(fast, x)
        assert (yn - yf).abs().max() < 1e-5
        for a, b in zip(gn, gf, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4 * float(a.abs().max()))
        if not train:
            with torch.no_grad():  # the cached, BN-folded inference path
                assert (naive(x) - fast(x)).abs().max() < 1e-5
                assert (naive(x) - fast(x)).abs().max() < 1e-5  # second call: from the cache
    if train:  # BN running statistics updated identically
        for (k, a), b in zip(naive.state_dict().items(), fast.state_dict().values(), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=k)


def test_fast_cache_follows_weight_updates():
    torch.manual_seed(2)
    naive, fast = UpProjection(6, 4, fast=False).eval(), UpProjection(6, 4, fast=True).eval()
    fast.load_state_dict(naive.state_dict())
    x = torch.randn(1, 6, 5, 5)
    with torch.no_grad():
        before = fast(x)
        for m in (naive, fast):  # an optimiser step / load_state_dict changes tensors in place
            m.conv1.weight.add_(0.1)
            m.bn_proj.running_var.mul_(2.0)
        assert (fast(x) - before).abs().max() > 1e-3
        assert (fast(x) - naive(x)).abs().max() < 1e-5


@pytest.mark.parametrize("decoder", ["upproj", "upconv"])
@pytest.mark.parametrize("train", [False, True])
def test_whole_fcrn_fast_equals_naive(decoder, train):
    torch.manual_seed(3)
    widths = (256, 128, 64, 32, 16)  # narrower decoder than Fig. 1 to keep the test light
    naive = create("fcrn", decoder=decoder, fast=False, widths=widths)
    randomize_bn(naive)
    fast = create("fcrn", decoder=decoder, fast=True, widths=widths)
    assert list(fast.state_dict()) == list(naive.state_dict())
    fast.load_state_dict(naive.state_dict())
    naive.train(train)
    fast.train(train)
    x = torch.rand(2, 3, 64, 96)
    torch.manual_seed(7)  # same dropout mask in train mode
    yn = naive(x)
    torch.manual_seed(7)
    yf = fast(x)
    assert yn.shape == yf.shape == (2, 1, 32, 48)
    assert (yn - yf).abs().max() < 1e-5 * max(1.0, float(yn.detach().abs().max()))


def test_dropout_precedes_final_conv():
    model = create("fcrn")
    dec = model.decoder
    names = [n for n, _ in dec.named_children()]
    assert names[-2:] == ["dropout", "head"] and isinstance(dec.dropout, nn.Dropout)
    assert dec.dropout.p == 0.5 and dec.head.out_channels == 1 and dec.head.kernel_size == (3, 3)
    model.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))  # eval: no dropout


def test_fc_variant_resizes_input_and_has_fixed_output():
    torch.manual_seed(0)
    model = create("fcrn", backbone="alexnet", decoder="fc").eval()
    assert model.meta.output_scale is None
    with torch.no_grad():
        y1 = model(torch.rand(1, 3, 100, 140))
        x = torch.rand(1, 3, 228, 304)
        y2 = model(x)
        ref = model.decoder(model.backbone.forward_features(model.normalize(x)))
    assert y1.shape == y2.shape == (1, 1, 96, 128)
    torch.testing.assert_close(y2, ref)


def test_pretrained_backbone_from_path(tmp_path):
    from rgb2depth.models.backbones import alexnet

    sd = alexnet().state_dict()  # torchvision layout, checked in test_backbones.py
    path = tmp_path / "alexnet.pth"
    torch.save(sd, path)
    model = create("fcrn", backbone="alexnet", decoder="upconv", pretrained=str(path))
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, sd[k])


def test_channels_last_and_bad_input():
    torch.manual_seed(0)
    model = create("fcrn").eval()
    x = torch.rand(1, 3, 70, 90)
    with torch.no_grad():
        y = model(x)
        y_cl = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    assert y.shape == (1, 1, 48, 48)  # 16 * ceil(70/32), 16 * ceil(90/32)
    torch.testing.assert_close(y_cl, y, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="RGB batch"):
        model(torch.rand(1, 1, 64, 64))
    with pytest.raises(ValueError, match="unknown FCRN decoder"):
        create("fcrn", decoder="bilinear")
