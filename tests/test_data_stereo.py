"""Stereo-derived targets: conversions, the reliability masks on a synthetic pair with known
disparity, the measured quality of SGBM on a real KITTI 2015 pair, and the written targets."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require
from rgb2depth import data
from rgb2depth.data.stereo import (
    StereoConfig,
    compute_disparity,
    depth_to_disparity,
    disparity_to_depth,
    evaluate_disparity,
    load_benchmark_pair,
    stereo_calibration,
    write_targets,
)


def _synthetic_pair(d=12, h=80, w=160, seed=0):
    """Random texture; the right view is the left shifted by d px (a fronto-parallel plane),
    with a flat (textureless) block in the middle."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h, w + d, 3), dtype=np.uint8)
    base = np.repeat(np.repeat(base[::2, ::2], 2, 0), 2, 1)[:h, : w + d]
    base[30:50, 72:122] = 128
    left = np.ascontiguousarray(base[:, :w])
    right = np.ascontiguousarray(base[:, d:])  # left(x) = right(x - d)
    return left, right


def test_conversions_kitti_and_middlebury():
    # KITTI: f 721 px, B 0.54 m, d 39 px -> 9.98 m
    assert disparity_to_depth(np.array([39.0]), 721.0, 0.54)[0] == pytest.approx(721 * 0.54 / 39)
    # Middlebury 2014 Motorcycle calib: depth_mm = baseline * f / (d + doffs)
    z = disparity_to_depth(np.array([40.0]), 999.421, 193.001, 32.778)[0]
    assert z == pytest.approx(193.001 * 999.421 / 72.778)
    assert np.isnan(disparity_to_depth(np.array([0.0, np.nan, -2.0]), 700, 0.5)).all()
    d = np.array([5.0, 20.0, 64.5], np.float32)
    assert np.allclose(depth_to_disparity(disparity_to_depth(d, 700, 0.5, 3), 700, 0.5, 3), d, rtol=1e-5)


def test_calibration_files(shared_data):
    f, B, doffs = stereo_calibration(require(shared_data / "kitti" / "object_kuixu" / "calib" / "000000.txt"))
    assert f == pytest.approx(707.0493)
    assert B == pytest.approx((45.75831 + 334.1081) / 707.0493)  # ~0.537 m
    f, B, doffs = stereo_calibration(shared_data / "middlebury" / "2014" / "trainingQ" / "Motorcycle" / "calib.txt")
    assert (f, B, doffs) == (999.421, 0.193001, 32.778)


def test_synthetic_plane_recovered_and_masks():
    left, right = _synthetic_pair(d=12)
    res = compute_disparity(left, right, StereoConfig(num_disparities=32, equalize=False))
    ok = np.isfinite(res.disparity)
    assert np.abs(res.disparity[ok] - 12).max() <= 1.0
    # the textureless block is rejected (by the texture mask or the matcher)
    assert not ok[36:44, 84:110].any()
    # the leftmost d columns have no correspondence in the right view: never kept
    assert not ok[:, :12].any()
    assert ok[:, 40:].mean() > 0.6
    # without the masks the flat block gets (arbitrary) disparities
    raw = compute_disparity(left, right, StereoConfig(num_disparities=32, equalize=False, lr_max_diff=None,
                                                      texture=None, speckle_window=0))
    assert np.isfinite(raw.disparity).sum() > ok.sum()
    assert np.isfinite(raw.disparity[36:44, 84:110]).mean() > 0.5


def test_bm_also_works():
    left, right = _synthetic_pair(d=9, seed=1)
    res = compute_disparity(left, right, method="bm", num_disparities=16, block_size=9, equalize=False)
    ok = np.isfinite(res.disparity)
    assert ok.mean() > 0.3 and np.abs(res.disparity[ok] - 9).max() <= 1.0


def test_evaluate_disparity_by_hand():
    gt = np.array([[10, 20, np.nan, 30]], np.float32)
    pred = np.array([[11, 25, 7, np.nan]], np.float32)
    e = evaluate_disparity(pred, gt)
    assert e["kept"] == pytest.approx(2 / 3)
    assert e["bad"] == pytest.approx(0.5) and e["epe"] == pytest.approx(3.0)


def test_sgbm_on_real_kitti_pair(shared_data):
    pair = load_benchmark_pair("kitti2015/000046_10", shared_data)
    if pair is None:
        pytest.skip("KITTI 2015 pair absent")
    L, R, G, nd = pair
    res = compute_disparity(L, R, StereoConfig(num_disparities=nd))
    e = evaluate_disparity(res.disparity, G)
    # measured (benchmarks/bench_stereo.py): kept 73.9 %, bad 0.6 %, EPE 0.58 px
    assert e["kept"] > 0.65 and e["bad"] < 0.02 and e["epe"] < 1.0
    # the filters make it more reliable than the matcher alone (2.5 % bad)
    raw = evaluate_disparity(res.raw, G)
    assert raw["bad"] > e["bad"] and raw["kept"] > e["kept"]


def test_targets_written_as_folder_dataset(tmp_path):
    left, right = _synthetic_pair(d=12)
    import cv2

    cv2.imwrite(str(tmp_path / "l.png"), left[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "r.png"), right[:, :, ::-1])
    errors = []
    out = tmp_path / "targets"
    done = write_targets([("p0", tmp_path / "l.png", tmp_path / "r.png"), ("bad", tmp_path / "l.png", tmp_path / "nope.png")],
                         out, focal=700.0, baseline=0.5, cfg=StereoConfig(num_disparities=32, equalize=False),
                         on_error=lambda stem, e: errors.append(str(e)))
    assert done == ["p0"] and len(errors) == 1 and "nope.png: file not found" in errors[0]
    s = data.create("folder", root=out)[0]
    assert np.array_equal(s["rgb"], left)
    ok = s["valid"]
    assert ok.mean() > 0.4
    # depth = f B / d within the 1/256 m quantisation of the written PNG (d = 12 +- 1 px)
    assert np.all(np.abs(s["depth"][ok] - 700 * 0.5 / 12) < 700 * 0.5 / 11 - 700 * 0.5 / 12 + 1 / 256)


