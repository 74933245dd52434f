"""The gradient-matching loss against hand-computed values, and its invariances."""

from __future__ import annotations

import math

import pytest
import torch

from rgb2depth import losses


def test_gradient_loss_hand_computed_one_scale():
    # residual R = log p - log y; y = 1 everywhere so R = log p
    p = torch.tensor([[[1.0, math.e, math.e**3], [math.e, math.e, 1.0]]])
    y = torch.ones_like(p)
    # R = [[0, 1, 3], [1, 1, 0]]: |dx| = 1 + 2 + 0 + 1 = 4, |dy| = 1 + 0 + 3 = 4; 6 valid pixels
    loss = losses.create("gradient", scales=1)(p, y)
    assert loss.item() == pytest.approx(8 / 6, rel=1e-6)
    # an invalid pixel drops every pair it belongs to and itself from the count
    valid = torch.ones_like(p, dtype=torch.bool)
    valid[0, 0, 2] = False  # the R=3 pixel: its x pair (1,3) and y pair (3,0) go: |dx| 1+0+1, |dy| 1+0
    assert losses.create("gradient", scales=1)(p, y, valid).item() == pytest.approx(3 / 5, rel=1e-6)


def test_gradient_loss_second_scale_subsamples():
    torch.manual_seed(0)
    p = torch.rand(1, 1, 4, 4) + 0.5
    y = torch.rand(1, 1, 4, 4) + 0.5
    r = (p.log() - y.log())[0, 0]
    s0 = ((r[:, 1:] - r[:, :-1]).abs().sum() + (r[1:] - r[:-1]).abs().sum()) / 16
    q = r[::2, ::2]
    s1 = ((q[:, 1:] - q[:, :-1]).abs().sum() + (q[1:] - q[:-1]).abs().sum()) / 4
    got = losses.create("gradient", scales=2)(p, y)
    assert got.item() == pytest.approx(((s0 + s1) / 2).item(), rel=1e-5)


def test_gradient_loss_scale_invariant_and_log_input_agrees():
    torch.manual_seed(1)
    p = torch.rand(2, 1, 16, 20) * 3 + 0.5
    y = torch.rand(2, 1, 16, 20) * 3 + 0.5
    y[0, 0, :3] = 0.0  # zeros in the target are invalid pixels, not log(0)
    g = losses.create("gradient")
    a = g(p, y)
    assert torch.isfinite(a) and a.item() > 0
    assert g(p * 7.5, y).item() == pytest.approx(a.item(), rel=1e-5)
    valid = y > 0
    b = losses.create("gradient", log_input=True)(p.log(), y.clamp(min=1e-3).log(), valid)
    assert b.item() == pytest.approx(a.item(), rel=1e-5)
    assert g(y, y).item() == 0.0


def test_gradient_loss_gradient_is_finite_with_nan_targets():
    p = torch.full((1, 1, 8, 8), 2.0, requires_grad=True)
    y = torch.full((1, 1, 8, 8), float("nan"))
    y[0, 0, 2:6, 2:6] = torch.linspace(1, 3, 16).view(4, 4)
    loss = losses.create("gradient")(p, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(p.grad).all()
    assert (p.grad[0, 0, :2] == 0).all()  # pixels of invalid targets get no gradient
