"""Paper 001 networks: sizes, parameter counts, two-stage switching and freezing, pretrained, files."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rgb2depth.models import create, from_metres, to_metres
from rgb2depth.models.backbones import alexnet, resnet18
from rgb2depth.models.eigen import fine_size
from rgb2depth.models.io import load_model, save_model

SMALL = {"input_size": (64, 96)}  # coarse FC built for 64x96: small and fast


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def conv(cin, cout, k):
    return cin * cout * k * k + cout


def fc(a, b):
    return a * b + b


def test_eigen_parameter_count_by_hand():
    # Eigen et al. 2014, NYU: coarse 96-256-384-384-256 convs, 8x6 map, FC 4096, FC 74*55.
    coarse = conv(3, 96, 11) + conv(96, 256, 5) + conv(256, 384, 3) + conv(384, 384, 3)
    coarse += conv(384, 256, 3) + fc(256 * 6 * 8, 4096) + fc(4096, 55 * 74)
    fine = conv(3, 63, 9) + conv(64, 64, 5) + conv(64, 1, 5)
    with torch.device("meta"):
        model = create("eigen")
    parts = model.parts()
    assert n_params(parts["coarse"]) == coarse
    assert n_params(parts["fine"]) == fine
    assert n_params(model) == coarse + fine == 70_877_171


def test_eigen_modified_has_one_coarse_layer_fewer_and_fewer_parameters():
    with torch.device("meta"):
        eig = create("eigen")
        mod = create("eigen_modified")
        mod2 = create("eigen_modified", fine_layers=2)
    count = lambda m: sum(isinstance(x, torch.nn.Conv2d) for x in m.modules())  # noqa: E731
    assert count(eig.coarse) == 5 and count(mod.coarse) == 4
    assert count(eig.fine) == 3 and count(mod.fine) == 3 and count(mod2.fine) == 2
    coarse = conv(3, 96, 11) + conv(96, 256, 5) + conv(256, 384, 3) + conv(384, 256, 3)
    coarse += fc(256 * 6 * 8, 4096) + fc(4096, 55 * 74)
    fine = conv(3, 15, 9) + conv(16, 64, 5) + conv(64, 1, 5)
    assert n_params(mod) == coarse + fine < n_params(eig)  # "uses less parameter" (Sec. V-C)
    assert mod.fine.first[0].out_channels + 1 == mod.fine.rest[0].in_channels


@pytest.mark.parametrize(("hw", "out"), [((228, 304), (55, 74)), ((240, 320), (58, 78)), ((97, 131), (22, 31))])
def test_fine_size_formula(hw, out):
    assert fine_size(*hw) == out


def test_eigen_coarse_map_sizes_match_eigen_fig1():
    model = create("eigen").eval()
    sizes = []
    x = torch.rand(1, 3, 228, 304)
    for layer in model.coarse.features:
        x = layer(x)
        if isinstance(layer, torch.nn.MaxPool2d) or layer is model.coarse.features[-1]:
            sizes.append(tuple(x.shape[-2:]))
    assert sizes == [(27, 37), (13, 18), (6, 8)]


@pytest.mark.parametrize("name", ["eigen", "eigen_modified"])
def test_paper_input_gives_55x74_log_depth(name):
    torch.manual_seed(0)
    model = create(name).eval()
    assert model.meta.output == "log" and model.meta.input_size == (228, 304)
    with torch.no_grad():
        y = model(torch.rand(1, 3, 228, 304))
        model.set_stage("coarse")
        c = model(torch.rand(1, 3, 228, 304))
    assert y.shape == c.shape == (1, 1, 55, 74)
    d = torch.tensor([[[[2.0]]]])
    assert torch.allclose(from_metres(to_metres(d.log(), model.meta), model.meta), d.log())


@pytest.mark.parametrize("name", ["eigen", "eigen_modified"])
def test_forward_backward_odd_size(name):
    torch.manual_seed(1)
    model = create(name, **SMALL)
    x = torch.rand(1, 3, 97, 131)
    y = model(x)
    assert y.shape == (1, 1, *fine_size(97, 131)) == (1, 1, 22, 31)
    y.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_stage_switching_returns_the_coarse_map():
    torch.manual_seed(2)
    model = create("eigen", **SMALL).eval()
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        model.set_stage("coarse")
        coarse = model(x)
        direct = model.coarse(model.normalize(x))
        model.set_stage("fine")
        full = model(x)
        by_hand = model.fine(model.normalize(x), direct)
    assert coarse.shape == full.shape == (2, 1, 14, 22)
    assert torch.equal(coarse, direct)  # input at the coarse stack's size: no resize
    assert torch.equal(full, by_hand)
    assert not torch.allclose(coarse, full)
    with pytest.raises(ValueError, match="unknown stage"):
        model.set_stage("medium")


def test_other_input_sizes_resize_coarse_input_and_output():
    torch.manual_seed(3)
    model = create("eigen", **SMALL).eval()
    x = torch.rand(1, 3, 97, 131)
    xn = model.normalize(x)
    with torch.no_grad():
        model.set_stage("coarse")
        coarse = model(x)
        small = model.coarse(F.interpolate(xn, size=(64, 96), mode="bilinear", align_corners=False))
    expected = F.interpolate(small, size=(22, 31), mode="bilinear", align_corners=False)
    assert torch.allclose(coarse, expected, atol=1e-6)


def test_two_stage_training_freezes_the_coarse_stack():
    torch.manual_seed(4)
    model = create("eigen_modified", **SMALL)
    x = torch.rand(2, 3, 64, 96)
    # Stage 1: coarse alone; the fine stack takes no part.
    model.set_stage("coarse")
    model(x).mean().backward()
    assert all(p.grad is not None for p in model.parts()["coarse"].parameters())
    assert all(p.grad is None for p in model.parts()["fine"].parameters())
    # Stage 2: coarse frozen, as the trainer does through parts().
    model.zero_grad(set_to_none=True)
    for p in model.parts()["coarse"].parameters():
        p.requires_grad_(False)
    model.parts()["coarse"].eval()
    before = {k: v.clone() for k, v in model.parts()["coarse"].state_dict().items()}
    model.set_stage("fine")
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(x).mean().backward()
    assert all(p.grad is None for p in model.parts()["coarse"].parameters())
    assert all(p.grad is not None for p in model.parts()["fine"].parameters())
    opt.step()
    after = model.parts()["coarse"].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_eigen_save_load_round_trip(tmp_path):
    torch.manual_seed(5)
    model = create("eigen_modified", fine_layers=2, **SMALL).eval()
    save_model(model, tmp_path / "e.pt")
    back = load_model(tmp_path / "e.pt")
    x = torch.rand(1, 3, 70, 100)
    with torch.no_grad():
        assert torch.equal(model(x), back(x))
    assert back.meta.output == "log"


def test_alexnet_depth_shapes_and_pretrained_path(tmp_path):
    torch.manual_seed(6)
    ref = alexnet()
    path = tmp_path / "alexnet.pth"
    torch.save(ref.state_dict(), path)
    model = create("alexnet_depth", pretrained=str(path))
    sd, rsd = model.backbone.state_dict(), ref.state_dict()
    for k in rsd:
        if k.startswith("classifier.6"):
            assert sd[k].shape[0] == 55 * 74  # the new depth layer
        else:
            assert torch.equal(sd[k], rsd[k]), k
    y = model(torch.rand(1, 3, 97, 131))
    assert y.shape == (1, 1, 55, 74) and model.meta.output_scale is None
    y.mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    # 61,100,840 AlexNet parameters, with FC8 (4096x1000) replaced by 4096 x 4070.
    assert n_params(model) == 61_100_840 - fc(4096, 1000) + fc(4096, 55 * 74)


def test_resnet18_depth_shapes_and_pretrained_path(tmp_path):
    torch.manual_seed(7)
    ref = resnet18()
    path = tmp_path / "r18.pth"
    torch.save(ref.state_dict(), path)
    model = create("resnet18_depth", pretrained=str(path))
    sd = model.backbone.state_dict()
    assert all(torch.equal(sd[k], v) for k, v in ref.state_dict().items() if not k.startswith("fc."))
    for hw, out in [((97, 131), (25, 33)), ((228, 304), (57, 76)), ((64, 64), (16, 16))]:
        y = model(torch.rand(1, 3, *hw))
        assert y.shape == (1, 1, *out)
    y.mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.meta.output == "log" and model.meta.output_scale == 0.25
    # ResNet-18 trunk (11,176,512) + head: 3 conv-BN blocks 512-256-128-64 + 3x3 conv to 1.
    head = sum(a * b * 9 + 2 * b for a, b in ((512, 256), (256, 128), (128, 64))) + conv(64, 1, 3)
    assert n_params(model) == 11_176_512 + head


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="fine_layers"):
        create("eigen_modified", fine_layers=4)
    with pytest.raises(ValueError, match="input_size"):
        create("eigen", input_size=(16, 16))


def test_resnet18_depth_onnx_crop_at_odd_size(tmp_path):
    """The ceil(H/4) crop survives ONNX tracing (integer division there truncates toward zero)."""
    import numpy as np
    import onnxruntime as ort

    from rgb2depth.export.formats import export_onnx

    torch.manual_seed(8)
    model = create("resnet18_depth").eval()
    path = export_onnx(model, tmp_path / "r.onnx", size=(37, 45))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.rand(1, 3, 37, 45)
    (y,) = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        ref = model(x).numpy()
    assert y.shape == ref.shape == (1, 1, 10, 12)
    assert np.abs(y - ref).max() < 1e-4
