"""Loading model files never runs code, never downloads, and fails in one line.

A poisoned ``$TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth`` (the file name torch.hub
derives from the URL in ``models/backbones/resnet.py``) carries a pickle payload that creates a
marker file when unpickled without ``weights_only``. A ``resnet18_depth`` model file whose
stored options say ``pretrained: true`` is then loaded through every path a user has
(``rgb2depth.load``, ``predict --model``, ``evaluate``, ``export``, ``benchmark``, ``train``
with ``model.init`` and ``--resume``): no marker may appear, torch.hub may not be asked for
the weights, and the network may not be reached. Building the network fresh with
``pretrained=True`` does go to the hub cache, and must refuse the payload in one line.

The network is replaced by a guard that raises (and counts), so no test can reach it.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
import yaml
from PIL import Image
from typer.testing import CliRunner

import rgb2depth
from conftest import folder_dataset
from rgb2depth import models
from rgb2depth.models.backbones.resnet import URLS
from rgb2depth.models.io import FORMAT, load_model, save_model

runner = CliRunner()


class Payload:
    """Unpickling this creates ``path`` (``open(path, "w")``): the stand-in for malicious code."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def hub_file(torch_home: Path) -> Path:
    """Where torch.hub caches ``URLS["resnet18"]``: its base name under hub/checkpoints."""
    return torch_home / "hub" / "checkpoints" / URLS["resnet18"].rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory):
    """(TORCH_HOME, marker path): the hub cache holds a pickle that creates the marker."""
    home = tmp_path_factory.mktemp("torch_home")
    marker = home / "PAYLOAD_RAN"
    path = hub_file(home)
    path.parent.mkdir(parents=True)
    torch.save({"conv1.weight": Payload(marker)}, path)
    assert path.name == "resnet18-f37072fd.pth"
    return home, marker


@pytest.fixture()
def guarded(poisoned, monkeypatch):
    """The poisoned hub cache in force, the network replaced by a raising guard, and a spy on
    ``torch.hub.load_state_dict_from_url``; yields ``(marker, calls)``."""
    home, marker = poisoned
    monkeypatch.setenv("TORCH_HOME", str(home))
    calls = {"network": 0, "hub": 0}

    def no_network(*a, **k):
        calls["network"] += 1
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(torch.hub, "urlopen", no_network)
    real = torch.hub.load_state_dict_from_url

    def spy(*a, **k):
        calls["hub"] += 1
        return real(*a, **k)

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", spy)
    if marker.exists():
        marker.unlink()
    yield marker, calls
    assert not marker.exists(), "the payload of the poisoned hub file ran"


@pytest.fixture(scope="module")
def pretrained_model_file(tmp_path_factory):
    """A resnet18_depth model file whose stored options say ``pretrained: true``."""
    torch.manual_seed(0)
    net = models.create("resnet18_depth")
    net.rgb2depth_options = {"pretrained": True}
    p = tmp_path_factory.mktemp("models") / "resnet18_pretrained.pt"
    save_model(net, p)
    rec = torch.load(p, weights_only=True)
    assert rec["options"] == {"pretrained": True}
    return p


@pytest.fixture(scope="module")
def folder_data(tmp_path_factory):
    """A 4-sample folder dataset (64x64, depth 2 m) for evaluate and train."""
    return folder_dataset(tmp_path_factory.mktemp("data"), n=4, size=(64, 64))


def cli(command, *args):
    app = typer.Typer()
    app.command()(command)
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_the_payload_is_live(poisoned):
    """The planted file really runs its payload when unpickled without weights_only (so the
    other tests would notice if any path did that)."""
    home, marker = poisoned
    torch.load(hub_file(home), weights_only=False)
    assert marker.exists()
    marker.unlink()


def test_api_load_and_predict(guarded, pretrained_model_file):
    marker, calls = guarded
    pred = rgb2depth.load(str(pretrained_model_file))
    depth = pred.predict(np.full((64, 80, 3), 128, np.uint8))
    assert depth.shape == (64, 80) and np.isfinite(depth).all()
    assert calls == {"network": 0, "hub": 0}
    net = load_model(pretrained_model_file)
    assert net.rgb2depth_options == {"pretrained": True}  # the record is kept as stored


def test_predict_and_benchmark_commands(guarded, pretrained_model_file, tmp_path):
    from rgb2depth.inference.cli import benchmark, predict

    marker, calls = guarded
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(tmp_path / "a.png")
    r = cli(predict, tmp_path / "a.png", "-o", tmp_path / "out", "--model", pretrained_model_file, "--save", "npy")
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "out" / "a.npy").shape == (64, 64)
    r = cli(benchmark, "--model", pretrained_model_file, "--size", "64x64", "--warmup", "0", "--iters", "1")
    assert r.exit_code == 0, r.output
    assert calls == {"network": 0, "hub": 0}


