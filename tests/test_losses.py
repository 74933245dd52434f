"""Losses: hand-computed values, invariances, masking, NaN safety, gradients, registry."""

from __future__ import annotations

import math

import pytest
import torch
from kornia.losses import ssim_loss as kornia_ssim_loss

from rgb2depth import losses
from rgb2depth.losses import (
    BerHuLoss,
    CombinedLoss,
    EdgeLoss,
    L1Loss,
    L2Loss,
    MSELoss,
    ScaleInvariantLoss,
    SSIMLoss,
)

# float(loss) on a graph-connected scalar is what the tests mean to do
pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")

ALL = [
    ("l1", {}),
    ("l2", {}),
    ("l2", {"normalize": "pixels"}),
    ("mse", {}),
    ("ssim", {}),
    ("edge", {}),
    ("edge", {"channels": "mean"}),
    ("combined", {}),
    ("silog", {}),
    ("silog", {"lam": 1.0}),
    ("silog", {"log_input": True}),
    ("silog_sqrt", {}),
    ("berhu", {}),
    ("berhu", {"c_scope": "image"}),
    ("weighted", {"terms": [{"name": "l1", "weight": 2.0}, {"name": "berhu", "weight": 0.5}]}),
]


def batch(seed=0, n=2, h=16, w=20, frac_invalid=0.3):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(n, 1, h, w, generator=g, dtype=torch.float64) * 4 + 0.5
    pred = (target * (0.6 + 0.8 * torch.rand(n, 1, h, w, generator=g, dtype=torch.float64))).requires_grad_()
    valid = torch.rand(n, 1, h, w, generator=g) > frac_invalid
    rgb = torch.rand(n, 3, h, w, generator=g, dtype=torch.float64)
    return pred, target, valid, rgb


# ----------------------------------------------------------------------------- hand-computed

P = torch.tensor([[[[1.0, 2.0], [3.0, 7.0]]]], dtype=torch.float64)
T = torch.tensor([[[[1.5, 2.0], [1.0, 0.0]]]], dtype=torch.float64)
V = torch.tensor([[[[True, True], [True, False]]]])  # the 0 m target is invalid


def test_l1_l2_mse_hand_computed():
    assert float(L1Loss()(P, T, V)) == pytest.approx((0.5 + 0 + 2) / 3)
    assert float(MSELoss()(P, T, V)) == pytest.approx((0.25 + 0 + 4) / 3)
    # paper 002 eq. 1: 1/(2n) sum_i ||y(i) - y'(i)||^2, n = images in the batch
    assert float(L2Loss()(P, T, V)) == pytest.approx((0.25 + 0 + 4) / 2)
    two = torch.cat([P, 2 * P]), torch.cat([T, T]), torch.cat([V, V])
    sq2 = (0.25 + 0 + 4) + (0.5**2 + 2**2 + 5**2)  # second image: pred 2, 4, 6 vs 1.5, 2, 1
    assert float(L2Loss()(*two)) == pytest.approx(sq2 / (2 * 2))
    assert float(L2Loss(normalize="pixels")(*two)) == pytest.approx(sq2 / (2 * 6))


def test_berhu_hand_computed_and_piecewise():
    # residuals |x| = 0.5, 0, 2 -> c = 0.2 * 2 = 0.4; 0.5 > c and 2 > c
    c = 0.4
    want = ((0.25 + c * c) / (2 * c) + 0 + (4 + c * c) / (2 * c)) / 3
    assert float(BerHuLoss()(P, T, V)) == pytest.approx(want)
    # piecewise on a spread of residuals: L1 below c, (x^2 + c^2) / (2c) above. A second pixel
    # with residual 5 fixes c = 0.2 * 5 = 1; its own term is (25 + 1) / 2 = 13.
    c = 1.0
    for xi in torch.linspace(-5, 5, 41, dtype=torch.float64).tolist():
        p = torch.tensor([[[[xi, 5.0]]]], dtype=torch.float64)
        b = 2 * float(BerHuLoss()(p, torch.zeros_like(p))) - 13.0
        want = abs(xi) if abs(xi) <= c else (xi * xi + c * c) / (2 * c)
        assert b == pytest.approx(want, abs=1e-12)
    # continuity at |x| = c: both branches give c
    p = torch.tensor([[[[1.0, 5.0]]]], dtype=torch.float64)
    assert 2 * float(BerHuLoss()(p, torch.zeros_like(p))) - 13.0 == pytest.approx(1.0)
    # residuals {0.3, 1, 3}, max 3 -> c = 0.6
    p = torch.tensor([[[[10.3, 11.0, 13.0]]]], dtype=torch.float64)
    want = (0.3 + (1 + 0.36) / 1.2 + (9 + 0.36) / 1.2) / 3
    assert float(BerHuLoss()(p, torch.full_like(p, 10.0))) == pytest.approx(want)


