"""``train`` and model files: every mistake is one line naming the file or key, never a traceback.

Config mistakes (misspelled model or loader options, wrongly typed loss options and sections,
a learning rate that is text or overflows), data without a single valid depth pixel, model
files and checkpoints with wrong keys or missing entries, a checkpoint save that the kernel
refuses (``RLIMIT_FSIZE``, as on a full disk), and temporaries left by a killed save.

The runs use the tiny two-part network of ``test_training_plugin`` on a 6-image folder dataset
(32x32), so each takes about a second.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
import yaml
from typer.testing import CliRunner

from rgb2depth.data.folder import FolderWriter
from rgb2depth.evaluation.cli import evaluate
from rgb2depth.fileio import is_temporary
from rgb2depth.models.io import load_model
from rgb2depth.training.checkpoint import load_checkpoint
from rgb2depth.training.cli import train

TESTS = Path(__file__).resolve().parent
runner = CliRunner()


def invoke(command, *args):
    app = typer.Typer()
    app.command()(command)
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_error(r) -> str:
    """The single stderr line of a failed command (asserting there is exactly one)."""
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.output
    return lines[0]


def write_folder(root: Path, n: int = 6, valid: bool = True) -> Path:
    from test_training_plugin import make_sample

    w = FolderWriter(root)
    for i in range(n):
        s = make_sample(i, (32, 32))
        w.write(f"s{i}", s["rgb"], s["depth"] if valid else np.full((32, 32), np.nan, np.float32))
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """(folder with depth, folder whose depth PNGs are all 0 = invalid)."""
    base = tmp_path_factory.mktemp("data")
    return write_folder(base / "good"), write_folder(base / "nodepth", valid=False)


def config(tmp_path: Path, data_root: Path, name: str = "c", **sections) -> Path:
    cfg = {"name": name, "seed": 1, "output_dir": str(tmp_path / name), "imports": ["test_training_plugin"],
           "model": {"name": "tiny_two_part", "channels_last": False}, "loss": {"name": "l1"},
           "data": {"train": [{"name": "folder", "root": str(data_root)}], "input_size": [32, 32]},
           "optim": {"name": "adam", "lr": 1e-3},
           "train": {"epochs": 1, "batch_size": 2, "threads": 1, "progress": False, "tensorboard": False,
                     "ckpt_every": 1}}
    for k, v in sections.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


@pytest.mark.parametrize("overrides, expect", [
    (["model.options.widht=4"], "model.options: model 'tiny_two_part': unknown option 'widht'; did you mean 'width'?"),
    (["model.options.width=wide"], "model.options: model 'tiny_two_part': option 'width' must be an integer, got 'wide'"),
    (["data.train.0.strid=2"], "data.train: FolderDataset.__init__() got an unexpected keyword argument 'strid'"),
    (["loss.name=silog", "loss.options.alpha=two"], "loss.options: loss 'silog': option 'alpha' must be a number, got 'two'"),
    (["loss.name=berhu", "loss.options.c_scope=pixel"], "loss.options: loss 'berhu': option 'c_scope' must be one of 'batch', 'image', got 'pixel'"),
    (["train=[1, 2]"], "train must be a section (a mapping of keys: "),
    (["optim=fast"], "optim must be a section"),
    (["optim.lr=fast"], "optim.lr must be a number, got 'fast'"),
    (["optim.lr=-0.1"], "optim.lr must be a positive number, got -0.1"),
    (["train.grad_clip=abc"], "train.grad_clip must be a number, got 'abc'"),
    (["train.epochs=2.5"], "train.epochs must be an integer, got 2.5"),
    (["model.name=unet_reltime"], "unknown model 'unet_reltime'; did you mean unet_realtime"),
])
def test_config_mistakes_are_one_line_naming_file_and_key(tmp_path, data, overrides, expect):
    cfg = config(tmp_path, data[0])
    r = invoke(train, "--config", cfg, *overrides)
    assert r.exit_code == 2
    line = one_error(r)
    assert line.startswith(f"error: {cfg}: ") and expect in line, line
    assert not (tmp_path / "c" / "model.pt").exists()


def test_overflowing_learning_rate_stops_in_one_line(tmp_path, data):
    r = invoke(train, "--config", config(tmp_path, data[0]), "optim.lr=1e38")
    assert r.exit_code == 3
    assert one_error(r) == ("error: the optimiser step overflowed at step 1 (stage 'main') with optim.lr = 1e+38: "
                            "lower the learning rate")


def test_data_without_valid_depth_stops_naming_the_dataset(tmp_path, data):
    good, nodepth = data
    r = invoke(train, "--config", config(tmp_path, nodepth))
    assert r.exit_code == 2
    assert one_error(r) == (f"error: data.train[0] (name=folder, root={nodepth}): none of its 6 training samples "
                            "has a valid depth pixel (check the depth files and depth_scale); training would learn nothing")
    assert not (tmp_path / "c" / "model.pt").exists()
    # the second of two datasets is the empty one: it is the one named
    two = config(tmp_path, good, data={"train": [{"name": "folder", "root": str(good)},
                                                 {"name": "folder", "root": str(nodepth)}]})
    r = invoke(train, "--config", two)
    assert r.exit_code == 2 and one_error(r).startswith(f"error: data.train[1] (name=folder, root={nodepth}): none of its 6")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
    """A finished run: (its folder, model.pt, last.pt)."""
    tmp = tmp_path_factory.mktemp("run")
    r = invoke(train, "--config", config(tmp, data[0], name="ref"))
    assert r.exit_code == 0, r.output
    return tmp / "ref", tmp / "ref" / "model.pt", tmp / "ref" / "checkpoints" / "last.pt"


def edited(src: Path, dst: Path, edit) -> Path:
    rec = torch.load(src, weights_only=True)
    edit(rec)
    torch.save(rec, dst)
    return dst


def test_broken_model_files_are_one_line_everywhere(tmp_path, data, trained):
    """Wrong keys, a wrong shape, an unknown option, no meta: load_model, model.init and
    evaluate all say which file and what is wrong, in one line."""
    _, model_pt, _ = trained
    cases = {
        "missing": (lambda r: r["state_dict"].pop("fine.0.weight"), "weights do not fit tiny_two_part: 1 missing (fine.0.weight)"),
        "extra": (lambda r: r["state_dict"].update(extra_head=torch.zeros(2)), "1 unexpected (extra_head)"),
        "shape": (lambda r: r["state_dict"].update({"fine.0.bias": torch.zeros(3)}), "1 of another shape (fine.0.bias: file (3,), model (8,))"),
        "option": (lambda r: r["options"].update(depth_bins=64), "model 'tiny_two_part': unknown option 'depth_bins'"),
        "meta": (lambda r: r.pop("meta"), "model record lacks 'meta'"),
    }
    for name, (edit, expect) in cases.items():
        bad = edited(model_pt, tmp_path / f"{name}.pt", edit)
        with pytest.raises(ValueError) as e:
            load_model(bad)
        assert str(e.value).startswith(f"{bad}: ") and expect in str(e.value) and "\n" not in str(e.value)
        r = invoke(evaluate, bad, "--dataset", "folder", "--data", f"root={data[0]}", "--protocol", "none")
        assert r.exit_code == 1 and expect in one_error(r)
    for name in ("missing", "shape"):
        r = invoke(train, "--config", config(tmp_path, data[0], model={"init": str(tmp_path / f"{name}.pt")}))
        assert r.exit_code == 2
        assert one_error(r).startswith(f"error: {tmp_path / f'{name}.pt'} (model.init): weights do not fit")


def test_checkpoint_missing_entries_cannot_resume(tmp_path, data, trained):
    _, _, last = trained
    bad = edited(last, tmp_path / "no_optim.pt", lambda r: r.pop("optimizer"))
    r = invoke(train, "--config", config(tmp_path, data[0]), "--resume-from", bad)
    assert r.exit_code == 2
    assert one_error(r).startswith(f"error: {bad}: checkpoint lacks 'optimizer'; it cannot continue a run")
    with pytest.raises(ValueError, match="lacks 'rng', 'step'"):
        load_checkpoint(edited(last, tmp_path / "no_rng.pt", lambda r: (r.pop("rng"), r.pop("step"))))
    # a checkpoint of another network
    other = edited(last, tmp_path / "other.pt", lambda r: r["model"]["state_dict"].pop("coarse.0.weight"))
    r = invoke(train, "--config", config(tmp_path, data[0]), "--resume-from", other)
    assert r.exit_code == 2 and "weights do not fit tiny_two_part: 1 missing (coarse.0.weight)" in one_error(r)


def _limit_file_size(limit: int):
    def pre() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


def test_refused_checkpoint_write_is_one_line_and_keeps_the_last_good_one(tmp_path, data):
    """Resume a run under a file-size limit smaller than a checkpoint: the kernel refuses the
    write (EFBIG, as a full disk gives ENOSPC). One line, exit code 1, no temporary left, and
    the previous checkpoint still loads (it used to print two tracebacks)."""
    cfg = config(tmp_path, data[0], train={"max_steps": 2})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "rgb2depth", "train", "--config", str(cfg)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    last = tmp_path / "c" / "checkpoints" / "last.pt"
    before = last.read_bytes()
    size = len(before)
    r = subprocess.run(cmd + ["--resume", "train.max_steps=3"], env=env, capture_output=True, text=True,
                       timeout=600, preexec_fn=_limit_file_size(size // 2))
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.strip() == f"error: {last}: cannot write (File too large)"
    assert last.read_bytes() == before and load_checkpoint(last)["step"] == 2
    assert [p for p in last.parent.iterdir() if p.name != "last.pt"] == []


def test_stale_temporaries_are_removed_even_when_starting_from_scratch(tmp_path, data):
    ck = tmp_path / "c" / "checkpoints"
    ck.mkdir(parents=True)
    stale = [ck / "last.pt.k3j2x1.tmp", ck / ".last.pt.a8b7c6.tmp.pt", ck / ".best.pt.zz9.tmp.pt"]
    for p in stale:
        p.write_bytes(b"half a checkpoint")
    r = invoke(train, "--config", config(tmp_path, data[0], train={"max_steps": 1}), "--resume")
    assert r.exit_code == 0, r.output
    assert "starting from scratch" in r.output
    assert not any(p.exists() for p in stale)
    assert sorted(p.name for p in ck.iterdir()) == ["last.pt"]
    assert not any(is_temporary(p) for p in (tmp_path / "c").rglob("*"))
