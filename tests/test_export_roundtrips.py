"""Files written by ``rgb2depth export`` load back: ``predict --model`` and ``rgb2depth.load``
pick the runtime from the file (TorchScript -> PyTorch, .onnx -> ONNX Runtime) and give the
depth of the model file they came from; unsafe or foreign files are refused in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from rgb2depth.export import cli as export_cli
from rgb2depth.export.formats import TS_META_FILE, load_torchscript
from rgb2depth.inference import cli as inference_cli
from rgb2depth.inference.api import ModelLoadError, load
from rgb2depth.inference.resolve import is_torchscript, resolve_model

app = typer.Typer()
app.command("export")(export_cli.export)
app.command("predict")(inference_cli.predict)
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("fmt, name, backend", [("torchscript", "m.ts.pt", "torch"), ("onnx", "m.onnx", "onnxruntime")])
def test_exported_file_predicts_like_the_model_file(small_net, tmp_path, fmt, name, backend):
    _, d, want = small_net
    r = run("export", "--model", d / "m.pt", "--format", fmt, "-o", tmp_path / name)
    assert r.exit_code == 0, r.output
    assert is_torchscript(tmp_path / name) == (fmt == "torchscript")
    assert resolve_model(tmp_path / name).kind == fmt
    r = run("predict", d / "im.png", "-o", tmp_path / "out", "--model", tmp_path / name, "--save", "npy")
    assert r.exit_code == 0, r.output
    got = np.load(tmp_path / "out" / "im.npy")
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-4 * (1 + want.max())
    p = load(tmp_path / name, threads=1)  # no backend given: chosen by the file
    assert p.backend == backend and p.fixed_hw == (48, 64) and p.model is None
    assert np.abs(p.predict(d / "im.png") - want).max() < 1e-4 * (1 + want.max())
    other = "onnxruntime" if backend == "torch" else "torch"
    with pytest.raises(ModelLoadError, match=f"runs with backend '{backend}' only"):
        load(tmp_path / name, backend=other)


def test_model_file_is_not_mistaken_for_torchscript(small_net):
    _, d, _ = small_net
    assert not is_torchscript(d / "m.pt") and resolve_model(d / "m.pt").kind == "torch"


class _ReadsAFile(torch.nn.Module):
    def forward(self, x):
        return x + torch.from_file("/etc/hostname", False, 4, dtype=torch.uint8).float().sum()


def test_torchscript_that_reads_files_or_lacks_meta_is_refused(tmp_path):
    scripted = torch.jit.script(_ReadsAFile())
    meta = '{"meta": {}, "input_hw": [8, 8]}'
    torch.jit.save(scripted, str(tmp_path / "reads.pt"), _extra_files={TS_META_FILE: meta})
    with pytest.raises(ValueError, match=r"reads.pt: refused: the TorchScript graph calls aten::from_file"):
        load_torchscript(tmp_path / "reads.pt")
    torch.jit.save(torch.jit.script(torch.nn.Identity()), str(tmp_path / "foreign.pt"))
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "x.png")
    r = run("predict", tmp_path / "x.png", "-o", tmp_path / "o", "--model", tmp_path / "foreign.pt")
    assert r.exit_code == 2
    assert r.stderr.strip() == f"error: {tmp_path / 'foreign.pt'}: TorchScript file has no {TS_META_FILE} (not exported by rgb2depth)"


@pytest.mark.parametrize("block", ["UpProjection", "UpConv"])
def test_exported_up_sampling_block_uses_depth_to_space_and_matches(block, tmp_path):
    """Traced for export, the fast up-sampling blocks run one fused convolution per branch
    through ``pixel_shuffle`` (ONNX DepthToSpace, kept int8 by ONNX Runtime), with no ``Split``
    (float32 in an int8 graph): the same numbers as the eval-mode PyTorch block."""
    import onnx
    import onnxruntime as ort

    from rgb2depth.models import upsampling

    torch.manual_seed(0)
    m = getattr(upsampling, block)(6, 4).eval()
    with torch.no_grad():
        for bn in (mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d)):
            bn.running_mean.normal_(0, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
    x = torch.rand(2, 6, 5, 7)
    torch.onnx.export(m, (x,), str(tmp_path / "b.onnx"), dynamo=False, opset_version=17, input_names=["x"])
    ops = [n.op_type for n in onnx.load(str(tmp_path / "b.onnx")).graph.node]
    branches = 2 if block == "UpProjection" else 1
    assert ops.count("DepthToSpace") == branches and "Split" not in ops
    got = ort.InferenceSession(str(tmp_path / "b.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        want = m(x).numpy()
    assert got.shape == want.shape == (2, 4, 10, 14) and np.abs(got - want).max() < 1e-5