def test_cli_writes_targets_and_reports_bad_pairs(tmp_path):
    import cv2
    from typer.testing import CliRunner

    from rgb2depth.cli import app

    left, right = _synthetic_pair(d=12)
    (tmp_path / "L").mkdir()
    (tmp_path / "R").mkdir()
    cv2.imwrite(str(tmp_path / "L" / "a.png"), left[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "R" / "a.png"), right[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "L" / "b.png"), left[:, :, ::-1])  # no right image
    r = CliRunner().invoke(app, ["stereo", str(tmp_path / "L"), str(tmp_path / "R"), "--out", str(tmp_path / "o"),
                                 "--focal", "700", "--baseline", "0.5", "--num-disparities", "32", "--no-equalize"])
    assert r.exit_code == 1
    assert "b.png: file not found" in r.output
    ds = data.create("folder", root=tmp_path / "o")
    assert ds.ids == ["a"]
    s = ds[0]
    assert np.nanmedian(s["depth"]) == pytest.approx(700 * 0.5 / 12, abs=1 / 256)


def test_middlebury_depth_from_sgbm_matches_gt_depth(shared_data):
    from rgb2depth.data.stereo import read_stereo_calib

    root = require(shared_data / "middlebury" / "2014" / "trainingQ" / "Motorcycle")
    gt = data.create("middlebury", root=root)[0]
    c = read_stereo_calib(root / "calib.txt")
    from rgb2depth.data.depth_io import read_rgb

    L, R = gt["rgb"], read_rgb(root / "im1.png")
    res = compute_disparity(L, R, StereoConfig(num_disparities=80))
    z = disparity_to_depth(res.disparity, c["focal"], c["baseline"], c["doffs"])
    both = np.isfinite(z) & gt["valid"]
    rel = np.abs(z[both] - gt["depth"][both]) / gt["depth"][both]
    # measured: median 0.25 %, kept 70 % of the GT pixels (doffs matters: without it ~68 % off)
    assert np.median(rel) < 0.02 and both.sum() > 0.6 * gt["valid"].sum()
    z0 = disparity_to_depth(res.disparity, c["focal"], c["baseline"])
    assert np.median(np.abs(z0[both] - gt["depth"][both]) / gt["depth"][both]) > 0.2


def test_wls_runs_and_fills_more_than_sgbm(shared_data):
    from rgb2depth.data.stereo import has_wls

    pair = load_benchmark_pair("middlebury2003/cones", shared_data)
    if pair is None:
        pytest.skip("Middlebury 2003 cones absent")
    assert has_wls(), "cv2.ximgproc missing: the OpenCV installed is not opencv-contrib-python-headless"
    L, R, G, nd = pair
    plain = dict(num_disparities=nd, lr_max_diff=None, texture=None, speckle_window=0)
    s = evaluate_disparity(compute_disparity(L, R, StereoConfig(method="sgbm", **plain)).disparity, G)
    w = evaluate_disparity(compute_disparity(L, R, StereoConfig(method="sgbm_wls", **plain)).disparity, G)
    # measured: SGBM 82.6 % dense, 4.7 % bad; + WLS 84.4 %, 3.6 %
    assert w["kept"] > s["kept"] + 0.01 and w["bad"] < s["bad"]


def test_cli_elas_writes_metric_depth(tmp_path, shared_data):
    from typer.testing import CliRunner

    from rgb2depth.cli import app

    root = require(shared_data / "middlebury" / "2014" / "trainingQ" / "Motorcycle")
    r = CliRunner().invoke(app, ["stereo", str(root / "im0.png"), str(root / "im1.png"), "--method", "elas",
                                 "--calib", str(root / "calib.txt"), "--num-disparities", "80",
                                 "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    s = data.create("folder", root=tmp_path / "o")[0]
    gt = data.create("middlebury", root=root)[0]
    both = s["valid"] & gt["valid"]
    assert both.sum() > 0.75 * gt["valid"].sum()  # measured: ELAS gives 84 % of the GT pixels
    rel = np.abs(s["depth"][both] - gt["depth"][both]) / gt["depth"][both]
    assert np.median(rel) < 0.02 and (rel > 0.1).mean() < 0.1


def test_cli_bad_method_and_size_mismatch_one_line(tmp_path, shared_data):
    import cv2
    from typer.testing import CliRunner

    from rgb2depth.cli import app

    root = require(shared_data / "middlebury" / "2003" / "cones")
    cv2.imwrite(str(tmp_path / "r.png"), cv2.imread(str(root / "im6.png"))[:, :-8])
    args = ["stereo", str(root / "im2.png"), str(tmp_path / "r.png"), "--focal", "700", "--baseline", "0.1",
            "--out", str(tmp_path / "o")]
    r = CliRunner().invoke(app, [*args, "--method", "elsa"])
    assert r.exit_code == 2 and r.output.strip().count("\n") == 0 and "stereo method must be one of" in r.output
    r = CliRunner().invoke(app, [*args, "--method", "elas"])
    assert r.exit_code == 1
    err = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "r.png" in err[0] and "differs from the left image" in err[0]
