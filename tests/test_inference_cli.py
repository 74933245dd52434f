"""``rgb2depth predict`` / ``benchmark``: outputs, bad inputs, folders, videos, camera errors.

Runs the command functions in-process through a typer app holding just these commands (so the
tests do not depend on the other sub-commands importing cleanly).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from rgb2depth import models
from rgb2depth.geometry.camera import DEFAULT_HFOV_DEG
from rgb2depth.geometry.pointcloud import read_ply
from rgb2depth.inference import cli
from rgb2depth.inference.api import load

app = typer.Typer()
app.command("predict")(cli.predict)
app.command("benchmark")(cli.benchmark)
runner = CliRunner()


def rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_image_outputs(tmp_path, model_file):
    img = rgb(96, 128)
    Image.fromarray(img).save(tmp_path / "foo.png")
    out = tmp_path / "out"
    r = run("predict", tmp_path / "foo.png", "-o", out, "--model", model_file,
            "--save", "npy,png16,color,ply", "--colorbar")
    assert r.exit_code == 0, r.output
    depth = np.load(out / "foo.npy")
    assert depth.dtype == np.float32 and depth.shape == (96, 128)
    np.testing.assert_array_equal(depth, load(model_file).predict(img))
    mm = cv2.imread(str(out / "foo_depth.png"), cv2.IMREAD_UNCHANGED)
    assert mm.dtype == np.uint16
    np.testing.assert_array_equal(mm, np.round(depth * 1000).astype(np.uint16))
    color = cv2.imread(str(out / "foo_color.png"))
    assert color.shape[0] == 96 and color.shape[1] > 128  # colour bar appended on the right
    pc = read_ply(out / "foo.ply")
    assert len(pc) == 96 * 128
    # pixel (u, v) = (100, 20) with the default 62-degree horizontal field of view
    f = 64 / math.tan(math.radians(DEFAULT_HFOV_DEG / 2))
    u, v = 100, 20
    z = depth[v, u]
    np.testing.assert_allclose(pc.points[v * 128 + u], [(u - 63.5) * z / f, (v - 47.5) * z / f, z], rtol=1e-5)
    np.testing.assert_array_equal(pc.colors[v * 128 + u], img[v, u])


def test_flip_option_predicts_what_the_flip_predictor_does(tmp_path, model_file):
    img = rgb(96, 128, seed=5)
    Image.fromarray(img).save(tmp_path / "foo.png")
    r = run("predict", tmp_path / "foo.png", "-o", tmp_path / "out", "--model", model_file, "--save", "npy", "--flip")
    assert r.exit_code == 0, r.output
    depth = np.load(tmp_path / "out" / "foo.npy")
    np.testing.assert_array_equal(depth, load(model_file, flip=True).predict(img))
    assert np.abs(depth - load(model_file).predict(img)).max() > 1e-3


def test_intrinsics_and_defaults(tmp_path, model_file):
    Image.fromarray(rgb(64, 64)).save(tmp_path / "a.png")
    out = tmp_path / "out"
    r = run("predict", tmp_path / "a.png", "-o", out, "-m", model_file, "--save", "ply,npy",
            "--intrinsics", "50,60,10,20")
    assert r.exit_code == 0, r.output
    depth = np.load(out / "a.npy")
    pc = read_ply(out / "a.ply")
    u, v = 40, 33
    z = depth[v, u]
    np.testing.assert_allclose(pc.points[v * 64 + u], [(u - 10) * z / 50, (v - 20) * z / 60, z], rtol=1e-5)
    assert not (out / "a_color.png").exists()
    # default --save: npy, png16, color
    r = run("predict", tmp_path / "a.png", "-o", tmp_path / "o2", "-m", model_file)
    assert r.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "o2").iterdir()) == ["a.npy", "a_color.png", "a_depth.png"]
    r = run("predict", tmp_path / "a.png", "-o", tmp_path / "o3", "-m", model_file, "--intrinsics", "1,2,3")
    assert r.exit_code == 2 and "fx,fy,cx,cy" in r.output
    r = run("predict", tmp_path / "a.png", "-o", tmp_path / "o3", "-m", model_file, "--save", "npy,jpeg")
    assert r.exit_code == 2 and "jpeg" in r.output


def test_bad_inputs_reported_others_processed(tmp_path, model_file):
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    Image.fromarray(rgb(64, 80)).save(d / "good.jpg")
    Image.fromarray(rgb(70, 50)).save(d / "sub" / "nested.png")
    (d / "empty.png").write_bytes(b"")
    (d / "text.jpg").write_text("not an image")
    Image.fromarray(rgb(8, 8)).save(d / "tiny.png")
    data = (d / "good.jpg").read_bytes()
    (d / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "noimages").mkdir()
    (tmp_path / "noimages" / "readme.txt").write_text("hi")
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x01garbage" * 100)
    out = tmp_path / "out"
    r = run("predict", d, tmp_path / "noimages", tmp_path / "broken.mp4", tmp_path / "missing.png",
            "-o", out, "-m", model_file, "--save", "npy", "--max-pixels", 1_000_000)
    assert r.exit_code == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    expect = {
        "empty.png": "empty file (0 bytes)",
        "text.jpg": "not an image",
        "tiny.png": "too small",
        "cut.jpg": "truncated or corrupt",
        "noimages": "folder contains no images",
        "broken.mp4": "video",
        "missing.png": "no such file",
    }
    assert len(errors) == len(expect), r.stderr
    for name, problem in expect.items():
        assert any(name in e and problem in e for e in errors), (name, errors)
    # the good images were still predicted, keeping the folder structure
    assert np.load(out / "good.npy").shape == (64, 80)
    assert np.load(out / "sub" / "nested.npy").shape == (70, 50)
    assert "2 input(s) predicted" in r.stderr and "7 failed" in r.stderr


def test_bomb_in_folder(tmp_path, model_file):
    Image.fromarray(rgb(200, 200)).save(tmp_path / "big.png")
    Image.fromarray(rgb(40, 40)).save(tmp_path / "small.png")
    r = run("predict", tmp_path / "big.png", tmp_path / "small.png", "-o", tmp_path / "out",
            "-m", model_file, "--save", "npy", "--max-pixels", 10_000)
    assert r.exit_code == 1
    assert "big.png: image is 200x200 = 0.04 megapixels, above the limit" in r.stderr
    assert (tmp_path / "out" / "small.npy").exists()


def test_onnxruntime_backend_and_tiny_video(tmp_path, model_file, monkeypatch):
    monkeypatch.setenv("RGB2DEPTH_CACHE", str(tmp_path / "cache"))
    img = rgb(60, 80)
    Image.fromarray(img).save(tmp_path / "a.png")
    write_video(tmp_path / "tiny.mp4", [rgb(16, 16, s) for s in range(3)])
    r = run("predict", tmp_path / "a.png", tmp_path / "tiny.mp4", "-o", tmp_path / "o", "-m", model_file,
            "--save", "npy", "--backend", "onnxruntime", "--threads", 1)
    assert r.exit_code == 1
    assert "tiny.mp4: image is 16x16, too small" in r.stderr
    got = np.load(tmp_path / "o" / "a.npy")
    assert np.abs(got - load(model_file).predict(img)).max() < 1e-4
    assert len(list((tmp_path / "cache").rglob("*.onnx"))) == 1


def test_model_errors(tmp_path):
    Image.fromarray(rgb(64, 64)).save(tmp_path / "a.png")
    r = run("predict", tmp_path / "a.png", "-o", tmp_path / "o", "-m", tmp_path / "none.pt")
    assert r.exit_code == 2 and "no such model file" in r.stderr
    r = run("predict", tmp_path / "a.png", "-o", tmp_path / "o", "-m", "unet_realtime", "--save", "npy")
    assert r.exit_code == 0 and "untrained" in r.stderr
    r = run("predict", "-o", tmp_path / "o")
    assert r.exit_code == 2


def write_video(path, frames, fps=10.0):
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert vw.isOpened()
    for f in frames:
        vw.write(f[..., ::-1].copy())
    vw.release()


def read_frames(path):
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(f[..., ::-1].copy())
    cap.release()
    return out


def test_video_depth_and_smoothing(tmp_path, model_file):
    base = rgb(64, 96, seed=5)
    frames = [np.roll(base, 4 * i, axis=1) for i in range(5)]
    write_video(tmp_path / "clip.mp4", frames)
    out = tmp_path / "out"
    r = run("predict", tmp_path / "clip.mp4", "-o", out, "-m", model_file, "--save", "npy", "--smooth", "0.5")
    assert r.exit_code == 0, r.output
    assert "5 frames" in r.stderr
    vid = read_frames(out / "clip_depth.mp4")
    assert len(vid) == 5 and vid[0].shape[:2] == (64, 96)
    # per-frame depth = EMA of the per-frame predictions on the decoded frames
    decoded = read_frames(tmp_path / "clip.mp4")
    pred = load(model_file)
    raw = [pred.predict(f) for f in decoded]
    want = raw[0]
    for i in range(5):
        if i:
            want = 0.5 * want + 0.5 * raw[i]
        got = np.load(out / "clip" / f"clip_{i:06d}.npy")
        np.testing.assert_allclose(got, want, atol=1e-5)
    # without --save only the video is written
    r = run("predict", tmp_path / "clip.mp4", "-o", tmp_path / "o2", "-m", model_file, "--max-frames", 2)
    assert r.exit_code == 0 and "2 frames" in r.stderr
    assert [p.name for p in (tmp_path / "o2").iterdir()] == ["clip_depth.mp4"]


def test_unreadable_video_and_camera(tmp_path, model_file):
    (tmp_path / "empty.avi").write_bytes(b"")
    Image.fromarray(rgb(64, 64)).save(tmp_path / "ok.png")
    r = run("predict", tmp_path / "empty.avi", tmp_path / "ok.png", "-o", tmp_path / "o", "-m", model_file,
            "--camera", 97)
    assert r.exit_code == 1
    assert "empty.avi: empty file (0 bytes)" in r.stderr
    assert "camera 97: camera could not be opened" in r.stderr
    assert (tmp_path / "o" / "ok.npy").exists()


def test_benchmark_command(model_file):
    r = run("benchmark", "-m", model_file, "--size", "64x96", "--warmup", 1, "--iters", 3, "--end-to-end")
    assert r.exit_code == 0, r.output
    assert "parameters 1,215,974" in r.stdout
    for key in ("median", "min", "fps", "MACs", "predict()"):
        assert key in r.stdout
    r = run("benchmark", "-m", model_file, "--size", "64by96")
    assert r.exit_code == 2 and "HxW" in r.stderr


def test_count_macs_by_hand():
    from rgb2depth.inference.profiling import count_macs

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.meta = models.ModelMeta()

        def forward(self, x):
            return self.conv(x)

    assert count_macs(Net(), 10, 12) == 3 * 8 * 9 * 10 * 12


@pytest.mark.parametrize("device,backend", [("cuda:0", "cuda"), (torch.device("cuda", 1), "cuda"), ("mps", "mps"),
                                            ("cpu", None), (None, None)])
def test_time_calls_synchronises_the_device_around_each_call(monkeypatch, device, backend):
    """GPU kernels run asynchronously: the clock starts after the queue is empty and stops after
    the call's kernels finished, so each timed call sits between two synchronisations."""
    from rgb2depth.inference import profiling

    events = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: events.append(("sync", "cuda", d)))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: events.append(("sync", "mps", None)))
    clock = iter(range(100))
    monkeypatch.setattr(profiling.time, "perf_counter", lambda: events.append(("clock",)) or next(clock) / 1000)
    res = profiling.time_calls(lambda i: events.append(("call", i)), warmup=1, iters=2, device=device)
    calls = [("call", i) for i in range(3)]
    if backend is None:
        assert events == [e for i in range(3) for e in (("clock",), calls[i], ("clock",))]
    else:
        sync = ("sync", backend, device if backend == "cuda" else None)
        assert events == [e for i in range(3) for e in (sync, ("clock",), calls[i], sync, ("clock",))]
    assert res["times_ms"] == [1.0, 1.0] and res["iters"] == 2
