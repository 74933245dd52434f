"""ELAS stereo (data/elas.py): its pieces on inputs whose answer is known by hand, and the whole
matcher on real Middlebury pairs against their ground truth (and against SGBM on the same pair)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require
from rgb2depth.data.elas import (
    ElasParams,
    adaptive_mean,
    descriptors,
    elas_disparity,
    fill_gaps,
    support_points,
)
from rgb2depth.data.stereo import (
    StereoConfig,
    compute_disparity,
    evaluate_disparity,
    load_benchmark_pair,
)


def _textured_pair(d=7, h=60, w=120, seed=0):
    """Random texture (2x2 blocks, so Sobel responses are not all saturated); the right view is
    the left shifted by d px: a fronto-parallel plane at disparity d."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 2 + 1, (w + d) // 2 + 1), dtype=np.uint8)
    base = np.repeat(np.repeat(base, 2, 0), 2, 1)[:h, : w + d]
    return np.ascontiguousarray(base[:, :w]), np.ascontiguousarray(base[:, d:])


def test_descriptor_of_a_ramp_by_hand():
    # I(x, y) = 3 x: 3x3 Sobel d/dx = (1 + 2 + 1) * (3 * 2) = 24, stored as 128 + 24 / 4 = 134;
    # d/dy = 0 -> 128. 12 d/dx entries then 4 d/dy entries (away from the border).
    img = np.tile((3 * np.arange(40)).astype(np.uint8), (20, 1))
    desc = descriptors(img)
    assert desc.shape == (20, 40, 16) and desc.dtype == np.uint8
    assert (desc[5:15, 5:35, :12] == 134).all() and (desc[5:15, 5:35, 12:] == 128).all()


def test_fill_gaps_by_hand():
    nan = np.nan
    d = np.array([[5, nan, nan, 6, nan, 20, nan, nan, nan, nan, 8]], np.float32)
    out = fill_gaps(d, max_gap=3)
    # gap of 2 between 5 and 6 (agree within 3 px): their mean; gap of 1 between 6 and 20: the
    # smaller (background) value; the gap of 4 is longer than max_gap: left alone
    assert out[0, :6].tolist() == [5, 5.5, 5.5, 6, 6, 20]
    assert np.isnan(out[0, 6:10]).all() and out[0, 10] == 8
    # columns too
    assert fill_gaps(d.T.copy(), max_gap=3)[:, 0].tolist()[:6] == [5, 5.5, 5.5, 6, 6, 20]


def test_adaptive_mean_keeps_edges_and_holes():
    # two flat regions 10 and 20 px (more than 4 apart: never mixed), a hole, one bump of 1 px
    d = np.full((9, 16), 10.0, np.float32)
    d[:, 8:] = 20.0
    d[4, 3] = 11.0
    d[2, 12] = np.nan
    out = adaptive_mean(d)
    assert np.isnan(out[2, 12]) and np.isfinite(out).sum() == np.isfinite(d).sum()
    assert (out[:, 8:][np.isfinite(out[:, 8:])] == 20).all()  # no bleeding across the edge
    assert 10 < out[4, 3] < 11  # the bump is pulled towards its neighbours
    assert np.allclose(out[:, :8][d[:, :8] == 10], 10, atol=0.5)


def test_support_points_on_a_plane():
    left, right = _textured_pair(d=7)
    pts = support_points(descriptors(left), descriptors(right), 0, 31, ElasParams(), 1.0)
    assert len(pts) >= 10
    assert (pts[:, 2] == 7).all()  # every unique, left-right consistent match is the true shift
    assert (pts[:, 0] % 5 == 0).all() and (pts[:, 1] % 5 == 0).all()  # on the 5 px grid


def test_dense_plane_recovered():
    left, right = _textured_pair(d=7)
    disp, raw, masks = elas_disparity(left, right, 32)
    ok = np.isfinite(disp)
    # support points lie on the 5 px grid from (15, 5) to (110, 50): their hull is matched
    assert ok[8:48, 20:105].mean() > 0.9
    assert np.abs(disp[ok] - 7).max() <= 0.5
    assert set(masks) >= {"matcher", "lr_check", "speckle"}


def test_bad_inputs_one_line_errors():
    left, right = _textured_pair()
    with pytest.raises(ValueError, match=r"one size") as e:
        elas_disparity(left, right[:, :-1], 32)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="disparities >= 0"):
        StereoConfig(method="elas", min_disparity=-4)
    with pytest.raises(ValueError, match="stereo method must be one of"):
        StereoConfig(method="elas2")


def test_elas_on_real_pair_is_accurate_and_denser_than_sgbm(shared_data):
    pair = load_benchmark_pair("middlebury2003/cones", shared_data)
    if pair is None:
        pytest.skip("Middlebury 2003 cones absent")
    L, R, G, nd = pair
    e = evaluate_disparity(compute_disparity(L, R, StereoConfig(method="elas", num_disparities=nd)).disparity, G)
    s = evaluate_disparity(compute_disparity(L, R, StereoConfig(method="sgbm", num_disparities=nd)).disparity, G)
    # measured (benchmarks/bench_stereo.py): ELAS 3.1 % bad, 80 % dense; SGBM + filters 2.5 %, 74 %
    assert e["bad"] < 0.05 and e["epe"] < 0.7
    assert e["kept"] > s["kept"] + 0.03


def test_lr_check_removes_occluded_pixels(shared_data):
    from rgb2depth.data.depth_io import read_raw

    root = require(shared_data / "middlebury" / "2014" / "trainingQ" / "Motorcycle")
    L, R, G, nd = load_benchmark_pair("middlebury2014Q/Motorcycle", shared_data)
    nocc = read_raw(root / "mask0nocc.png", np.uint8)
    occ, visible = nocc == 128, nocc == 255  # Middlebury: 128 = occluded in the right view
    on = compute_disparity(L, R, StereoConfig(method="elas", num_disparities=nd))
    off = compute_disparity(L, R, StereoConfig(method="elas", num_disparities=nd, lr_max_diff=None))
    rejected = on.masks["lr_check"]
    # measured: 40 % of the rejected pixels are occluded ones, which are 11 % of the image
    assert occ[rejected].mean() > 2.5 * occ.mean()
    kept_on, kept_off = np.isfinite(on.disparity), np.isfinite(off.disparity)
    assert kept_on[occ].mean() < 0.75 * kept_off[occ].mean()  # measured 29 % vs 49 %
    assert kept_on[visible].mean() > 0.9 * kept_off[visible].mean()  # measured 91 % vs 94 %


def test_textureless_pair_gives_no_values_not_an_error():
    flat = np.full((40, 80), 128, np.uint8)
    disp, raw, masks = elas_disparity(flat, flat, 16)
    assert np.isnan(disp).all() and np.isnan(raw).all() and masks["matcher"].all()
    # points on a line cannot be triangulated: no triangles, no prior, no values
    from rgb2depth.data.elas import triangles

    assert triangles(np.array([[0.0, 0.0], [5.0, 5.0], [10.0, 10.0]])).shape == (0, 3)
    assert triangles(np.zeros((0, 2))).shape == (0, 3)
