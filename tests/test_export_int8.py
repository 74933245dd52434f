"""int8 export and inference: calibration on real training-side frames (TUM fr1/rpy), depth
close to float32, records keyed to the weights (a stale one is refused), one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import require
from rgb2depth import models
from rgb2depth.export import calibration as c
from rgb2depth.export import quantize as q
from rgb2depth.export.formats import read_onnx_props
from rgb2depth.inference import api
from rgb2depth.inference.api import ModelLoadError, load
from rgb2depth.models.io import save_model
from test_export_roundtrips import run  # the export and predict commands in-process


@pytest.fixture(scope="module")
def frames(shared_data):
    return require(shared_data / "tum" / "rgbd_dataset_freiburg1_rpy" / "rgb")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RGB2DEPTH_CACHE", str(tmp_path / "cache"))


def rel_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-6)


def test_calibration_images_split_and_errors(tmp_path):
    for i in range(5):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / f"f{i}.png")
    chosen, rest = c.calibration_images(tmp_path, 3)
    assert [p.name for p in chosen] == ["f0.png", "f2.png", "f4.png"]
    assert [p.name for p in rest] == ["f1.png", "f3.png"]
    assert c.calibration_images(tmp_path, 99)[1] == []
    (tmp_path / "empty").mkdir()
    for folder, count, msg in ((tmp_path / "nope", 3, "no such folder of calibration images"),
                               (tmp_path / "f0.png", 3, "is a file; --calibrate takes a folder"),
                               (tmp_path / "empty", 3, "folder contains no images"),
                               (tmp_path, 0, "--calibrate-count must be at least 1")):
        with pytest.raises(c.CalibrationError, match=msg):
            c.calibration_images(folder, count)


def test_int8_export_predicts_close_to_float32(small_net, frames, tmp_path):
    """Calibrate on 3 real frames, check on others: the int8 file's depth stays within a few
    per cent of float32 (per-pixel median and 95th percentile), through export and predict."""
    net, d, _ = small_net
    out = tmp_path / "m.int8.onnx"
    r = run("export", "--model", d / "m.pt", "--int8", "--calibrate", frames, "--calibrate-count", "3",
            "--verify", "--save-calibration", tmp_path / "cal.json", "-o", out)
    assert r.exit_code == 0, r.output
    assert "verify: depth int8 vs float32 on 8 calibration-free images" in r.stdout and "OK" in r.stdout
    props = read_onnx_props(out)
    assert props["rgb2depth_precision"] == "int8"
    cal = c.Calibration.load(tmp_path / "cal.json")
    assert json.loads(props["rgb2depth_calibration"])["model"] == cal.model == c.model_key(net)
    assert cal.images["count"] == 3 and len(cal.ranges["data"]) > 5
    _, rest = c.calibration_images(frames, 3)
    rgb = np.asarray(Image.open(rest[100]).convert("RGB").resize((64, 48)))
    want = load(d / "m.pt", threads=1).predict(rgb)
    got = load(out, threads=1)  # an int8 .onnx needs no flags
    assert got.backend == "onnxruntime" and got.precision == "int8"
    e = rel_diff(got.predict(rgb), want)
    assert np.median(e) < 0.02 and np.percentile(e, 95) < 0.06, (np.median(e), np.percentile(e, 95))
    assert np.median(e) > 0  # it is quantised, not the float graph
    # the same depth from the model file + calibration record, made for another input size
    p = load(d / "m.pt", precision="int8", calibration=cal, threads=1)
    e2 = rel_diff(p.predict(rgb), want)
    assert np.median(e2) < 0.02
    assert q.cache_path(net, cal, (48, 64)).is_file()


def test_predict_int8_calibrates_once_and_caches(small_net, frames, tmp_path):
    net, d, _ = small_net
    sub = tmp_path / "frames"
    sub.mkdir()
    for p in sorted(frames.iterdir())[:3]:
        (sub / p.name).write_bytes(p.read_bytes())
    Image.fromarray(np.full((48, 64, 3), 128, np.uint8)).save(tmp_path / "grey.png")
    r = run("predict", tmp_path / "grey.png", "-o", tmp_path / "o", "--model", d / "m.pt", "--int8",
            "--calibrate", sub, "--save", "npy")
    assert r.exit_code == 0, r.output
    assert "making the int8 model" in r.stderr
    cached = sorted((tmp_path / "cache" / "onnx").glob("*.int8.*"))
    assert sorted(p.suffix for p in cached) == [".json", ".onnx"]
    r = run("predict", tmp_path / "grey.png", "-o", tmp_path / "o2", "--model", d / "m.pt", "--int8",
            "--calibrate", sub, "--save", "npy")
    assert r.exit_code == 0 and "making the int8 model" not in r.stderr  # reused
    np.testing.assert_array_equal(np.load(tmp_path / "o" / "grey.npy"), np.load(tmp_path / "o2" / "grey.npy"))


def test_stale_calibration_is_refused(small_net, tmp_path, monkeypatch):
    net, d, _ = small_net
    cal = c.Calibration(ranges={"data": {}}, model=c.model_key(net), plan={})
    c.check_calibration(cal, net, "x")  # fits
    other = models.create("c").eval()
    other.meta = net.meta
    with pytest.raises(c.CalibrationError, match="x: stale int8 calibration: made for weights"):
        c.check_calibration(cal, other, "x")
    with pytest.raises(ModelLoadError, match="stale int8 calibration"):
        save_model(other, tmp_path / "other.pt")
        load(tmp_path / "other.pt", precision="int8", calibration=cal)
    # the default model's shipped record, edited to name other weights
    if not api.default_weights_path().is_file() or not c.default_calibration_path().is_file():
        pytest.skip("no default model or no shipped int8 calibration")
    record = json.loads(c.default_calibration_path().read_text())
    record["model"]["weights_sha256"] = "0" * 64
    (tmp_path / "default.int8.json").write_text(json.dumps(record))
    monkeypatch.setattr(c, "default_calibration_path", lambda: tmp_path / "default.int8.json")
    with pytest.raises(ModelLoadError) as e:
        load("default", precision="int8")
    msg = str(e.value)
    assert "\n" not in msg and "stale int8 calibration" in msg and "rgb2depth export --model default" in msg


def test_shipped_default_calibration_fits_the_shipped_weights():
    """The record beside default.pt was made for exactly these weights: replacing default.pt
    without remaking the record (command in the error) fails here rather than at a user's."""
    if not api.default_weights_path().is_file():
        pytest.skip("the default weights are not shipped")
    from rgb2depth.models.io import load_model

    c.default_calibration(load_model(api.default_weights_path()))


