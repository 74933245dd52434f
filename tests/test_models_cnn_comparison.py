"""Paper 004 networks: Sec. 3.1 parameter figures, layer structure, sizes, unpooling variants."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from rgb2depth.models import create
from rgb2depth.models.cnn_comparison import paper_conv_count


def _count(modules) -> int:
    return sum(p.numel() for m in modules for p in m.parameters(recurse=False))


def test_cnn_fc_parameter_figures_of_section_3_1():
    with torch.device("meta"):
        model = create("cnn_fc")
    convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.fc.modules() if isinstance(m, nn.Linear)]
    assert len(convs) == 6 and len(linears) == 2
    assert [c.kernel_size[0] for c in convs] == [11, 5, 3, 3, 3, 3]
    # "the number of parameters of the two fully connected layers are 73293824"
    assert _count(linears) == 73_293_824 == 13824 * 4096 + 4096 * 4070
    # "The total number of parameters of all the convolution layers are 27232": the paper's sum
    # of k*k*C_out; the real weight count (with C_in) is 3*121*96 + 96*25*256 + 4*256*256*9.
    assert paper_conv_count(model.features) == 27_232
    assert _count(convs) == 3 * 121 * 96 + 96 * 25 * 256 + 4 * 256 * 256 * 9 == 3_008_544
    with torch.device("meta"):
        assert tuple(model.features(torch.empty(1, 3, 228, 304)).shape) == (1, 256, 6, 9)
        with_bias = create("cnn_fc", fc_bias=True)
    assert _count(m for m in with_bias.fc.modules() if isinstance(m, nn.Linear)) == 73_293_824 + 4096 + 4070


def test_cnn_fc_dropout_after_first_fc_and_output_resized():
    torch.manual_seed(0)
    model = create("cnn_fc")
    kinds = [type(m) for m in model.fc]
    assert kinds == [nn.Linear, nn.ReLU, nn.Dropout, nn.Linear] and model.fc[2].p == 0.5
    model.eval()
    with torch.no_grad():
        y = model(torch.rand(2, 3, 100, 120))
    assert y.shape == (2, 1, 100, 120) and torch.isfinite(y).all()
    assert model.meta.output == "metres" and model.meta.extra["fc_output_size"] == [55, 74]


@pytest.mark.parametrize("name", ["cnn", "cnn_transpose"])
def test_plain_cnn_structure(name):
    model = create(name)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    assert len(convs) == 8 and all(c.kernel_size == (3, 3) for c in convs)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 7  # every conv but the depth output layer
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == (3 if name == "cnn_transpose" else 2)
    assert isinstance(convs[-1], nn.ConvTranspose2d) == (name == "cnn_transpose")
    if name == "cnn_transpose":
        assert convs[-1].stride == (2, 2)


@pytest.mark.parametrize("name", ["cnn", "cnn_transpose"])
@pytest.mark.parametrize("size,out", [((228, 304), (57, 76)), ((61, 83), (16, 21))])
def test_plain_cnn_sizes(name, size, out):
    torch.manual_seed(0)
    model = create(name)
    x = torch.rand(2, 3, *size, requires_grad=True)
    y = model(x)
    assert y.shape == (2, 1, *out)
    y.mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_cnn_residual_is_fcrn_upproj_with_unpool_choice():
    with torch.device("meta"):
        zero = create("cnn_residual")
        avg = create("cnn_residual", unpool="average")
        fcrn = create("fcrn", decoder="upproj")
    n = sum(p.numel() for p in zero.parameters())
    assert n == sum(p.numel() for p in avg.parameters()) == sum(p.numel() for p in fcrn.parameters())
    assert list(zero.state_dict()) == list(fcrn.state_dict())
    assert zero.meta.extra["unpool"] == "zero" and avg.meta.extra["unpool"] == "average"
    blocks = list(avg.decoder.blocks)
    assert len(blocks) == 4 and all(b.unpool == "average" and not b.fast for b in blocks)
    with pytest.raises(ValueError, match="unknown unpooling"):
        create("cnn_residual", unpool="max")


def test_cnn_residual_average_differs_from_zero_and_is_differentiable():
    torch.manual_seed(0)
    zero = create("cnn_residual", unpool="zero").eval()
    avg = create("cnn_residual", unpool="average").eval()
    avg.load_state_dict(zero.state_dict())
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        yz, ya = zero(x), avg(x)
    assert yz.shape == ya.shape == (1, 1, 32, 32)
    assert (yz - ya).abs().max() > 1e-6
    avg.train()
    avg(x).sum().backward()
    assert torch.isfinite(avg.decoder.blocks[0].conv1.weight.grad).all()
