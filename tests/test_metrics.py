"""Metrics: hand-computed values, an independent numpy reference, protocols, aggregation, alignment."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy.ndimage import correlate1d

from rgb2depth.metrics import (
    METRIC_KEYS,
    MetricAccumulator,
    NoValidPixelWarning,
    compute_metrics,
    fit_alignment,
    get_protocol,
    protocol_names,
)

# ----------------------------------------------------------------------------- reference


def ref_ssim_map(x: np.ndarray, y: np.ndarray, win: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Plain Gaussian SSIM (Wang et al. 2004) with mirror borders; written independently."""
    r = np.arange(win) - (win - 1) / 2
    k = np.exp(-(r**2) / (2 * sigma**2))
    k /= k.sum()

    def f(a):
        return correlate1d(correlate1d(a, k, axis=0, mode="mirror"), k, axis=1, mode="mirror")

    c1, c2 = 0.01**2, 0.03**2
    mx, my = f(x), f(y)
    sxx = f(x * x) - mx**2
    syy = f(y * y) - my**2
    sxy = f(x * y) - mx * my
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))


def ref_metrics(p, g, box, lo, hi, user=None, lam=1.0, ssim_range=None, rel="gt"):
    """Straightforward per-image metrics; ``box`` = (t, b, l, r) crop, ``lo < g < hi`` valid."""
    p = np.array(p, dtype=np.float64)
    g = np.array(g, dtype=np.float64)
    t, b, left, r = box
    inside = np.zeros(g.shape, bool)
    inside[t:b, left:r] = True
    with np.errstate(invalid="ignore"):
        m = inside & np.isfinite(g) & (g > lo) & (g < hi)
    if user is not None:
        m &= user
    p = np.clip(p, max(lo, 1e-6), hi)
    pv, gv = p[m], g[m]
    out = {}
    thr = np.maximum(pv / gv, gv / pv)
    for k in (1, 2, 3):
        out[f"delta{k}"] = np.mean(thr < 1.25**k)
    den = gv if rel == "gt" else pv
    out["abs_rel"] = np.mean(np.abs(pv - gv) / den)
    out["sq_rel"] = np.mean((pv - gv) ** 2 / den)
    out["mse"] = np.mean((pv - gv) ** 2)
    out["rmse"] = np.sqrt(out["mse"])
    out["mae"] = np.mean(np.abs(pv - gv))
    d = np.log(pv) - np.log(gv)
    out["rmse_log"] = np.sqrt(np.mean(d**2))
    out["log10"] = np.mean(np.abs(np.log10(pv) - np.log10(gv)))
    out["silog"] = np.sqrt(np.mean(d**2) - lam * np.mean(d) ** 2)
    L = ssim_range if ssim_range is not None else (hi if np.isfinite(hi) else gv.max())
    pc, gc, mc = p[t:b, left:r], g[t:b, left:r], m[t:b, left:r]
    smap = ref_ssim_map(pc / L, np.where(mc, gc, pc) / L)
    out["ssim"] = smap[mc].mean()
    out["_n"] = m.sum()
    out["_ssim_sum"] = smap[mc].sum()
    return out


def assert_close(res, ref, keys=METRIC_KEYS, tol=1e-6):
    for k in keys:
        assert math.isfinite(res[k]), k
        assert res[k] == pytest.approx(float(ref[k]), rel=tol, abs=tol), k


def noisy_pair(rng, shape, hi=10.0):
    g = rng.uniform(0.2, hi * 1.1, size=shape)
    p = g * rng.uniform(0.7, 1.4, size=shape)
    return p, g


# ----------------------------------------------------------------------------- hand-computed


P4 = np.array([[1.0, 2.0], [2.0, 10.0]])
G4 = np.array([[1.0, 2.5], [4.0, 5.0]])


