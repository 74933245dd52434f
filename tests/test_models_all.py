"""Every registered model, whoever wrote it: forward + backward, finite, ModelMeta, ONNX export.

ONNX: opset 17, TorchScript-based exporter (``dynamo=False``); ONNX Runtime must match PyTorch
within 1e-4 (relative to the output's magnitude). Models above 20M parameters write 100+ MB
ONNX files, so their export check is marked slow: ``pytest -m slow tests/test_models_all.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rgb2depth.models import ModelMeta, create, names, to_metres

ALL = names()
SIZE = (96, 128)
HEAVY = 20_000_000


def _param_count(name: str) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in create(name).parameters())


def _onnx_params():
    out = []
    for n in ALL:
        marks = [pytest.mark.slow] if _param_count(n) > HEAVY else []
        out.append(pytest.param(n, marks=marks, id=n))
    return out


@pytest.mark.parametrize("name", ALL)
def test_forward_backward_finite(name):
    torch.manual_seed(0)
    model = create(name)
    assert isinstance(model.meta, ModelMeta)
    x = torch.rand(2, model.meta.in_channels, *SIZE, requires_grad=True)
    y = model(x)
    assert y.dim() == 4 and y.shape[:2] == (2, 1), y.shape
    assert torch.isfinite(y).all()
    (y.float() * torch.linspace(0.5, 1.5, y.numel()).view_as(y)).mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is None or torch.isfinite(g).all() for g in grads)
    assert sum(int(g is not None and g.abs().sum() > 0) for g in grads) > 0
    assert torch.isfinite(to_metres(y.detach(), model.meta)).all()


@pytest.mark.parametrize("name", _onnx_params())
def test_onnx_export_matches_pytorch(name, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = create(name).eval()
    x = torch.rand(1, model.meta.in_channels, *SIZE)
    with torch.no_grad():
        ref = model(x).numpy()
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(model, (x,), str(path), opset_version=17, dynamo=False, input_names=["image"], output_names=["depth"])
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x.numpy()})[0]
    assert got.shape == ref.shape
    err = float(np.abs(got - ref).max())
    assert err <= 1e-4 * max(1.0, float(np.abs(ref).max())), f"{name}: max abs diff {err}"