def test_berhu_is_l1_when_all_below_c_and_c_never_zero():
    p, t, v, _ = batch(1)
    # c_factor 1: c = max |x| so every residual is <= c -> exactly L1
    assert float(BerHuLoss(c_factor=1.0)(p, t, v)) == pytest.approx(float(L1Loss()(p, t, v)), rel=1e-12)
    # a perfect prediction: c floors at c_min, loss 0, gradient finite
    q = t.clone().requires_grad_()
    val = BerHuLoss()(q, t, v)
    val.backward()
    assert float(val) == 0.0 and torch.isfinite(q.grad).all()


def test_berhu_per_image_threshold():
    # image 0 residuals {1, 10} (c = 2); image 1 residuals {0.1, 0.5} (c = 0.1)
    p = torch.tensor([[[[1.0, 10.0]]], [[[0.1, 0.5]]]], dtype=torch.float64)
    t = torch.zeros_like(p)
    img0 = (1.0 + (100 + 4) / 4) / 2
    img1 = (0.1 + (0.25 + 0.01) / 0.2) / 2
    assert float(BerHuLoss(c_scope="image")(p, t)) == pytest.approx((img0 + img1) / 2)
    # batch scope: one c = 2 for all four residuals
    want = (1.0 + (100 + 4) / 4 + 0.1 + 0.5) / 4
    assert float(BerHuLoss()(p, t)) == pytest.approx(want)


def test_scale_invariant_hand_computed():
    # log-input: d = {0.5, -0.5, 1.0} on image 0
    p = torch.tensor([[[[1.5, 0.5, 3.0, 9.0]]]], dtype=torch.float64)
    t = torch.tensor([[[[1.0, 1.0, 2.0, float("nan")]]]], dtype=torch.float64)
    d = [0.5, -0.5, 1.0]
    for lam in (0.0, 0.5, 1.0):
        want = sum(x * x for x in d) / 3 - lam / 9 * sum(d) ** 2
        got = ScaleInvariantLoss(lam=lam, log_input=True)(p, t)
        assert float(got) == pytest.approx(want)
    # depth input takes the log: same value with exp of the log values
    got = ScaleInvariantLoss(lam=0.5)(p.exp(), t.exp())
    assert float(got) == pytest.approx(sum(x * x for x in d) / 3 - 0.5 / 9 * sum(d) ** 2)
    # sqrt form (BTS/AdaBins): alpha * sqrt(mean d^2 - lam mean(d)^2)
    got = ScaleInvariantLoss(form="sqrt", log_input=True)(p, t)
    assert float(got) == pytest.approx(10 * math.sqrt(sum(x * x for x in d) / 3 - 0.85 * (sum(d) / 3) ** 2))