def test_hand_computed_standard():
    r = compute_metrics(P4, G4, ssim_window=1)
    ln8, ln2 = math.log(0.8), math.log(2.0)
    assert r["delta1"] == 0.25  # ratios 1, 1.25 (not < 1.25), 2, 2
    assert r["delta2"] == 0.5
    assert r["delta3"] == 0.5
    assert r["mae"] == pytest.approx(7.5 / 4)
    assert r["abs_rel"] == pytest.approx((0 + 0.2 + 0.5 + 1.0) / 4)
    assert r["sq_rel"] == pytest.approx((0 + 0.1 + 1.0 + 5.0) / 4)
    assert r["mse"] == pytest.approx(29.25 / 4)
    assert r["rmse"] == pytest.approx(math.sqrt(29.25 / 4))
    assert r["rmse_log"] == pytest.approx(math.sqrt((ln8**2 + 2 * ln2**2) / 4))
    assert r["log10"] == pytest.approx((abs(math.log10(0.8)) + 2 * math.log10(2)) / 4)
    mean_d = (ln8 - ln2 + ln2) / 4
    assert r["silog"] == pytest.approx(math.sqrt((ln8**2 + 2 * ln2**2) / 4 - mean_d**2))
    # window 1: SSIM = (2xy + C1)/(x^2 + y^2 + C1) per pixel, data range L = max gt = 5
    c1 = 1e-4
    s = [(2 * a * b / 25 + c1) / ((a * a + b * b) / 25 + c1) for a, b in zip(P4.ravel(), G4.ravel(), strict=True)]
    assert r["ssim"] == pytest.approx(np.mean(s))
    assert r["count"] == 1 and r["skipped"] == 0 and r["pixels"] == 4
    assert r["aggregation"] == "per_image" and r["protocol"] == "none"


def test_hand_computed_paper002_variant():
    r = compute_metrics(P4, G4, variant="paper002")
    ln8, ln2 = math.log(0.8), math.log(2.0)
    # ARD, SRD divide by the reconstruction (paper 002 eq. 4, 7)
    assert r["abs_rel"] == pytest.approx((0 + 0.5 / 2 + 2 / 2 + 5 / 10) / 4)
    assert r["sq_rel"] == pytest.approx((0 + 0.25 / 2 + 4 / 2 + 25 / 10) / 4)
    # LRMSE-SI as printed in eq. 6: mean squared log difference
    assert r["silog"] == pytest.approx((ln8**2 + 2 * ln2**2) / 4)
    assert r["variant"] == "paper002"
    # explicit options override the preset
    r2 = compute_metrics(P4, G4, variant="paper002", rel_denominator="gt")
    assert r2["abs_rel"] == pytest.approx(1.7 / 4)


def test_silog_lambda_and_forms():
    rng = np.random.default_rng(0)
    p, g = noisy_pair(rng, (7, 9))
    d = np.log(p) - np.log(g)
    r0 = compute_metrics(p, g, silog_lambda=0.0)
    assert r0["silog"] == pytest.approx(r0["rmse_log"])
    rh = compute_metrics(p, g, silog_lambda=0.5, silog_form="mse")
    assert rh["silog"] == pytest.approx(np.mean(d**2) - 0.5 * np.mean(d) ** 2)
    rp = compute_metrics(p, g, silog_form="percent")
    assert rp["silog"] == pytest.approx(100 * np.sqrt(np.var(d)))
    # lambda 1 is scale invariant
    assert compute_metrics(3 * p, g)["silog"] == pytest.approx(compute_metrics(p, g)["silog"])
    # constant log ratio: exactly 0, not a rounding residue
    assert compute_metrics(np.full((4, 4), 2.0), np.full((4, 4), 1.0))["silog"] == 0.0


def test_ssim_identical_is_one_and_single_pixel():
    g = np.random.default_rng(1).uniform(1, 5, (16, 16))
    assert compute_metrics(g.copy(), g)["ssim"] == pytest.approx(1.0, abs=1e-9)
    r = compute_metrics(np.array([[1.0]]), np.array([[2.0]]))
    assert r["ssim"] == pytest.approx((2 * 0.5 + 1e-4) / (0.25 + 1 + 1e-4))


