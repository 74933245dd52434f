"""Backbones: torchvision-identical state_dict layout, pretrained loading, feature extraction.

torchvision is not a dependency; the expected layouts below are written out independently
from torchvision's published architectures (key names, shapes, counts), and a synthetic
state_dict with exactly those names/shapes must load strictly through ``pretrained=<path>``.
"""

from __future__ import annotations

import pytest
import torch

from rgb2depth.models.backbones import alexnet, resnet18, resnet50, vgg16


def _bn(prefix: str, c: int) -> dict[str, tuple[int, ...]]:
    return {
        f"{prefix}.weight": (c,),
        f"{prefix}.bias": (c,),
        f"{prefix}.running_mean": (c,),
        f"{prefix}.running_var": (c,),
        f"{prefix}.num_batches_tracked": (),
    }


def torchvision_resnet_layout(depth: int) -> dict[str, tuple[int, ...]]:
    """Key -> shape of torchvision's resnet18 / resnet50 state_dict, written from its definition."""
    bottleneck = depth == 50
    blocks = (2, 2, 2, 2) if depth == 18 else (3, 4, 6, 3)
    exp = 4 if bottleneck else 1
    d: dict[str, tuple[int, ...]] = {"conv1.weight": (64, 3, 7, 7), **_bn("bn1", 64)}
    cin = 64
    for li, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks, strict=True), start=1):
        for b in range(n):
            p = f"layer{li}.{b}"
            if bottleneck:
                d[f"{p}.conv1.weight"] = (planes, cin, 1, 1)
                d.update(_bn(f"{p}.bn1", planes))
                d[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                d.update(_bn(f"{p}.bn2", planes))
                d[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
                d.update(_bn(f"{p}.bn3", planes * 4))
            else:
                d[f"{p}.conv1.weight"] = (planes, cin, 3, 3)
                d.update(_bn(f"{p}.bn1", planes))
                d[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                d.update(_bn(f"{p}.bn2", planes))
            if b == 0 and (li > 1 or bottleneck):
                d[f"{p}.downsample.0.weight"] = (planes * exp, cin, 1, 1)
                d.update(_bn(f"{p}.downsample.1", planes * exp))
            cin = planes * exp
    d["fc.weight"] = (1000, cin)
    d["fc.bias"] = (1000,)
    return d


ALEXNET_LAYOUT = {
    "features.0.weight": (64, 3, 11, 11), "features.0.bias": (64,),
    "features.3.weight": (192, 64, 5, 5), "features.3.bias": (192,),
    "features.6.weight": (384, 192, 3, 3), "features.6.bias": (384,),
    "features.8.weight": (256, 384, 3, 3), "features.8.bias": (256,),
    "features.10.weight": (256, 256, 3, 3), "features.10.bias": (256,),
    "classifier.1.weight": (4096, 9216), "classifier.1.bias": (4096,),
    "classifier.4.weight": (4096, 4096), "classifier.4.bias": (4096,),
    "classifier.6.weight": (1000, 4096), "classifier.6.bias": (1000,),
}  # fmt: skip


def torchvision_vgg16_layout() -> dict[str, tuple[int, ...]]:
    convs = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256),
             (14, 256, 256), (17, 256, 512), (19, 512, 512), (21, 512, 512), (24, 512, 512),
             (26, 512, 512), (28, 512, 512)]  # fmt: skip
    d: dict[str, tuple[int, ...]] = {}
    for i, cin, cout in convs:
        d[f"features.{i}.weight"] = (cout, cin, 3, 3)
        d[f"features.{i}.bias"] = (cout,)
    for i, cin, cout in [(0, 25088, 4096), (3, 4096, 4096), (6, 4096, 1000)]:
        d[f"classifier.{i}.weight"] = (cout, cin)
        d[f"classifier.{i}.bias"] = (cout,)
    return d


CASES = {
    # name: (constructor, expected layout, state_dict entries, parameters)
    "resnet18": (resnet18, lambda: torchvision_resnet_layout(18), 122, 11_689_512),
    "resnet50": (resnet50, lambda: torchvision_resnet_layout(50), 320, 25_557_032),
    "alexnet": (alexnet, lambda: dict(ALEXNET_LAYOUT), 16, 61_100_840),
    "vgg16": (vgg16, torchvision_vgg16_layout, 32, 138_357_544),
}


def _shapes(sd) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in sd.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_layout_matches_torchvision(name):
    ctor, layout, n_entries, n_params = CASES[name]
    with torch.device("meta"):
        model = ctor()
    expected = layout()
    assert len(expected) == n_entries
    assert _shapes(model.state_dict()) == expected
    assert list(model.state_dict()) == list(expected)  # same order as torchvision too
    assert sum(p.numel() for p in model.parameters()) == n_params


def test_specific_keys():
    with torch.device("meta"):
        sd50 = resnet50().state_dict()
        sd18 = resnet18().state_dict()
    assert tuple(sd50["layer4.2.conv3.weight"].shape) == (2048, 512, 1, 1)
    assert tuple(sd50["fc.weight"].shape) == (1000, 2048)
    assert tuple(sd50["layer1.0.downsample.0.weight"].shape) == (256, 64, 1, 1)
    assert tuple(sd18["layer2.0.downsample.1.running_var"].shape) == (128,)
    assert "layer1.0.downsample.0.weight" not in sd18
    assert tuple(sd18["fc.weight"].shape) == (1000, 512)


@pytest.mark.parametrize("name", ["resnet18", "alexnet"])
def test_pretrained_path_loads_strict(name, tmp_path):
    ctor, layout, _, _ = CASES[name]
    g = torch.Generator().manual_seed(0)
    state = {}
    for k, shape in layout().items():
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(7, dtype=torch.long)
        else:
            state[k] = torch.randn(shape, generator=g)
    path = tmp_path / f"{name}.pth"
    torch.save(state, path)
    model = ctor(pretrained=path)
    got = model.state_dict()
    for k, v in state.items():
        assert torch.equal(got[k], v), k
    # Headless backbone: the head's keys are skipped, everything else loads.
    headless = ctor(pretrained=str(path), include_top=False)
    assert not any(k.startswith(("fc.", "classifier.")) for k in headless.state_dict())
    for k, v in headless.state_dict().items():
        assert torch.equal(v, state[k])


def test_pretrained_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        resnet18(pretrained=tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    sd = resnet18().state_dict()
    sd["extra.weight"] = torch.zeros(1)
    torch.save(sd, bad)
    with pytest.raises(ValueError, match=r"bad\.pth.*unexpected \['extra.weight'\]"):
        resnet18(pretrained=bad)
    wrong = tmp_path / "wrong.pth"
    sd = resnet18().state_dict()
    sd["fc.weight"] = torch.zeros(10, 512)
    torch.save(sd, wrong)
    with pytest.raises(ValueError, match=r"wrong\.pth: shape mismatch for fc.weight"):
        resnet18(pretrained=wrong)


@pytest.mark.parametrize(
    "name,size,shapes",
    [
        ("resnet18", (64, 96), [(64, 32, 48), (64, 16, 24), (128, 8, 12), (256, 4, 6), (512, 2, 3)]),
        ("resnet50", (64, 64), [(64, 32, 32), (256, 16, 16), (512, 8, 8), (1024, 4, 4), (2048, 2, 2)]),
        ("vgg16", (64, 64), [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 2, 2)]),
        # AlexNet: conv1 11x11/4 pad 2: (227+4-11)/4+1 = 56; pool 3/2 -> 27; conv5 at 13; pool5 6.
        ("alexnet", (227, 227), [(64, 56, 56), (192, 27, 27), (256, 13, 13), (256, 6, 6)]),
    ],
)
def test_forward_features_stages(name, size, shapes):
    torch.manual_seed(0)
    model = CASES[name][0](include_top=False).eval()
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        stages = model.forward_features(x, return_stages=True)
        last = model.forward_features(x)
    assert [tuple(s.shape[1:]) for s in stages] == shapes
    assert [s.shape[1] for s in stages] == list(model.stage_channels)
    assert torch.equal(stages[-1], last)
    with pytest.raises(RuntimeError, match="include_top=False"):
        model(x)


def test_resnet18_classifier_forward_matches_manual():
    torch.manual_seed(0)
    m = resnet18().eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        feats = m.forward_features(x)
        ref = feats.mean((2, 3)) @ m.fc.weight.T + m.fc.bias
        out = m(x)
    assert out.shape == (2, 1000)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
