"""ONNX / TorchScript export: outputs match PyTorch, meta travels in the file, CLI --verify."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from rgb2depth import models
from rgb2depth.export import cli as export_cli
from rgb2depth.export.formats import (
    cached_onnx,
    export_onnx,
    export_torchscript,
    model_fingerprint,
    onnx_session,
    read_onnx_meta,
    verify_export,
)
from rgb2depth.inference.api import load
from rgb2depth.models.io import save_model


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    m = models.create("unet_realtime").eval()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.normal_(0, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    return m


def test_onnx_matches_torch_and_keeps_meta(net, tmp_path):
    p = export_onnx(net, tmp_path / "m.onnx", (96, 128))
    meta, hw = read_onnx_meta(p)
    assert hw == (96, 128) and meta == net.meta
    sess = onnx_session(p, threads=1)
    assert [i.name for i in sess.get_inputs()] == ["image"]
    x = torch.rand(3, 3, 96, 128)  # batch dimension is dynamic
    got = sess.run(None, {"image": x.numpy()})[0]
    with torch.no_grad():
        want = net(x).numpy()
    assert got.shape == (3, 1, 96, 128)
    assert np.abs(got - want).max() < 1e-5
    r = verify_export(net, p, "onnx", (96, 128))
    assert r["max_abs_diff_m"] < 1e-4 and r["batch"] == 2


def test_torchscript_matches_torch(net, tmp_path):
    p = export_torchscript(net, tmp_path / "m.pt", (64, 80))
    files = {"rgb2depth_meta.json": ""}
    ts = torch.jit.load(str(p), _extra_files=files)
    assert '"input_hw": [64, 80]' in files["rgb2depth_meta.json"].decode()
    x = torch.rand(2, 3, 64, 80)
    with torch.no_grad():
        assert (ts(x) - net(x)).abs().max() < 1e-5
    assert verify_export(net, p, "torchscript", (64, 80))["max_abs_diff_m"] < 1e-4


def test_onnx_file_as_model(net, tmp_path):
    p = export_onnx(net, tmp_path / "m.onnx")  # at meta.input_size 240x320
    pred = load(p, backend="onnxruntime", threads=1)
    assert pred.fixed_hw == (240, 320) and pred.model is None
    img = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    save_model(net, tmp_path / "m.pt")
    want = load(tmp_path / "m.pt").predict(img)
    assert np.abs(pred.predict(img) - want).max() < 1e-4
    with pytest.raises(Exception, match="onnxruntime"):
        load(p, backend="torch")


def test_cache_key_changes_with_weights(net, tmp_path, monkeypatch):
    monkeypatch.setenv("RGB2DEPTH_CACHE", str(tmp_path))
    a = cached_onnx(net, (64, 64))
    assert cached_onnx(net, (64, 64)) == a
    other = models.create("unet_realtime")
    assert model_fingerprint(other) != model_fingerprint(net)
    assert cached_onnx(other, (64, 64)) != a


def test_export_cli(net, tmp_path):
    save_model(net, tmp_path / "m.pt")
    app = typer.Typer()
    app.command("export")(export_cli.export)
    app.command("noop")(lambda: None)
    runner = CliRunner()
    for fmt, name in (("onnx", "m.onnx"), ("torchscript", "ts.pt")):
        r = runner.invoke(app, ["export", "--model", str(tmp_path / "m.pt"), "--format", fmt,
                                "--output", str(tmp_path / name), "--size", "64x96", "--verify"])
        assert r.exit_code == 0, r.output
        assert f"max abs difference PyTorch vs {fmt}" in r.stdout and "OK" in r.stdout
        assert (tmp_path / name).is_file()
    r = runner.invoke(app, ["export", "--model", str(tmp_path / "m.pt"), "--format", "tflite",
                            "--output", str(tmp_path / "x")])
    assert r.exit_code == 2 and "onnx or torchscript" in r.stderr