# ----------------------------------------------------------------------------- reference, random


@pytest.mark.parametrize("seed", [0, 1])
def test_random_against_reference_none(seed):
    rng = np.random.default_rng(seed)
    p, g = noisy_pair(rng, (23, 31))
    g[rng.random(g.shape) < 0.1] = 0.0
    g[rng.random(g.shape) < 0.05] = np.nan
    g[rng.random(g.shape) < 0.05] = np.inf
    user = rng.random(g.shape) > 0.2
    res = compute_metrics(p, g, user)
    assert_close(res, ref_metrics(p, g, (0, 23, 0, 31), 0.0, np.inf, user))


def test_random_against_reference_nyu_crop_and_clamp():
    rng = np.random.default_rng(2)
    p, g = noisy_pair(rng, (480, 640), hi=10.0)
    p[0, :] = -3.0  # outside the crop: must not matter
    p[100, 100:110] = -1.0  # clamped up to 1e-3
    p[200, 200:210] = 50.0  # clamped down to 10
    g[300, 300:320] = np.nan
    g[310, 300:320] = 0.0
    g[320, 300:320] = 12.0  # beyond 10 m
    res = compute_metrics(p, g, protocol="nyu")
    ref = ref_metrics(p, g, (45, 471, 41, 601), 1e-3, 10.0)
    assert_close(res, ref)
    assert res["pixels"] == ref["_n"]


@pytest.mark.parametrize(
    "name,box,hi",
    [
        ("kitti-garg", (153, 371, 44, 1197), 80.0),
        ("kitti-eigen-50", (124, 342, 44, 1197), 50.0),
    ],
)
def test_random_against_reference_kitti(name, box, hi):
    rng = np.random.default_rng(3)
    p, g = noisy_pair(rng, (375, 1242), hi=hi)
    g[rng.random(g.shape) < 0.8] = 0.0  # sparse lidar-like ground truth
    res = compute_metrics(p.astype(np.float32), g.astype(np.float32), protocol=name)
    ref = ref_metrics(p.astype(np.float32), g.astype(np.float32), box, 1e-3, hi)
    assert_close(res, ref)


def test_make3d_c1_and_user_range_ssim():
    rng = np.random.default_rng(4)
    p, g = noisy_pair(rng, (55, 30), hi=80.0)
    res = compute_metrics(p, g, protocol="make3d")
    assert_close(res, ref_metrics(p, g, (0, 55, 0, 30), 0.0, 70.0))
    res = compute_metrics(p, g, protocol="make3d", ssim_data_range=100.0)
    assert_close(res, ref_metrics(p, g, (0, 55, 0, 30), 0.0, 70.0, ssim_range=100.0), ["ssim"])


def test_torch_input_and_batch_layouts():
    rng = np.random.default_rng(5)
    p, g = noisy_pair(rng, (3, 24, 32))
    v = rng.random(g.shape) > 0.3
    a = compute_metrics(p, g, v, protocol="nyu")
    b = compute_metrics(torch.from_numpy(p)[:, None], torch.from_numpy(g)[:, None],
                        torch.from_numpy(v)[:, None], protocol="nyu")
    for k in METRIC_KEYS:
        assert a[k] == pytest.approx(b[k], rel=1e-12)
    with pytest.raises(ValueError, match="shape"):
        compute_metrics(p, g[:, :-1])


def test_never_nan_with_garbage():
    rng = np.random.default_rng(6)
    g = rng.uniform(-5, 20, (4, 20, 20))
    g[rng.random(g.shape) < 0.3] = np.nan
    g[rng.random(g.shape) < 0.1] = -np.inf
    p = rng.uniform(-5, 1e6, g.shape)
    p[rng.random(g.shape) < 0.1] = np.inf
    p[np.isnan(g)] = np.nan  # NaN prediction where gt is invalid is harmless
    for proto in ("none", "nyu", "kitti-eigen"):
        res = compute_metrics(p, g, protocol=proto)
        assert all(math.isfinite(res[k]) for k in METRIC_KEYS)


