"""``rgb2depth demo`` end to end on a model file saved to tmp_path (random weights: plumbing)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from rgb2depth import demo as demo_mod
from rgb2depth import paths
from rgb2depth.geometry.pointcloud import read_ply
from rgb2depth.inference import api
from rgb2depth.inference.api import load

app = typer.Typer()
app.command("demo")(demo_mod.demo)
app.command("noop")(lambda: None)
runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["demo", *[str(a) for a in args]], catch_exceptions=False)


def test_demo_on_user_image_without_shared_data(tmp_path, model_file, monkeypatch):
    monkeypatch.setattr(paths, "shared_data_dir", lambda: None)
    y, x = np.mgrid[0:120, 0:160]
    img = np.stack([x * 1.5, y * 2, (x + y) % 255], axis=2).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "mine.jpg")
    out = tmp_path / "demo"
    r = run(tmp_path / "mine.jpg", "-o", out, "-m", model_file)
    assert r.exit_code == 0, r.output
    for name in ("mine_demo.png", "mine.npy", "mine_depth.png", "mine_color.png", "mine.ply"):
        assert (out / name).is_file(), name
        assert str(out / name) in r.stdout  # prints where everything is
    assert "done in" in r.stdout and "NYU comparison skipped" in r.stdout
    depth = np.load(out / "mine.npy")
    rgb = np.asarray(Image.open(tmp_path / "mine.jpg").convert("RGB"))
    np.testing.assert_array_equal(depth, load(model_file).predict(rgb))
    assert len(read_ply(out / "mine.ply")) == 120 * 160
    fig = cv2.imread(str(out / "mine_demo.png"))
    assert fig is not None and fig.shape[1] > 3 * fig.shape[0] // 2  # three panels side by side
    assert not (out / "nyu_metrics.json").exists()


def test_demo_without_default_weights_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(api, "default_weights_path", lambda: tmp_path / "default.pt")
    r = run("-o", tmp_path / "demo")
    assert r.exit_code == 2
    assert "default weights are not present" in r.stderr and "--model" in r.stderr
    assert not (tmp_path / "demo").exists()


def test_demo_untrained_is_labelled_and_bad_image(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "shared_data_dir", lambda: None)
    (tmp_path / "x.png").write_bytes(b"")
    r = run(tmp_path / "x.png", "-o", tmp_path / "d", "-m", "unet_realtime")
    assert r.exit_code == 1
    assert "random weights" in r.stderr and "x.png: empty file (0 bytes)" in r.stderr


def test_demo_sample_asset(tmp_path, model_file, monkeypatch):
    sample = demo_mod.assets_dir() / demo_mod.SAMPLE
    if not sample.is_file():
        pytest.skip(f"{sample} is not in the package yet (written by the synthetic-scene generator)")
    monkeypatch.setattr(paths, "shared_data_dir", lambda: None)
    r = run("-o", tmp_path / "d", "-m", model_file)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "d" / "demo_room_demo.png").is_file()
    if (demo_mod.assets_dir() / demo_mod.SAMPLE_DEPTH).is_file():
        assert "against its rendered ground truth" in r.stdout


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
