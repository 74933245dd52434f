"""``evaluate --predictions``: the project's own png16 outputs and .npy maps, inverse depth and
disparity (aligned in inverse-depth space), and folders that lack files (marked partial).

The round trip runs ``predict --save npy,png16`` with the shipped model on real NYU frames and
checks that scoring the PNGs gives the model's own metrics within a bound computed from the
PNG's millimetre rounding."""

from __future__ import annotations

import json
import math
import shutil

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from rgb2depth.evaluation.evaluate import find_prediction, read_prediction
from rgb2depth.metrics import MetricAccumulator


def nyu_source(shared_data):
    from rgb2depth.evaluation.evaluate import resolve_dataset_spec
    from rgb2depth.training.data import build_source

    return build_source(resolve_dataset_spec("nyu_mini"))


def run(args):
    from rgb2depth.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def per_image(path):
    rec = json.loads(path.read_text())
    return rec, {r["id"]: r for r in rec["per_image"]}


def quantisation_bounds(d, g, mask, eps):
    """Largest change of each metric when every valid prediction may move by ``eps`` (per pixel)
    around ``d``: triangle inequalities for the means and roots, and for delta_k the share of
    pixels whose interval [d - eps, d + eps] straddles a threshold g * 1.25^k or g / 1.25^k."""
    d, g, e = d[mask].astype(np.float64), g[mask].astype(np.float64), eps[mask]
    lo, hi = np.clip(d - e, 1e-3, 10.0), np.clip(d + e, 1e-3, 10.0)
    dl = e / lo  # |log a - log b| <= |a - b| / min(a, b)
    out = {"mae": e.mean(), "rmse": np.sqrt((e**2).mean()), "abs_rel": (e / g).mean(),
           "rmse_log": np.sqrt((dl**2).mean()), "silog": np.sqrt((dl**2).mean()),
           "log10": dl.mean() / math.log(10)}
    for k in (1, 2, 3):
        t = 1.25**k
        straddle = ((lo < g * t) & (hi >= g * t)) | ((lo <= g / t) & (hi > g / t))
        out[f"delta{k}"] = straddle.mean()
    return out


def test_png16_round_trip_matches_the_model(tmp_path, shared_data):
    """predict --save png16 on 3 real NYU frames, then evaluate --predictions on the PNGs alone:
    every per-image metric equals evaluating the model directly, within the bound the PNGs'
    rounding to millimetres (0.5 mm) allows, plus 1e-5 relative for float reordering between
    predict's fused network and evaluate's."""
    from rgb2depth.inference.api import default_weights_path

    if not default_weights_path().is_file():
        pytest.skip("the shipped default weights are absent")
    src = nyu_source(shared_data)
    n = 3
    images = [shared_data / "nyu" / "nyu2_mini_test" / f"{src[i]['id']}.png" for i in range(n)]
    fx = src[0]["K"].fx  # the NYU camera: evaluate passes it to the model too
    r = run(["predict", *images, "-o", tmp_path / "out", "--save", "npy,png16", "--focal", fx, "--no-progress"])
    assert r.exit_code == 0, r.output
    (tmp_path / "png").mkdir()
    for p in (tmp_path / "out").glob("*_depth.png"):
        shutil.copy(p, tmp_path / "png" / p.name)
    r = run(["evaluate", "default", "--dataset", "nyu_mini", "--limit", n, "--out", tmp_path / "model.json"])
    assert r.exit_code == 0, r.output
    r = run(["evaluate", "--predictions", tmp_path / "png", "--dataset", "nyu_mini", "--limit", n,
             "--out", tmp_path / "png.json"])
    assert r.exit_code == 0, r.output
    _, model = per_image(tmp_path / "model.json")
    rec, png = per_image(tmp_path / "png.json")
    assert rec["formats"] == {"npy": 0, "png16": n} and rec["partial"] is False and rec["count"] == n
    acc = MetricAccumulator("nyu")
    for i in range(n):
        s = src[i]
        sid = s["id"]
        d = np.load(tmp_path / "out" / f"{sid}.npy")
        q = read_prediction(tmp_path / "png" / f"{sid}_depth.png")
        assert np.nanmax(np.abs(q - d)) <= 0.0005 + 1e-6  # millimetres, rounded
        eps = 0.0005 + 1e-5 * d
        bounds = quantisation_bounds(d, s["depth"], acc.valid_mask(s["depth"], s["valid"]), eps)
        assert bounds["delta1"] < 0.01 and bounds["rmse"] < 0.001  # a bound that can catch a bug
        for key, bound in bounds.items():
            assert abs(png[sid][key] - model[sid][key]) <= bound + 1e-12, (sid, key, bound)
        assert model[sid]["pixels"] == png[sid]["pixels"]