def test_nan_prediction_on_valid_pixel_is_an_error():
    g = np.ones((4, 4))
    p = np.ones((4, 4))
    p[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        compute_metrics(p, g, ids=["frame7"])


# ----------------------------------------------------------------------------- invalid images


def test_all_invalid_image_is_reported_and_skipped():
    rng = np.random.default_rng(7)
    p, g = noisy_pair(rng, (3, 12, 12))
    g[1] = np.nan
    with pytest.warns(NoValidPixelWarning, match=r"#1 \(b\)"):
        res = compute_metrics(p, g, ids=["a", "b", "c"])
    assert res["count"] == 2 and res["skipped"] == 1
    keep = compute_metrics(p[[0, 2]], g[[0, 2]])
    for k in METRIC_KEYS:
        assert res[k] == pytest.approx(keep[k], rel=1e-12)
    # invalid through the mask, the range and the crop as well
    with pytest.warns(NoValidPixelWarning):
        acc = MetricAccumulator("nyu")
        acc.update(p[0], np.full((12, 12), 11.0), id="far")
        acc.update(p[0], g[0], np.zeros((12, 12), bool), id="masked")
        acc.update(p[2], g[2], id="ok")
    assert acc.skipped == ["far", "masked"]
    assert acc.compute()["count"] == 1


def test_every_image_invalid_raises():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoValidPixelWarning)
        with pytest.raises(ValueError, match="no image with a valid"):
            compute_metrics(np.ones((2, 5, 5)), np.zeros((2, 5, 5)))


# ----------------------------------------------------------------------------- aggregation


def test_per_image_and_pooled_aggregation():
    rng = np.random.default_rng(8)
    p, g = noisy_pair(rng, (3, 20, 24))
    v = np.ones(g.shape, bool)
    v[0, :15] = False  # unequal pixel counts make the two modes differ
    refs = [ref_metrics(p[i], g[i], (0, 20, 0, 24), 0.0, np.inf, v[i], ssim_range=12.0) for i in range(3)]
    per = compute_metrics(p, g, v, ssim_data_range=12.0)
    for k in METRIC_KEYS:
        assert per[k] == pytest.approx(np.mean([r[k] for r in refs]), rel=1e-6, abs=1e-9), k
    pooled = compute_metrics(p, g, v, aggregation="pooled", ssim_data_range=12.0)
    assert pooled["aggregation"] == "pooled" and per["aggregation"] == "per_image"
    pv, gv = p[v], g[v]
    d = np.log(pv) - np.log(gv)
    assert pooled["rmse"] == pytest.approx(np.sqrt(np.mean((pv - gv) ** 2)), rel=1e-9)
    assert pooled["abs_rel"] == pytest.approx(np.mean(np.abs(pv - gv) / gv), rel=1e-9)
    assert pooled["delta1"] == pytest.approx(np.mean(np.maximum(pv / gv, gv / pv) < 1.25), rel=1e-9)
    assert pooled["silog"] == pytest.approx(np.sqrt(np.mean(d**2) - np.mean(d) ** 2), rel=1e-9)
    assert pooled["log10"] == pytest.approx(np.mean(np.abs(np.log10(pv / gv))), rel=1e-9)
    ssim_pool = sum(r["_ssim_sum"] for r in refs) / sum(r["_n"] for r in refs)
    assert pooled["ssim"] == pytest.approx(ssim_pool, rel=1e-6)
    assert pooled["rmse"] != pytest.approx(per["rmse"], rel=1e-6)
    assert pooled["pixels"] == per["pixels"] == v.sum()


