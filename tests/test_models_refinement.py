"""Paper 002 networks: shapes, [0,1] outputs, internal resolutions, grayscale, parameter counts, files."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rgb2depth.models import create, to_metres
from rgb2depth.models.io import load_model, save_model

VARIANTS = ["ah", "c", "sc", "scrx", "scrxu", "scrdu"]


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def conv(cin, cout, k=3):
    return cin * cout * k * k + cout


def res(cin, cout):
    return conv(cin, cout) + conv(cout, cout) + (0 if cin == cout else conv(cin, cout, 1))


def hand_count(variant: str, d: int) -> int:
    """Parameters from the documented layer list (module docstring), counted independently."""
    w = (32, 64, 128, 256)
    chans = list(zip((d, *w[:-1]), w, strict=True))
    if variant == "ah":
        body = sum(conv(a, b) + 2 * conv(b, b) for a, b in chans)
    elif variant == "c":
        body = sum(conv(a, b) for a, b in chans)
    else:
        body = sum(res(a, b) for a, b in chans)
    total = body + conv(256, 1)
    r = 64
    xu = conv(d, r) + conv(r, r) + conv(r + 1, 1)
    up_body = (1 * r * 9 + r) + 2 * res(r, r)  # transposed 3x3 (1 -> 64) + two residual blocks
    if variant == "scrx":
        total += xu
    elif variant == "scrxu":
        total += xu + up_body + conv(r, 1)
    elif variant == "scrdu":
        total += up_body + conv(r, r) + conv(d, r) + conv(r, r) + conv(2 * r + 1, 1)
    return total


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("in_channels", [1, 3])
def test_parameter_counts_match_the_documented_layers(variant, in_channels):
    model = create(variant, in_channels=in_channels)
    assert n_params(model) == hand_count(variant, in_channels)


@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_backward_odd_size_in_unit_range(variant):
    torch.manual_seed(0)
    model = create(variant)
    x = torch.rand(2, 3, 97, 131)
    y = model(x)
    assert y.shape == (2, 1, 97, 131)
    yd = y.detach()
    assert float(yd.min()) > 0.0 and float(yd.max()) < 1.0  # sigmoid outputs
    y.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.meta.output == "normalized" and model.meta.output_scale == 1.0


@pytest.mark.parametrize("variant", VARIANTS)
def test_grayscale_kitti_size(variant):
    torch.manual_seed(1)
    model = create(variant, in_channels=1, max_depth=80.0, input_size=(37, 147)).eval()
    with torch.no_grad():
        y = model(torch.rand(1, 1, 37, 147))
    assert y.shape == (1, 1, 37, 147)
    assert model.meta.in_channels == 1 and len(model.meta.mean) == 1 and model.meta.input_size == (37, 147)
    assert torch.allclose(to_metres(torch.full((1,), 0.5), model.meta), torch.tensor([40.0]))
    with pytest.raises(ValueError, match="1-channel"):
        model(torch.rand(1, 3, 37, 147))


@pytest.mark.parametrize(("variant", "scale"), [("ah", 4), ("c", 4), ("sc", 4), ("scrx", 4), ("scrxu", 2), ("scrdu", 2)])
def test_last_map_resolution_and_bilinear_output(variant, scale):
    """The final map is at 1/4 (no upsampling region) or 1/2; the output is its bilinear resize."""
    torch.manual_seed(2)
    model = create(variant).eval()
    maps = []
    last = [m for m in model.modules() if isinstance(m, torch.nn.Sigmoid)][-1]
    last.register_forward_hook(lambda mod, inp, out: maps.append(out.detach().clone()))
    x = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        y = model(x)
    (m,) = maps
    assert m.shape == (1, 1, 96 // scale, 128 // scale)
    assert torch.allclose(y, F.interpolate(m, size=(96, 128), mode="bilinear", align_corners=False), atol=1e-6)


def test_refinement_uses_the_image_and_the_coarse_map():
    """SCRX's output depends on Region A's map and on the image through the Xu branch."""
    torch.manual_seed(3)
    model = create("scrx").eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        w = model.refine.out[0].weight
        saved = w.clone()
        w[:, -1].zero_()  # cut the coarse map's input to the output conv
        no_coarse = model(x)
        w.copy_(saved)
        w[:, :-1].zero_()  # cut the image features
        no_image = model(x)
    assert not torch.allclose(ref, no_coarse) and not torch.allclose(ref, no_image)


def test_bad_options():
    with pytest.raises(ValueError, match="in_channels"):
        create("sc", in_channels=2)


@pytest.mark.parametrize("variant", ["scrxu", "scrdu"])
def test_save_load_round_trip(tmp_path, variant):
    torch.manual_seed(4)
    model = create(variant, in_channels=1, max_depth=80.0).eval()
    save_model(model, tmp_path / "m.pt")
    back = load_model(tmp_path / "m.pt")
    x = torch.rand(1, 1, 37, 147)
    with torch.no_grad():
        assert torch.equal(model(x), back(x))
    assert back.meta.max_depth == 80.0 and back.meta.in_channels == 1