def test_partial_folder_is_marked_partial_with_what_is_missing(tmp_path, shared_data):
    """A folder lacking one sample and holding two bad files: the others are scored, the JSON
    says partial and lists them, the exit code is 1, and each problem gets a one-line error."""
    src = nyu_source(shared_data)
    folder = tmp_path / "p"
    folder.mkdir()
    ids = [src[i]["id"] for i in range(5)]
    for i in (0, 1):
        gt = np.where(src[i]["valid"], src[i]["depth"], 0)
        np.save(folder / f"{ids[i]}.npy", gt.astype(np.float32))
    (folder / f"{ids[2]}.npy").write_text("not an array")
    cv2.imwrite(str(folder / f"{ids[3]}_depth.png"), np.zeros((48, 64), np.uint8))  # 8-bit: not ours
    # ids[4] has no file
    out = tmp_path / "e.json"
    r = run(["evaluate", "--predictions", folder, "--dataset", "nyu_mini", "--limit", 5, "--out", out])
    assert r.exit_code == 1
    rec = json.loads(out.read_text())
    assert rec["partial"] is True and rec["expected"] == 5 and rec["count"] == 2
    assert rec["missing"] == [ids[4]]
    assert len(rec["bad"]) == 2
    assert rec["bad"][0].startswith(f"{folder / ids[2]}.npy: unreadable")
    assert rec["bad"][1].startswith(f"{folder / ids[3]}_depth.png: expected a 16-bit single-channel PNG")
    assert rec["metrics"]["delta1"] == 1.0 and rec["metrics"]["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    errors = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 3 and any(ids[4] in e for e in errors)


def test_inverse_depth_npy_is_aligned_in_inverse_space(tmp_path, shared_data):
    """Inverse depth of another scale and offset (made from the real NYU depth with a per-pixel
    distortion): the metrics equal a fit done independently here (numpy lstsq on 1/gt over the
    protocol's pixels, floored at 1/10 m, inverted)."""
    src = nyu_source(shared_data)
    folder = tmp_path / "inv"
    folder.mkdir()
    rng = np.random.default_rng(0)
    acc = MetricAccumulator("nyu")
    want = {}
    for i in range(3):
        s = src[i]
        g = s["depth"].astype(np.float64)
        noisy = np.where(s["valid"], g, 3.0) * rng.uniform(0.8, 1.25, g.shape)
        inv = (7.0 / noisy - 0.2).astype(np.float32)
        np.save(folder / f"{s['id']}.npy", inv)
        m = acc.valid_mask(s["depth"], s["valid"])
        A = np.stack([inv[m].astype(np.float64), np.ones(m.sum())], 1)
        (a, b), *_ = np.linalg.lstsq(A, 1.0 / g[m], rcond=None)
        depth = np.clip(1.0 / np.maximum(a * inv[m] + b, 1 / 10.0), 1e-3, 10.0)
        want[s["id"]] = np.mean(np.abs(depth - g[m]) / g[m])
    out = tmp_path / "inv.json"
    r = run(["evaluate", "--predictions", folder, "--prediction-kind", "inverse_depth", "--dataset", "nyu_mini",
             "--limit", 3, "--out", out])
    assert r.exit_code == 0, r.output
    rec, got = per_image(out)
    assert rec["align"] == "scale_shift" and rec["align_space"] == "inverse"  # the default fit for it
    for sid, v in want.items():
        assert got[sid]["abs_rel"] == pytest.approx(v, rel=1e-9)
        assert 0.02 < v < 0.5  # the distortion is visible, the fit is not trivial


def test_disparity_png_with_scale_only(tmp_path, shared_data):
    """16-bit disparity PNGs (KITTI style: disparity * 256, 0 = none), aligned by one scale
    (an unknown baseline): metrics equal an independent fit on the stored integers."""
    src = nyu_source(shared_data)
    folder = tmp_path / "disp"
    folder.mkdir()
    acc = MetricAccumulator("nyu")
    s = src[0]
    g = s["depth"].astype(np.float64)
    disp = np.where(s["valid"], np.round(256 * 40.0 / np.where(s["valid"], g, 1.0)), 0).astype(np.uint16)
    cv2.imwrite(str(folder / f"{s['id']}_depth.png"), disp)
    m = acc.valid_mask(s["depth"], s["valid"]) & (disp > 0)
    p = disp[m].astype(np.float64)
    scale = np.dot(p, 1.0 / g[m]) / np.dot(p, p)
    depth = np.clip(1.0 / np.maximum(scale * p, 1 / 10.0), 1e-3, 10.0)
    out = tmp_path / "d.json"
    r = run(["evaluate", "--predictions", folder, "--prediction-kind", "disparity", "--align", "lstsq",
             "--dataset", "nyu_mini", "--limit", 1, "--out", out])
    assert r.exit_code == 0, r.output
    rec, got = per_image(out)
    assert rec["formats"] == {"npy": 0, "png16": 1}
    assert got[s["id"]]["abs_rel"] == pytest.approx(np.mean(np.abs(depth - g[m]) / g[m]), rel=1e-9)
    assert got[s["id"]]["rmse"] == pytest.approx(np.sqrt(np.mean((depth - g[m]) ** 2)), rel=1e-9)


def test_prediction_kind_needs_predictions_and_is_checked(tmp_path):
    r = run(["evaluate", "default", "--prediction-kind", "disparity"])
    assert r.exit_code == 2 and "applies to saved --predictions" in r.output
    r = run(["evaluate", "--predictions", tmp_path, "--prediction-kind", "metres"])
    assert r.exit_code == 2 and "--prediction-kind must be one of depth, inverse_depth, disparity" in r.output


def test_files_found_by_id_stem_index_or_the_one_named_after_it(tmp_path):
    """predict names a file after its input (``0000_rgb_raw`` for TUM's sample ``0000``): the
    one such file is used; two are ambiguous; the .npy wins over the PNG of the same name."""
    files = {"0000_rgb_raw": tmp_path / "0000_rgb_raw.npy", "image_1": tmp_path / "image_1.npy",
             "000002": tmp_path / "000002.npy"}
    assert find_prediction("0000", 0, files) == files["0000_rgb_raw"]
    assert find_prediction("sub/image_1.png", 1, files) == files["image_1"]
    assert find_prediction("x", 2, files) == files["000002"]
    assert find_prediction("0003", 3, files) is None
    with pytest.raises(ValueError, match="several prediction files"):
        find_prediction("0000", 0, {**files, "0000_other": tmp_path / "0000_other.npy"})
    from rgb2depth.evaluation.evaluate import prediction_files

    np.save(tmp_path / "a.npy", np.ones((2, 2), np.float32))
    cv2.imwrite(str(tmp_path / "a_depth.png"), np.ones((2, 2), np.uint16))
    cv2.imwrite(str(tmp_path / "a_color.png"), np.ones((2, 2, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "b_depth.png"), np.full((2, 2), 1500, np.uint16))
    found = prediction_files(tmp_path)
    assert found == {"a": tmp_path / "a.npy", "b": tmp_path / "b_depth.png"}
    assert np.all(read_prediction(found["b"]) == np.float32(1.5))  # millimetres -> metres