def test_accumulator_matches_one_call_and_keeps_per_image():
    rng = np.random.default_rng(9)
    p, g = noisy_pair(rng, (4, 16, 16))
    acc = MetricAccumulator("none", aggregation="pooled")
    acc.update(p[:2], g[:2], id=["a", "b"])
    acc.update(torch.from_numpy(p[2]), torch.from_numpy(g[2]), id="c")
    acc.update(p[3], g[3])
    res = acc.compute()
    one = compute_metrics(p, g, aggregation="pooled")
    for k in METRIC_KEYS:
        assert res[k] == pytest.approx(one[k], rel=1e-12)
    assert [r["id"] for r in acc.per_image] == ["a", "b", "c", None]
    single = compute_metrics(p[2], g[2])
    assert acc.per_image[2]["rmse"] == pytest.approx(single["rmse"], rel=1e-12)


# ----------------------------------------------------------------------------- alignment


def test_alignment_recovers_scale_and_shift():
    rng = np.random.default_rng(10)
    g = rng.uniform(0.5, 9.0, (30, 40))
    valid = rng.random(g.shape) > 0.3
    garbage = np.where(valid, g, 1e3)  # invalid pixels must not influence the fit
    s, t = fit_alignment((garbage - 0.7) / 2.5, g, valid, "scale_shift")
    assert s == pytest.approx(2.5, rel=1e-12) and t == pytest.approx(0.7, abs=1e-12)
    for m in ("scale", "median", "lstsq-scale"):
        s, t = fit_alignment(garbage / 4.0, g, valid, m)
        assert s == pytest.approx(4.0, rel=1e-12) and t == 0.0
    gm = np.where(valid, g, np.nan)
    res = compute_metrics((g - 0.7) / 2.5, gm, align="scale_shift")
    assert res["rmse"] < 1e-9 and res["delta1"] == 1.0 and res["align"] == "scale_shift"
    acc = MetricAccumulator(align="median")
    acc.update(g * 0.01, gm)
    assert acc.per_image[0]["scale"] == pytest.approx(100.0) and acc.compute()["abs_rel"] < 1e-9
    with pytest.raises(ValueError, match="constant"):
        fit_alignment(np.ones((3, 3)), g[:3, :3], np.ones((3, 3), bool), "scale_shift")


def test_inverse_space_alignment_recovers_depth_and_floors_far_pixels():
    """Inverse depth / disparity of unknown scale and offset: fitted to 1/gt, then inverted."""
    from rgb2depth.metrics import align

    rng = np.random.default_rng(11)
    g = rng.uniform(0.5, 9.0, (30, 40))
    valid = rng.random(g.shape) > 0.3
    inv = np.where(valid, 3.0 / g + 0.25, 1e3)  # invalid pixels must not influence the fit
    depth, (s, t) = align(inv, g, valid, "scale_shift", space="inverse", max_depth=10.0)
    # the fit inverts inv = 3/g + 0.25: 1/g = inv/3 - 1/12
    assert s == pytest.approx(1 / 3, rel=1e-9) and t == pytest.approx(-1 / 12, rel=1e-9)
    assert np.allclose(depth[valid], g[valid], rtol=1e-9)
    # a pixel whose aligned inverse depth is <= 0 becomes the protocol's cap (10 m), not inf
    assert depth[~valid].max() <= 10.0 and np.isfinite(depth).all()
    low = np.where(valid, 3.0 / g + 0.25, 0.1)  # 0.1/3 - 1/12 < 0
    assert np.all(align(low, g, valid, "scale_shift", "inverse", 10.0)[0][~valid] == 10.0)
    # without a finite cap the floor is the largest valid ground-truth depth
    assert align(low, g, valid, "scale_shift", "inverse")[0][~valid].max() == pytest.approx(g[valid].max())
    # scale only (disparity of unknown baseline): disparity = 40 / depth
    d2, (s2, t2) = align(40.0 / g, g, valid, "scale", "inverse")
    assert s2 == pytest.approx(1 / 40, rel=1e-12) and t2 == 0.0 and np.allclose(d2[valid], g[valid])
    # through the accumulator: perfect scores, the space recorded; refusal without a method
    res = compute_metrics(3.0 / g + 0.25, np.where(valid, g, np.nan), align="scale_shift", align_space="inverse")
    assert res["abs_rel"] < 1e-9 and res["delta1"] == 1.0 and res["align_space"] == "inverse"
    # aligning in depth space instead does not recover it (1/x is not affine)
    assert compute_metrics(3.0 / g + 0.25, np.where(valid, g, np.nan), align="scale_shift")["abs_rel"] > 0.05
    with pytest.raises(ValueError, match="an alignment"):
        MetricAccumulator(align_space="inverse")
    with pytest.raises(ValueError, match="an alignment"):
        align(inv, g, valid, None, space="inverse")


