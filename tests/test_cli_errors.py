"""The error paths of ``evaluate``, ``export``, ``stereo`` and the root command.

Each wrong invocation ends with its exit code and one ``error:`` line naming the file or option
and the problem; where a command works through several inputs, the good ones are still done.
"""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import rgb2depth
from conftest import folder_dataset
from rgb2depth import data, models
from rgb2depth.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_error(r) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.output
    return lines[0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Three 48x64 samples (s0, s1, s2) with depth 2 m."""
    return folder_dataset(tmp_path_factory.mktemp("ds"))


# ------------------------------------------------------------------------------ evaluate


def test_evaluate_model_or_predictions(tmp_path, folder, model_file):
    for args in ([], [model_file, "--predictions", tmp_path]):
        r = run("evaluate", *args, "--dataset", "folder", "--data", f"root={folder}")
        assert r.exit_code == 2 and one_error(r) == "error: give either a MODEL or --predictions DIR"


@pytest.mark.parametrize("option, value, expect", [
    ("--align", "mean", "error: --align must be one of none, median, lstsq, scale, scale_shift"),
    ("--aggregation", "median", "error: --aggregation must be per_image or pooled"),
    ("--input-size", "240", "error: --input-size '240': expected HxW, e.g. 240x320"),
    ("--input-size", "0x320", "error: --input-size '0x320': expected HxW, e.g. 240x320"),
])
def test_evaluate_bad_options_before_any_loading(tmp_path, option, value, expect):
    """Checked first: the model named here does not even exist."""
    r = run("evaluate", tmp_path / "nope.pt", "--dataset", "folder", "--data", f"root={tmp_path}", option, value)
    assert r.exit_code == 2 and one_error(r) == expect


def test_evaluate_out_is_a_folder(tmp_path, folder, model_file):
    r = run("evaluate", model_file, "--dataset", "folder", "--data", f"root={folder}", "--out", tmp_path)
    assert r.exit_code == 2 and one_error(r) == f"error: --out {tmp_path}: is a folder; give the JSON file to write"


def test_evaluate_missing_prediction_file_others_scored(tmp_path, folder):
    pred = tmp_path / "pred"
    pred.mkdir()
    np.save(pred / "s0.npy", np.full((48, 64), 2.2, np.float32))  # AbsRel 0.1
    np.save(pred / "s2.npy", np.full((24, 32), 2.5, np.float32))  # other size, resized: AbsRel 0.25
    out = tmp_path / "e.json"
    r = run("evaluate", "--predictions", pred, "--dataset", "folder", "--data", f"root={folder}",
            "--protocol", "none", "--out", out)
    assert r.exit_code == 1
    assert one_error(r) == f"error: {pred}/s1: no prediction file for sample 's1'"
    rec = json.loads(out.read_text())
    assert rec["count"] == 2
    assert rec["partial"] is True and rec["missing"] == ["s1"] and rec["bad"] == [] and rec["expected"] == 3
    assert rec["metrics"]["abs_rel"] == pytest.approx((0.1 + 0.25) / 2, rel=1e-5)


def test_evaluate_unreadable_prediction_file(tmp_path, folder):
    pred = tmp_path / "pred"
    pred.mkdir()
    for i in range(3):
        np.save(pred / f"s{i}.npy", np.full((48, 64), 2.0, np.float32))
    (pred / "s1.npy").write_bytes(b"\x93NUMPY garbage")
    r = run("evaluate", "--predictions", pred, "--dataset", "folder", "--data", f"root={folder}", "--protocol", "none")
    assert r.exit_code == 1 and one_error(r).startswith(f"error: {pred / 's1.npy'}: unreadable")


# ------------------------------------------------------------------------------ export


def test_export_errors(tmp_path, model_file):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"not used")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 64)
    cases = [
        (["--model", onnx, "-o", tmp_path / "x.onnx"], f"error: {onnx}: already an exported file; give a model file or name"),
        (["--model", bad, "-o", tmp_path / "x.onnx"], f"error: {bad}: not a readable model file ("),
        (["--model", tmp_path / "nope.pt", "-o", tmp_path / "x.onnx"], f"error: {tmp_path / 'nope.pt'}: no such model file"),
        (["--model", "no_such_net", "-o", tmp_path / "x.onnx"], "error: 'no_such_net' is neither 'default', a model file, nor a registered model"),
        (["--model", model_file, "-o", tmp_path], f"error: {tmp_path}: is a folder; give the file to write"),
        (["--model", model_file, "-o", tmp_path / "x.onnx", "--format", "tflite"], "error: --format must be onnx or torchscript, got 'tflite'"),
        (["--model", model_file, "-o", tmp_path / "x.onnx", "--size", "big"], "error: "),
    ]
    for args, expect in cases:
        r = run("export", *args)
        assert r.exit_code == 2, (args, r.output)
        assert one_error(r).startswith(expect), (args, r.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pt", "m.onnx"]


# ------------------------------------------------------------------------------ stereo


def _pair(d=12, h=64, w=128, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h, w + d, 3), dtype=np.uint8)
    base = np.repeat(np.repeat(base[::2, ::2], 2, 0), 2, 1)[:h, : w + d]
    return np.ascontiguousarray(base[:, :w]), np.ascontiguousarray(base[:, d:])


def test_stereo_missing_inputs_and_calibration(tmp_path):
    left, right = _pair()
    cv2.imwrite(str(tmp_path / "l.png"), left)
    cv2.imwrite(str(tmp_path / "r.png"), right)
    cases = [
        ([tmp_path / "nol.png", tmp_path / "r.png", "--focal", "700", "--baseline", "0.5"],
         f"error: {tmp_path / 'nol.png'}: no such file or folder"),
        ([tmp_path / "l.png", tmp_path, "--focal", "700", "--baseline", "0.5"],
         f"error: {tmp_path / 'l.png'} and {tmp_path}: give two files or two folders"),
        ([tmp_path / "l.png", tmp_path / "r.png", "--focal", "700"], "error: give --calib, or both --focal and --baseline"),
        ([tmp_path / "l.png", tmp_path / "r.png", "--calib", tmp_path / "calib.txt"],
         f"error: --calib {tmp_path / 'calib.txt'}: no such file or folder"),
        ([tmp_path / "l.png", tmp_path / "r.png", "--focal", "700", "--baseline", "0.5", "--out", tmp_path / "l.png"],
         f"error: {tmp_path / 'l.png'}: cannot use as the output folder (--out)"),
    ]
    for args, expect in cases:
        r = run("stereo", *args)
        assert r.exit_code == 2, (args, r.output)
        assert one_error(r).startswith(expect), (args, r.stderr)


def test_stereo_per_pair_calibration_missing_others_written(tmp_path):
    left, right = _pair()
    for d in ("L", "R", "calib"):
        (tmp_path / d).mkdir()
    for stem in ("a", "b"):
        cv2.imwrite(str(tmp_path / "L" / f"{stem}.png"), left)
        cv2.imwrite(str(tmp_path / "R" / f"{stem}.png"), right)
    (tmp_path / "calib" / "a.txt").write_text(
        "cam0=[700 0 64; 0 700 32; 0 0 1]\ncam1=[700 0 64; 0 700 32; 0 0 1]\ndoffs=0\nbaseline=500\n")
    r = run("stereo", tmp_path / "L", tmp_path / "R", "--calib", tmp_path / "calib", "--out", tmp_path / "o",
            "--num-disparities", "32", "--no-equalize")
    assert r.exit_code == 1
    assert one_error(r) == f"error: {tmp_path / 'calib' / 'b.txt'}: file not found"
    ds = data.create("folder", root=tmp_path / "o")
    assert ds.ids == ["a"]
    assert np.nanmedian(ds[0]["depth"]) == pytest.approx(700 * 0.5 / 12, abs=1 / 256)


# ------------------------------------------------------------------------------ root command


def test_root_version_and_models():
    r = run("--version")
    assert r.exit_code == 0 and r.stdout.strip() == rgb2depth.__version__
    r = run("models")
    assert r.exit_code == 0 and r.stdout.split() == models.names()
    r = run("models", "--verbose")
    assert r.exit_code == 0 and r.stdout.splitlines()[0].split()[0] == models.names()[0]
    r = run("no-such-command")
    assert r.exit_code == 2 and "No such command" in r.output


def test_python_m_help():
    r = subprocess.run([sys.executable, "-m", "rgb2depth", "--help"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Usage:" in r.stdout
    for command in ("predict", "train", "evaluate", "export", "stereo", "models"):
        assert command in r.stdout