def test_scale_invariant_invariance_and_per_image_average():
    p, t, v, _ = batch(2)
    si = ScaleInvariantLoss(lam=1.0)
    base = float(si(p, t, v))
    assert float(si(p * 3.7, t, v)) == pytest.approx(base, rel=1e-9)
    # per image: each image may take its own scale
    k = torch.tensor([0.5, 4.0], dtype=torch.float64).view(2, 1, 1, 1)
    assert float(si(p * k, t, v)) == pytest.approx(base, rel=1e-9)
    assert float(ScaleInvariantLoss(lam=1.0, form="sqrt")(p * 2, t, v)) == pytest.approx(
        float(ScaleInvariantLoss(lam=1.0, form="sqrt")(p, t, v)), rel=1e-9)
    # lambda 0.5 is not invariant; lambda 0 is the log L2
    assert float(ScaleInvariantLoss()(p * 3.7, t, v)) != pytest.approx(float(ScaleInvariantLoss()(p, t, v)))
    d = (p.log() - t.log())
    per = [float((d[i][v[i]] ** 2).mean()) for i in range(2)]
    assert float(ScaleInvariantLoss(lam=0.0)(p, t, v)) == pytest.approx(sum(per) / 2)
    # log_input on log values == depth input on depths
    a = ScaleInvariantLoss(log_input=True)(p.log(), t.log(), v)
    assert float(a) == pytest.approx(float(ScaleInvariantLoss()(p, t, v)), rel=1e-12)


def test_ssim_loss_against_kornia_and_identity():
    p, t, v, _ = batch(3)
    all_valid = torch.ones_like(v)
    # all pixels valid: our mean(1 - SSIM) = 2 * kornia's ssim_loss ((1 - SSIM) / 2)
    ours = SSIMLoss(max_val=5.0)(p, t, all_valid)
    ref = 2 * kornia_ssim_loss(p.detach(), t, 11, max_val=5.0)
    assert float(ours) == pytest.approx(float(ref), rel=1e-9)
    assert float(SSIMLoss()(t.clone(), t, v)) == pytest.approx(0.0, abs=1e-9)


def test_edge_loss_hand_computed_ramp():
    h, w, a = 8, 10, 0.3
    ramp = (torch.arange(w, dtype=torch.float64) * a / w).expand(1, 3, h, w).clone()
    slope = a / w
    pred = torch.full((1, 1, h, w), 2.0, dtype=torch.float64)
    target = torch.full((1, 1, h, w), 1.5, dtype=torch.float64)
    valid = torch.zeros(1, 1, h, w, dtype=torch.bool)
    valid[..., 1:-1, 1:-1] = True  # interior: normalised Sobel of a ramp is its slope exactly
    got = EdgeLoss()(pred, target, valid, ramp)
    assert float(got) == pytest.approx((1 - math.exp(-slope)) * 0.5, rel=1e-6)
    # flat image: no edge, no loss; vertical ramp: same value through g_y
    assert float(EdgeLoss()(pred, target, valid, torch.full_like(ramp, 0.4))) == 0.0
    vert = (torch.arange(h, dtype=torch.float64) * slope).view(1, 1, h, 1).expand(1, 3, h, w)
    assert float(EdgeLoss()(pred, target, valid, vert)) == pytest.approx(float(got), rel=1e-6)
    with pytest.raises(ValueError, match="needs the RGB image"):
        EdgeLoss()(pred, target, valid)
    with pytest.raises(ValueError, match="needs the RGB image"):
        CombinedLoss()(pred, target, valid)


@pytest.mark.parametrize("channels", ["gray", "mean"])
def test_edge_loss_resizes_rgb_to_the_depth_size(channels):
    """An RGB image 3x taller and 2x wider than the depth: the loss resizes it to the depth's
    size first. The image is the plane a*X + b*Y (slopes per pixel of the big image, every
    channel alike); resized to the depth's grid its slopes become 2a and 3b per depth pixel, so
    away from the borders the weight is (1 - exp(-2a)) + (1 - exp(-3b)) exactly. A wrong resize
    (none, a crop, the factors swapped) gives other slopes."""
    h, w, a, b = 12, 16, 0.01, 0.008
    yy, xx = torch.meshgrid(torch.arange(3 * h, dtype=torch.float64), torch.arange(2 * w, dtype=torch.float64),
                            indexing="ij")
    big = (a * xx + b * yy).expand(2, 3, 3 * h, 2 * w).clone()
    assert float(big.max()) < 1.0
    pred = torch.full((2, 1, h, w), 2.0, dtype=torch.float64)
    target = torch.full((2, 1, h, w), 1.5, dtype=torch.float64)
    valid = torch.zeros(2, 1, h, w, dtype=torch.bool)
    valid[..., 2:-2, 2:-2] = True  # beyond the resize's and the Sobel's border effects
    got = EdgeLoss(channels=channels)(pred, target, valid, big)
    want = ((1 - math.exp(-2 * a)) + (1 - math.exp(-3 * b))) * 0.5
    assert float(got) == pytest.approx(want, rel=1e-9)
    swapped = ((1 - math.exp(-3 * a)) + (1 - math.exp(-2 * b))) * 0.5
    assert abs(want - swapped) > 1e-4 and abs(want - ((1 - math.exp(-a)) + (1 - math.exp(-b))) * 0.5) > 1e-3