@pytest.mark.parametrize("args, msg", [
    (["--int8", "--format", "torchscript", "--calibrate", "."], "--int8 needs --format onnx"),
    (["--int8"], "--int8 needs --calibrate DIR: a folder of real images to calibrate on"),
    (["--calibrate", "."], "--calibrate and --save-calibration go with --int8"),
    (["--int8", "--calibrate", "NOPE"], "NOPE: no such folder of calibration images"),
])
def test_export_int8_usage_errors(small_net, tmp_path, args, msg):
    _, d, _ = small_net
    r = run("export", "--model", d / "m.pt", "-o", tmp_path / "x.onnx", *args)
    assert r.exit_code == 2 and r.stderr.strip() == f"error: {msg}"
    assert not (tmp_path / "x.onnx").exists()


def test_predict_int8_needs_calibration_for_other_models(small_net, tmp_path):
    _, d, _ = small_net
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(tmp_path / "x.png")
    r = run("predict", tmp_path / "x.png", "-o", tmp_path / "o", "--model", d / "m.pt", "--int8")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
    assert "m.pt: int8 needs calibration images: pass calibration=DIR" in r.stderr
    r = run("predict", tmp_path / "x.png", "-o", tmp_path / "o", "--model", d / "m.pt", "--int8",
            "--calibrate", tmp_path / "x.png")
    assert r.exit_code == 2 and "x.png: is a file; --calibrate takes a folder of images" in r.stderr
    with pytest.raises(ModelLoadError, match="precision 'int8' runs with backend 'onnxruntime' only"):
        load(d / "m.pt", backend="torch", precision="int8")
    with pytest.raises(ModelLoadError, match="calibration images are for precision 'int8' only"):
        load(d / "m.pt", calibration=tmp_path)


@pytest.mark.slow
def test_default_model_int8_predicts_close_to_float32():
    """``load("default", precision="int8")`` makes the int8 model from the shipped record (no
    images) and predicts the shipped demo photo within a few per cent of float32."""
    from rgb2depth.demo import assets_dir

    if not api.default_weights_path().is_file():
        pytest.skip("the default weights are not shipped")
    want = load("default", threads=1).predict(assets_dir() / "tum_cabinet.jpg", focal=535.4)
    got = load("default", precision="int8", threads=1).predict(assets_dir() / "tum_cabinet.jpg", focal=535.4)
    e = rel_diff(got, want)
    assert np.median(e) < 0.03 and abs(np.mean(np.log(got / want))) < 0.02, (np.median(e), np.mean(np.log(got / want)))
