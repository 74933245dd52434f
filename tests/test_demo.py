"""``rgb2depth demo`` end to end on a model file saved to tmp_path (random weights: plumbing),
and the shipped sample files (a real TUM photo and a synthetic room) it shows."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from conftest import require
from rgb2depth import demo as demo_mod
from rgb2depth import paths
from rgb2depth.geometry.pointcloud import read_ply
from rgb2depth.inference import api, resolve
from rgb2depth.inference.api import load
from rgb2depth.metrics import compute_metrics, get_protocol

app = typer.Typer()
app.command("demo")(demo_mod.demo)
app.command("noop")(lambda: None)
runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["demo", *[str(a) for a in args]], catch_exceptions=False)


@pytest.fixture
def focals(monkeypatch):
    """The focal length each prediction was given, in call order."""
    seen = []
    real = api.DepthPredictor.predict_rgb

    def spy(self, rgb, name="<array>", focal=None):
        seen.append(focal)
        return real(self, rgb, name=name, focal=focal)

    monkeypatch.setattr(api.DepthPredictor, "predict_rgb", spy)
    return seen


def printed(text, after, label):
    """The metrics printed on the first line starting with ``label`` after ``after``."""
    line = re.search(rf"^\s*{re.escape(label)}[^:]*: (.*)$", text[text.index(after):], re.M).group(1)
    return {k: float(v) for k, v in (item.rsplit(" ", 1) for item in line.split(", "))}


def test_demo_on_user_image_without_shared_data(tmp_path, model_file, monkeypatch, focals):
    monkeypatch.setattr(paths, "shared_data_dir", lambda: None)
    y, x = np.mgrid[0:120, 0:160]
    img = np.stack([x * 1.5, y * 2, (x + y) % 255], axis=2).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "mine.jpg")
    out = tmp_path / "demo"
    r = run(tmp_path / "mine.jpg", "-o", out, "-m", model_file, "--focal", 300)
    assert r.exit_code == 0, r.output
    assert focals == [300.0] and "focal 300.0 px" in r.stdout
    for name in ("mine_demo.png", "mine.npy", "mine_depth.png", "mine_color.png", "mine.ply"):
        assert (out / name).is_file(), name
        assert str(out / name) in r.stdout  # prints where everything is
    assert "done in" in r.stdout and "NYU comparison skipped" in r.stdout
    depth = np.load(out / "mine.npy")
    rgb = np.asarray(Image.open(tmp_path / "mine.jpg").convert("RGB"))
    np.testing.assert_array_equal(depth, load(model_file).predict(rgb))
    cloud = read_ply(out / "mine.ply")
    assert len(cloud) == 120 * 160
    # the point cloud uses the focal length given: pixel (0, 0) lies at x = (0 - cx) * z / f
    z0 = float(depth[0, 0])
    np.testing.assert_allclose(cloud.points[0], [-79.5 * z0 / 300, -59.5 * z0 / 300, z0], rtol=1e-5)
    fig = cv2.imread(str(out / "mine_demo.png"))
    assert fig is not None and fig.shape[1] > 3 * fig.shape[0] // 2  # three panels side by side
    assert not (out / "nyu_metrics.json").exists()


def test_demo_without_default_weights_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(resolve, "default_weights_path", lambda: tmp_path / "default.pt")
    r = run("-o", tmp_path / "demo")
    assert r.exit_code == 2
    assert "default weights are not present" in r.stderr and "--model" in r.stderr
    assert not (tmp_path / "demo").exists()


def test_demo_bad_focal(tmp_path):
    r = run(tmp_path / "x.png", "-o", tmp_path / "d", "-m", "unet_realtime", "--focal", "-5")
    assert r.exit_code == 2 and "--focal must be a positive number of pixels, got -5" in r.stderr


def test_demo_untrained_is_labelled_and_bad_image(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "shared_data_dir", lambda: None)
    (tmp_path / "x.png").write_bytes(b"")
    r = run(tmp_path / "x.png", "-o", tmp_path / "d", "-m", "unet_realtime")
    assert r.exit_code == 1
    assert "random weights" in r.stderr and "x.png: empty file (0 bytes)" in r.stderr


def test_sample_assets_decode_and_are_attributed():
    a = demo_mod.assets_dir()
    rgb = cv2.imread(str(a / demo_mod.REAL_SAMPLE))
    assert rgb is not None and rgb.shape == (480, 640, 3)
    gt = demo_mod._read_gt_mm(a / demo_mod.REAL_DEPTH)  # uint16 mm -> metres, NaN = invalid
    assert gt.shape == (480, 640)
    valid = np.isfinite(gt)
    assert 0.5 < valid.mean() < 1.0 and 0.5 < float(np.median(gt[valid])) < 4.0
    K = demo_mod._read_intrinsics(a / demo_mod.REAL_K, 640, 480)
    assert (K.fx, K.fy, K.cx, K.cy, K.width, K.height) == (535.4, 539.2, 320.1, 247.6, 640, 480)
    for s in demo_mod.SAMPLES:
        for name in (s.image, s.depth, s.intrinsics):
            assert (a / name).is_file(), name
    text = (a / "ATTRIBUTION.md").read_text()
    for words in ("CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/", "Sturm",
                  "A Benchmark for the Evaluation of RGB-D SLAM Systems", "rgbd_dataset_freiburg3_cabinet",
                  "millimetres", demo_mod.REAL_SAMPLE, demo_mod.SAMPLE):
        assert words in text, words


def test_real_sample_matches_the_tum_source(shared_data):
    src = require(shared_data / "tum" / "freiburg3_cabinet_keyframes")
    a = demo_mod.assets_dir()
    assert (a / demo_mod.REAL_SAMPLE).read_bytes() == (src / "raw_imgs" / "0020_rgb_raw.jpg").read_bytes()
    raw = cv2.imread(str(src / "depth_imgs" / "0020_depth_raw.png"), cv2.IMREAD_UNCHANGED)
    mm = cv2.imread(str(a / demo_mod.REAL_DEPTH), cv2.IMREAD_UNCHANGED)
    assert mm.dtype == np.uint16 and np.array_equal(mm == 0, raw == 0)
    assert np.abs(mm / 1000.0 - raw / 5000.0).max() <= 0.0005  # TUM metres = value / 5000


def test_demo_real_photo_first_then_synthetic_room(tmp_path, model_file, monkeypatch, focals):
    monkeypatch.setattr(paths, "shared_data_dir", lambda: None)
    out = tmp_path / "d"
    r = run("-o", out, "-m", model_file)
    assert r.exit_code == 0, r.output
    text = r.stdout
    order = [text.index(t) for t in ("real photo: TUM RGB-D fr3/cabinet", "against the Kinect depth",
                                     "synthetic room rendered by the project's training-data generator",
                                     "against its rendered ground truth", "done in")]
    assert order == sorted(order)
    assert "CC BY 4.0" in text and "not training data" in text and "flatter" in text
    # each sample's camera focal length went to the model: TUM fx, then the room's fx
    room_fx = json.loads((demo_mod.assets_dir() / demo_mod.SAMPLE_K).read_text())["fx"]
    assert focals == [535.4, pytest.approx(room_fx)]
    a = demo_mod.assets_dir()
    rgb = np.asarray(Image.open(a / demo_mod.REAL_SAMPLE).convert("RGB"))
    pred = np.load(out / "tum_cabinet.npy")
    np.testing.assert_array_equal(pred, load(model_file).predict(rgb, focal=535.4))
    # the printed numbers are compute_metrics on the written .npy against the asset depth
    raw = cv2.imread(str(a / demo_mod.REAL_DEPTH), cv2.IMREAD_UNCHANGED)
    gt = raw.astype(np.float64) / 1000.0
    proto = get_protocol("none").with_range(1e-3, 10.0)
    rec = json.loads((out / "tum_cabinet_metrics.json").read_text())
    for align, label, key in ((None, "against the Kinect depth", "metrics"),
                              ("median", "with median scaling", "median_scaled")):
        ref = compute_metrics(pred, gt, raw > 0, protocol=proto, align=align)
        shown = printed(text, "real photo:", label)
        assert set(shown) == {"delta1", "delta2", "delta3", "abs_rel", "rmse", "log10"}
        for k, v in shown.items():
            assert v == pytest.approx(ref[k], abs=5e-4), (label, k)
            assert rec[key][k] == pytest.approx(ref[k], rel=1e-5), (key, k)
    assert rec["focal"] == 535.4 and rec["depth_range"] == [1e-3, 10.0] and rec["ground_truth"] == "Kinect"
    for stem in ("tum_cabinet", "demo_room"):
        fig = cv2.imread(str(out / f"{stem}_demo.png"))
        assert fig is not None and fig.shape[1] > 4 * fig.shape[0]  # five panels side by side
        assert str(out / f"{stem}_demo.png") in text
    # the room's numbers are its own: against its rendered depth, protocol none
    room = compute_metrics(np.load(out / "demo_room.npy"), demo_mod._read_gt_mm(a / demo_mod.SAMPLE_DEPTH),
                           protocol="none")
    assert printed(text, "synthetic room", "against its rendered")["abs_rel"] == pytest.approx(room["abs_rel"], abs=5e-4)
    assert not list(out.glob("*.tmp*"))  # atomic writes left no temporary file


def test_demo_without_samples_says_so(tmp_path, model_file, monkeypatch):
    monkeypatch.setattr(demo_mod, "assets_dir", lambda: tmp_path / "none")
    r = run("-o", tmp_path / "d", "-m", model_file)
    assert r.exit_code == 2
    assert "tum_cabinet.jpg, demo_room.png" in r.stderr and "rgb2depth demo IMAGE" in r.stderr


def test_demo_nyu_metrics(tmp_path, model_file, shared_data):
    folder = shared_data / "nyu" / "nyu2_mini_test"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(tmp_path / "g.png")
    out = tmp_path / "d"
    r = run(tmp_path / "g.png", "-o", out, "-m", model_file, "--nyu")
    assert r.exit_code == 0, r.output
    assert (out / "nyu_demo.png").is_file()
    res = json.loads((out / "nyu_metrics.json").read_text())
    assert res["images"] == 10 and res["protocol"] == "nyu"
    # image 0 by hand: Eigen crop rows 45:471, cols 41:601; valid 1e-3 < gt < 10; pred clamped
    rgb = cv2.cvtColor(cv2.imread(str(folder / "image_0.png")), cv2.COLOR_BGR2RGB)
    gt = cv2.imread(str(folder / "depth_0.png"), cv2.IMREAD_UNCHANGED).astype(np.float64) / 1000.0
    pred = np.clip(load(model_file).predict(rgb).astype(np.float64), 1e-3, 10.0)
    g, p = gt[45:471, 41:601], pred[45:471, 41:601]
    ok = (g > 1e-3) & (g < 10)
    abs_rel = np.mean(np.abs(p[ok] - g[ok]) / g[ok])
    rmse = np.sqrt(np.mean((p[ok] - g[ok]) ** 2))
    row = res["per_image"][0]["metrics"]
    assert row["abs_rel"] == pytest.approx(abs_rel, rel=1e-4)
    assert row["rmse"] == pytest.approx(rmse, rel=1e-4)
    assert res["mean"]["abs_rel"] == pytest.approx(np.mean([x["metrics"]["abs_rel"] for x in res["per_image"]]))