def test_combined_is_normalised_weighted_sum():
    p, t, v, rgb = batch(5)
    c = CombinedLoss()
    got = float(c(p, t, v, rgb))
    l1 = float(L1Loss()(p, t, v))
    s = float(SSIMLoss()(p, t, v))
    e = float(EdgeLoss()(p, t, v, rgb))
    assert got == pytest.approx(2 / 8 * l1 + 1 / 8 * s + 5 / 8 * e, rel=1e-9)
    assert c.last_terms["l1"] == pytest.approx(l1)
    got = float(CombinedLoss(alpha=1, beta=1, gamma=0)(p, t, v))  # no rgb needed
    assert got == pytest.approx(0.5 * l1 + 0.5 * s, rel=1e-9)


# ----------------------------------------------------------------------------- masking, NaN, grads


@pytest.mark.parametrize("name,kw", ALL)
def test_masked_pixels_do_not_change_value(name, kw):
    p, t, v, rgb = batch(6)
    if kw.get("log_input"):
        p, t = p.detach().log().requires_grad_(), t.log()
    loss = losses.create(name, **kw)
    base = float(loss(p, t, v, rgb))
    g = torch.Generator().manual_seed(9)
    p2 = torch.where(v, p.detach(), torch.rand(p.shape, generator=g, dtype=p.dtype) * 50)
    t2 = torch.where(v, t, torch.rand(t.shape, generator=g, dtype=t.dtype) * 50 - 10)
    assert float(loss(p2, t2, v, rgb)) == pytest.approx(base, rel=1e-10, abs=1e-12)
    # and a valid pixel does change it
    p3 = p.detach().clone()
    p3[v.nonzero()[0].unbind()] += 0.7
    assert float(loss(p3, t, v, rgb)) != pytest.approx(base, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("name,kw", ALL)
def test_nan_targets_give_finite_loss_and_grads(name, kw):
    p, t, v, rgb = batch(7)
    if kw.get("log_input"):
        p, t = p.detach().log().requires_grad_(), t.log()
    t = t.clone()
    t[~v] = float("nan")
    t[0, 0, 0, :3] = float("inf")  # non-finite targets are invalid even if valid says True
    loss = losses.create(name, **kw)
    val = loss(p, t, v, rgb)
    val.backward()
    assert torch.isfinite(val) and val.dim() == 0
    assert torch.isfinite(p.grad).all()
    invalid = ~v | ~torch.isfinite(t)
    assert float(p.grad[invalid].abs().max()) == 0.0
    assert bool((p.grad[~invalid] != 0).any())
    assert float((p.grad[~invalid] != 0).double().mean()) > 0.9


@pytest.mark.parametrize("name,kw", ALL)
def test_zeros_in_target_and_no_mask(name, kw):
    """``valid=None`` with 0 m targets (the datasets' "no depth" marker): the losses that take
    the target's logarithm leave them out exactly as if masked (same value as with the mask
    ``target > 0`` given, no gradient there, their prediction irrelevant); the others score
    them as targets of 0 m (same value as with an all-True mask). For log-depth input a 0 is
    log(1 m), a real target."""
    p, t, _, rgb = batch(8)
    t = t.clone()
    t[:, :, ::3, ::2] = 0.0
    if kw.get("log_input"):
        t = torch.where(t > 0, t.log(), torch.zeros_like(t))
    loss = losses.create(name, **kw)
    val = loss(p, t, None, rgb)
    val.backward()
    assert torch.isfinite(val) and torch.isfinite(p.grad).all()
    zero = t == 0
    masked = loss.needs_positive
    assert masked == (name in ("silog", "silog_sqrt") and not kw.get("log_input"))  # the log-of-depth losses
    explicit = ~zero if masked else torch.ones_like(zero)
    assert float(loss(p.detach(), t, explicit, rgb)) == pytest.approx(float(val), rel=1e-12, abs=1e-15)
    if masked:
        assert float(p.grad[zero].abs().max()) == 0.0
        moved = torch.where(zero, torch.full_like(p, 99.0), p.detach())
        assert float(loss(moved, t, None, rgb)) == pytest.approx(float(val), rel=1e-12)
    else:
        assert float(loss(p.detach(), t, ~zero, rgb)) != pytest.approx(float(val), rel=1e-9)


def test_zero_targets_hand_computed():
    """The two behaviours above against direct formulas: L1 over every pixel (zeros included)
    and paper 001's scale-invariant error (lambda 0.5, per image) over the non-zero targets."""
    p, t, _, _ = batch(10)
    p = p.detach()
    t = t.clone()
    t[:, :, ::3, ::2] = 0.0
    assert float(L1Loss()(p, t)) == pytest.approx(float((p - t).abs().mean()), rel=1e-12)
    per_image = []
    for i in range(p.shape[0]):
        keep = t[i] > 0
        d = (p[i][keep].log() - t[i][keep].log()).numpy()
        per_image.append((d**2).mean() - 0.5 * d.mean() ** 2)
    assert float(ScaleInvariantLoss()(p, t)) == pytest.approx(sum(per_image) / len(per_image), rel=1e-10)


@pytest.mark.parametrize("name,kw", ALL)
def test_all_invalid_is_zero_with_zero_grad(name, kw):
    p, t, v, rgb = batch(9)
    val = losses.create(name, **kw)(p, t, torch.zeros_like(v), rgb)
    val.backward()
    assert float(val) == 0.0 and float(p.grad.abs().max()) == 0.0


def test_three_dim_and_two_dim_inputs():
    p, t, v, rgb = batch(10, n=1)
    for name, kw in ALL:
        loss = losses.create(name, **kw)
        a = float(loss(p, t, v, rgb))
        if kw.get("log_input"):
            continue
        assert float(loss(p[:, 0], t[:, 0], v[:, 0], rgb)) == pytest.approx(a, rel=1e-10), name
        assert float(loss(p[0, 0], t[0, 0], v[0, 0], rgb[0])) == pytest.approx(a, rel=1e-10), name


# ----------------------------------------------------------------------------- registry


def test_registry_and_weighted_sum():
    assert {"l1", "l2", "mse", "ssim", "edge", "combined", "silog", "scale_invariant", "berhu",
            "silog_sqrt", "weighted"} <= set(losses.names())
    assert isinstance(losses.create("scale_invariant"), ScaleInvariantLoss)
    assert losses.create("silog").lam == 0.5
    assert losses.create("silog_sqrt").lam == 0.85
    with pytest.raises(KeyError, match="unknown loss"):
        losses.create("berhuu")
    p, t, v, rgb = batch(11)
    w = losses.create("weighted", terms=[
        {"name": "l1", "weight": 1.0},
        {"name": "ssim", "weight": 0.5, "max_val": 5.0},
        {"name": "edge", "weight": 2.0},
    ])
    want = float(L1Loss()(p, t, v)) + 0.5 * float(SSIMLoss(5.0)(p, t, v)) + 2 * float(EdgeLoss()(p, t, v, rgb))
    assert float(w(p, t, v, rgb)) == pytest.approx(want, rel=1e-10)
    assert set(w.last_terms) == {"l1", "ssim", "edge"}
    with pytest.raises(ValueError):
        losses.create("weighted", terms=[{"weight": 1.0}])
    with pytest.raises(ValueError, match="shape"):
        L1Loss()(p, t[..., :-1])