def test_inverse_fit_space_scores_depth_against_relative_inverse_depth():
    """Depth predictions against ground truth known only as inverse depth up to scale and shift:
    the prediction is inverted, fitted to 1/gt, and depths of zero or below are left out."""
    from rgb2depth.metrics import align
    from rgb2depth.metrics.alignment import defined

    rng = np.random.default_rng(12)
    g = rng.uniform(0.5, 9.0, (30, 40))
    pred = 1.0 / (3.0 / g + 0.25)  # a depth whose inverse is affine in the true inverse depth
    valid = np.ones(g.shape, bool)
    depth, (s, t) = align(pred, g, valid, "scale_shift", space="inverse_fit", max_depth=10.0)
    assert s == pytest.approx(1 / 3, rel=1e-9) and t == pytest.approx(-1 / 12, rel=1e-9)
    assert np.allclose(depth, g, rtol=1e-9)
    # the same as inverting by hand and aligning in "inverse"
    assert np.allclose(depth, align(1.0 / pred, g, valid, "scale_shift", "inverse", 10.0)[0], rtol=1e-12)
    # a depth of zero or below has no inverse: NaN out of align, outside `defined`, not scored
    bad = pred.copy()
    bad[:3, :] = -1.0
    bad[3, :5] = 0.0
    assert np.isnan(align(bad, g, valid, "scale_shift", "inverse_fit", 10.0)[0][:4, :5]).all()
    assert defined(bad, "inverse_fit").sum() == g.size - 3 * 40 - 5 and defined(bad, "depth").all()
    res = compute_metrics(bad, g, align="scale_shift", align_space="inverse_fit")
    assert res["pixels"] == g.size - 3 * 40 - 5 and res["abs_rel"] < 1e-9 and res["align_space"] == "inverse_fit"
    # NaN is still refused rather than dropped
    bad[5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        compute_metrics(bad, g, align="scale_shift", align_space="inverse_fit")
    with pytest.raises(ValueError, match="an alignment"):
        MetricAccumulator(align_space="inverse_fit")


# ----------------------------------------------------------------------------- protocols


def test_protocol_registry_and_crops():
    assert {"nyu", "kitti-eigen", "kitti-garg", "kitti-eigen-50", "kitti-garg-50", "make3d",
            "none"} <= set(protocol_names())
    nyu = get_protocol("nyu")
    assert (nyu.min_depth, nyu.max_depth) == (1e-3, 10.0)
    assert nyu.crop_box(480, 640) == (45, 471, 41, 601)
    assert nyu.crop_box(960, 1280) == (90, 942, 82, 1202)
    garg = get_protocol("kitti-garg")
    assert garg.crop_box(375, 1242) == (153, 371, 44, 1197) and garg.max_depth == 80.0
    assert get_protocol("kitti-eigen").crop_box(375, 1242) == (124, 342, 44, 1197)
    assert get_protocol("kitti-garg-50").max_depth == 50.0
    assert get_protocol("make3d").max_depth == 70.0 and get_protocol("make3d").crop is None
    assert get_protocol(None).name == "none"
    with pytest.raises(KeyError, match="unknown evaluation protocol"):
        get_protocol("nyu2")
    with pytest.raises(ValueError, match="aggregation"):
        MetricAccumulator(aggregation="mean")