def test_evaluate_and_export_commands(guarded, pretrained_model_file, folder_data, tmp_path):
    from rgb2depth.evaluation.cli import evaluate
    from rgb2depth.export.cli import export

    marker, calls = guarded
    r = cli(evaluate, pretrained_model_file, "--dataset", "folder", "--data", f"root={folder_data}",
            "--protocol", "none", "--input-size", "64x64", "--vis", "0", "--out", tmp_path / "e.json")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "e.json").is_file()
    r = cli(export, "--model", pretrained_model_file, "--format", "torchscript", "--size", "64x64",
            "-o", tmp_path / "m.pt")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "m.pt").stat().st_size > 1_000_000
    assert calls == {"network": 0, "hub": 0}


def train_config(tmp_path: Path, data: Path, **model) -> Path:
    cfg = {"name": "poison", "output_dir": str(tmp_path / "run"),
           "model": {"name": "resnet18_depth", "options": {"pretrained": True}, "channels_last": False, **model},
           "loss": {"name": "l1"}, "data": {"train": [{"name": "folder", "root": str(data)}], "input_size": [64, 64]},
           "optim": {"name": "sgd", "momentum": 0.0, "lr": 1e-3},  # no optimiser state: a smaller checkpoint
           "train": {"epochs": 1, "batch_size": 2, "max_steps": 1, "progress": False, "tensorboard": False,
                     "threads": 1}}
    p = tmp_path / "poison.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_train_with_init_then_resume(guarded, pretrained_model_file, folder_data, tmp_path):
    """model.init from the model file, then --resume from the run's checkpoint: the config's
    own ``pretrained: true`` is not read either time (every weight comes from a file)."""
    from rgb2depth.training.cli import train

    marker, calls = guarded
    cfg = train_config(tmp_path, folder_data, init=str(pretrained_model_file))
    r = cli(train, "--config", cfg)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
    r = cli(train, "--config", train_config(tmp_path, folder_data), "--resume", "train.max_steps=2")
    assert r.exit_code == 0, r.output
    assert "resumed from" in r.output
    assert calls == {"network": 0, "hub": 0}


def test_fresh_pretrained_build_refuses_the_payload(guarded, folder_data, tmp_path):
    """Training from ImageNet weights (no init, no resume) does read the hub cache: with
    weights_only the payload is refused, in one line naming the URL."""
    from rgb2depth.training.cli import train

    marker, calls = guarded
    with pytest.raises(ValueError, match=r"resnet18-f37072fd\.pth: .*refused to unpickle.*open") as e:
        models.create("resnet18_depth", pretrained=True)
    assert "\n" not in str(e.value)
    r = cli(train, "--config", train_config(tmp_path, folder_data))
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused to unpickle" in lines[0], r.stderr
    assert calls["hub"] == 2 and calls["network"] == 0


def test_download_failure_is_one_line(guarded, tmp_path, monkeypatch):
    """No cache: pretrained=True reaches for the network (the guard here) and reports it in
    one line instead of an uncaught URLError."""
    marker, calls = guarded
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))
    with pytest.raises(ValueError, match=r"download.*cannot download the pretrained weights.*network disabled") as e:
        models.create("resnet18_depth", pretrained=True)
    assert "\n" not in str(e.value)
    assert calls["network"] == 1


def test_model_file_naming_a_missing_pretrained_file_loads(guarded, tmp_path):
    """Options naming a weights file that is gone (another machine) do not matter either."""
    marker, calls = guarded
    net = models.create("resnet18_depth")
    net.rgb2depth_options = {"pretrained": str(tmp_path / "gone" / "imagenet.pth")}
    save_model(net, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])


def test_malicious_model_file_is_refused(tmp_path):
    """The model file itself carrying a payload: refused by weights_only, one line, nothing run."""
    marker = tmp_path / "ran"
    bad = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "name": "unet_realtime", "options": {}, "meta": {}, "state_dict": {},
                "info": Payload(marker)}, bad)
    with pytest.raises(ValueError) as e:
        load_model(bad)
    msg = str(e.value)
    assert msg.startswith(f"{bad}: not a readable model file (refused to unpickle") and "\n" not in msg
    assert not marker.exists()


def test_grep_finds_no_unsafe_loading():
    """Every torch.load / hub download in the package passes weights_only=True, and nothing
    unpickles with pickle or numpy's allow_pickle."""
    import re

    src = Path(rgb2depth.__file__).parent
    bad = []
    for p in src.rglob("*.py"):
        text = p.read_text()
        for m in re.finditer(r"(torch\.load|load_state_dict_from_url)\(([^()]|\([^()]*\))*\)", text):
            if "weights_only=True" not in m.group(0):
                bad.append(f"{p.relative_to(src)}: {m.group(0)[:80]}")
        for m in re.finditer(r"pickle\.loads?\(|allow_pickle=True", text):
            bad.append(f"{p.relative_to(src)}: {m.group(0)}")
    assert not bad, bad

