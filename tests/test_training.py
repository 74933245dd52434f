"""Trainer: configs, exact resumption after SIGKILL, DDP on two CPU processes, NaN stop,
two-stage training with a frozen part, checkpoint format.

The network and data are the tiny stand-ins of ``test_training_plugin`` (a two-part net with
BatchNorm and dropout, 32x32 samples through the real DepthDataset + transforms); the loss is
the real ``rgb2depth.losses`` L1 unless a test needs a diverging one.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from rgb2depth.training.config import ConfigError, load_config

TESTS = Path(__file__).resolve().parent


def tiny_cfg(out: Path, **sections) -> dict:
    cfg = {
        "name": "tiny",
        "seed": 3,
        "output_dir": str(out),
        "imports": ["test_training_plugin"],
        "model": {"name": "tiny_two_part", "channels_last": False},
        "loss": {"name": "l1"},
        "data": {"factory": "test_training_plugin:dataset", "input_size": [32, 32],
                 "augment": {"hflip": 0.5, "rotate": 10}},
        "optim": {"name": "adam", "lr": 1e-2},
        "schedule": {"name": "step", "step_size": 1, "gamma": 0.5},
        "train": {"epochs": 2, "batch_size": 4, "threads": 1, "log_every": 1, "ckpt_every": 1,
                  "progress": False, "tensorboard": False, "grad_clip": 1.0},
        "eval": {"protocol": "none", "min_depth": 1e-3, "max_depth": 10.0},
    }
    for k, v in sections.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    return cfg


def write_cfg(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_inprocess(tmp_path: Path, name: str, **sections) -> tuple[dict, object]:
    from rgb2depth.training.trainer import Trainer

    cfg = load_config(write_cfg(tmp_path / f"{name}.yaml", tiny_cfg(tmp_path / name, **sections)))
    tr = Trainer(cfg)
    return tr.run(), tr


def sub_env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def state(path: Path) -> dict:
    rec = torch.load(path, map_location="cpu", weights_only=True)
    rec = rec["model"] if "model" in rec else rec
    return rec["state_dict"]


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs"


def assert_saved_model_scores_final_validation(path: Path, tr, summary: dict) -> None:
    """The saved model file, evaluated on the run's validation set, gives the run's last
    validation figures (so validation scored what was saved)."""
    from rgb2depth.evaluation.evaluate import evaluate_dataset
    from rgb2depth.models.io import load_model

    res = evaluate_dataset(load_model(path), tr.val_set, protocol="none", min_depth=1e-3, max_depth=10.0,
                           progress=False)
    assert res["metrics"]["rmse"] == pytest.approx(summary["final_val"]["rmse"], rel=1e-5)


def assert_config_error(tmp_path: Path, train: dict, match: str) -> None:
    bad = write_cfg(tmp_path / "bad.yaml", tiny_cfg(tmp_path / "bad", train=train))
    with pytest.raises(ConfigError, match=match):
        load_config(bad)


# ------------------------------------------------------------------------------ configs


def test_config_base_overrides_and_errors(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"name": "b", "model": {"name": "unet_realtime", "options": {"max_depth": 10}},
                                    "loss": {"name": "l1"}, "data": {"train": [{"name": "tum", "root": "${data}/tum/x"}]},
                                    "optim": {"lr": 0.1}}))
    child = tmp_path / "child.yaml"
    child.write_text("base: base.yaml\nname: c\noptim: {name: sgd}\n")
    cfg = load_config(child, ["train.epochs=7", "optim.momentum=0.5", "model.options.max_depth=20",
                              "data.train.0.root=/x"])
    assert cfg["name"] == "c" and cfg["output_dir"] == "runs/c"
    assert cfg["optim"] == {**cfg["optim"], "name": "sgd", "lr": 0.1, "momentum": 0.5}
    assert cfg["train"]["epochs"] == 7 and cfg["train"]["batch_size"] == 8  # default kept
    assert cfg["model"]["options"] == {"max_depth": 20}
    assert cfg["data"]["train"][0] == {"name": "tum", "root": "/x"}
    with pytest.raises(ConfigError, match="unknown config key 'train.epoch'"):
        load_config(child, ["train.epoch=3"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(child, ["train.epochs"])
    with pytest.raises(ConfigError, match="positive integer"):
        load_config(child, ["train.batch_size=0", "data.train.0.root=/x"])  # no ${data} needed
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")


def test_config_file_overrides_change_one_list_item(tmp_path):
    """A config's ``overrides:`` changes single items of its base's lists (replaced whole by a
    plain key) or appends one (``+``), in each file of a ``base`` chain in turn, before the
    command line's overrides; a wrong index or a non-mapping names the file."""
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({
        "name": "b", "model": {"name": "unet_realtime"},
        "loss": {"terms": [{"name": "silog", "weight": 1.0, "options": {"lam": 0.85}},
                           {"name": "gradient", "weight": 0.5}]},
        "data": {"train": [{"name": "tum", "root": "/a", "select": {"stop": 600}},
                           {"name": "synth", "count": 20, "size": [96, 128]}]}}))
    (tmp_path / "mid.yaml").write_text(
        "base: base.yaml\nname: m\noverrides:\n  loss.terms.1.weight: 2.0\n"
        "  data.train.0.select.repeat: 2\n")
    (tmp_path / "top.yaml").write_text(
        "base: mid.yaml\nname: t\noverrides:\n  data.train.1.size: [48, 64]\n"
        "  loss.terms.1.weight: 4.0\n  loss.terms.+: {name: ssi, weight: 0.5, samples: relative}\n")
    mid = load_config(tmp_path / "mid.yaml")
    assert [t["weight"] for t in mid["loss"]["terms"]] == [1.0, 2.0]
    assert mid["loss"]["terms"][0]["options"] == {"lam": 0.85}
    assert mid["data"]["train"][0] == {"name": "tum", "root": "/a", "select": {"stop": 600, "repeat": 2}}
    assert mid["data"]["train"][1]["size"] == [96, 128]
    top = load_config(tmp_path / "top.yaml", ["data.train.1.count=5"])
    assert [(t["name"], t["weight"]) for t in top["loss"]["terms"]] == [("silog", 1.0), ("gradient", 4.0), ("ssi", 0.5)]
    assert top["loss"]["terms"][2]["samples"] == "relative"  # "+" appended an item after the base's
    assert top["data"]["train"][0]["select"] == {"stop": 600, "repeat": 2}  # mid's, inherited
    assert top["data"]["train"][1] == {"name": "synth", "count": 5, "size": [48, 64]}
    assert "overrides" not in top
    (tmp_path / "bad_index.yaml").write_text("base: base.yaml\noverrides:\n  data.train.7.size: [1, 1]\n")
    with pytest.raises(ConfigError, match=r"bad_index\.yaml: override data\.train\.7\.size: no item '7'"):
        load_config(tmp_path / "bad_index.yaml")
    (tmp_path / "bad_kind.yaml").write_text("base: base.yaml\noverrides: [data.train.0.root=/x]\n")
    with pytest.raises(ConfigError, match=r"bad_kind\.yaml: 'overrides' must map dotted keys"):
        load_config(tmp_path / "bad_kind.yaml")


def test_config_data_variable(tmp_path, shared_data):
    p = write_cfg(tmp_path / "c.yaml", {"model": {"name": "m"}, "loss": {"name": "l1"},
                                        "data": {"train": [{"name": "tum", "root": "${data}/tum/a"}]}})
    cfg = load_config(p)
    assert cfg["data"]["train"][0]["root"] == f"{shared_data}/tum/a"


def test_shipped_configs_load():
    """Every shipped config resolves: its network builds (on the meta device: shapes only, no
    memory) and maps an input of its size to a one-channel map; every stage's loss, optimiser
    and schedule build; every data item either loads here (and is not empty) or names a file or
    folder this machine lacks (the full-size sets), never a misspelled loader or argument."""
    from rgb2depth.data.base import DataError
    from rgb2depth.paths import shared_data_dir
    from rgb2depth.training.builders import (
        build_loss,
        build_model,
        build_optimizer,
        build_scheduler,
    )
    from rgb2depth.training.data import build_source

    if shared_data_dir() is None:
        pytest.skip("configs use ${data}; shared data folder absent")
    files = sorted((TESTS.parent / "configs").glob("*.yaml"))
    assert len(files) >= 60, "configs/ lost files"
    present = absent = 0
    for f in files:
        cfg = load_config(f)
        with torch.device("meta"):
            model = build_model(cfg["model"], load_pretrained=False)
            size = cfg["data"]["input_size"] or model.meta.input_size
            y = model(torch.empty(2, model.meta.in_channels, *size))
        assert y.dim() == 4 and y.shape[:2] == (2, 1), (f.name, tuple(y.shape))
        for st in cfg["train"]["stages"] or [{}]:
            loss = build_loss({**cfg["loss"], **(st.get("loss") or {})})
            assert isinstance(loss, torch.nn.Module), f.name
            opt = build_optimizer({**cfg["optim"], **(st.get("optim") or {})}, model.parameters(), model)
            build_scheduler({**cfg["schedule"], **(st.get("schedule") or {})}, opt, int(cfg["train"]["epochs"]))
        assert cfg["data"]["train"], f.name
        for item in cfg["data"]["train"] + cfg["data"]["val"]:
            try:
                assert len(build_source(item)) > 0, (f.name, item)
                present += 1
            except DataError as e:  # the named path is not on this machine
                assert not Path(str(e).split(":")[0]).exists(), (f.name, str(e))
                absent += 1
    assert present > 20 and absent > 20  # both kinds really checked


# ------------------------------------------------------------------------------ training


def test_checkpoint_contents_and_two_stage_freezing(tmp_path):
    """Two stages (coarse, then fine with coarse frozen) versus the coarse stage alone: the
    coarse weights (and BatchNorm statistics) end identical, the fine part changed only in
    stage 2; checkpoints load with weights_only and hold everything needed to resume."""
    import test_training_plugin  # noqa: F401 - registers tiny_two_part in this process
    from rgb2depth import models
    from rgb2depth.models.io import load_model

    stages = [{"name": "coarse", "epochs": 1}, {"name": "fine", "epochs": 1, "freeze": ["coarse"]}]
    s1, _ = run_inprocess(tmp_path, "one", train={"stages": stages[:1]})
    s2, tr = run_inprocess(tmp_path, "two", train={"stages": stages})
    assert s1["steps"] == 6 and s2["steps"] == 12
    w1, w2 = state(tmp_path / "one" / "model.pt"), state(tmp_path / "two" / "model.pt")
    torch.manual_seed(3)
    w0 = models.create("tiny_two_part").state_dict()
    for k in w1:
        if k.startswith("coarse."):
            assert torch.equal(w1[k], w2[k]), k  # frozen in stage 2 (BN statistics too)
            if k.endswith("weight") and "num_batches" not in k:
                assert not torch.equal(w0[k], w1[k]), k  # but trained in stage 1
        elif k.startswith("fine."):
            assert torch.equal(w0[k], w1[k]), k  # stage 1 trains the coarse output only
            assert not torch.equal(w1[k], w2[k]), k
    ck = torch.load(tmp_path / "two" / "checkpoints" / "last.pt", weights_only=True)
    assert ck["format"] == "rgb2depth-checkpoint/1"
    assert {"model", "optimizer", "scheduler", "rng", "epoch", "step", "stage", "batch", "best"} <= ck.keys()
    assert {"python", "numpy", "torch"} <= ck["rng"].keys()
    assert ck["step"] == 12 and ck["stage"] == 1 and ck["epoch"] == 1 and ck["batch"] == 0
    assert ck["scheduler"]["last_epoch"] == 1
    m = load_model(tmp_path / "two" / "checkpoints" / "last.pt")
    assert_same_weights(m.state_dict(), w2)
    best = load_model(tmp_path / "two" / "checkpoints" / "best.pt")
    assert best.rgb2depth_info["best"]["metric"] == "rmse"
    lines = [json.loads(x) for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in lines if r["kind"] == "train"]
    assert train_steps == list(range(1, 13))
    vals = [r for r in lines if r["kind"] == "val"]
    assert [v["step"] for v in vals] == [6, 12] and all(v["rmse"] > 0 for v in vals)
    assert min(v["rmse"] for v in vals) == pytest.approx(best.rgb2depth_info["best"]["value"])
    assert s2["rank_digests"] == [s2["rank_digests"][0]]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    from rgb2depth.training.trainer import NonFiniteLossError, Trainer

    cfg = load_config(write_cfg(tmp_path / "c.yaml", tiny_cfg(
        tmp_path / "run", loss={"name": "test_training_plugin:nan_after", "options": {"after": 3}})))
    tr = Trainer(cfg)
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at step 4 .*last.pt \(step 3\)"):
        tr.run()
    ck = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert ck["step"] == 3
    # the failing step updated no weight: the checkpoint holds the parameters the run stopped
    # with (BatchNorm running statistics did see the failing forward pass, in memory only)
    params = dict(tr.model.named_parameters())
    saved = {k: v for k, v in ck["model"]["state_dict"].items() if k in params}
    assert_same_weights(saved, {k: v.detach() for k, v in params.items()})
    assert not (tmp_path / "run" / "model.pt").exists()


def test_cli_reports_nan_with_exit_code(tmp_path):
    from typer.testing import CliRunner

    from rgb2depth.cli import app

    p = write_cfg(tmp_path / "c.yaml", tiny_cfg(tmp_path / "run", loss={"name": "test_training_plugin:nan_after",
                                                                        "options": {"after": 1}}))
    r = CliRunner().invoke(app, ["train", "--config", str(p), "train.epochs=1"])
    assert r.exit_code == 3
    assert "step 2" in r.output
    r = CliRunner().invoke(app, ["train", "--config", str(p), "train.nope=1"])
    assert r.exit_code == 2 and "unknown config key 'train.nope'" in r.output


def test_cli_takes_the_config_as_first_argument_too(tmp_path):
    """``rgb2depth train CONFIG.yaml key=value`` resolves as ``--config CONFIG.yaml key=value``;
    with no config at all the error says how to give one."""
    from typer.testing import CliRunner

    from rgb2depth.cli import app

    p = write_cfg(tmp_path / "c.yaml", tiny_cfg(tmp_path / "run"))
    positional = CliRunner().invoke(app, ["train", str(p), "train.epochs=5", "--print-config"])
    option = CliRunner().invoke(app, ["train", "--config", str(p), "train.epochs=5", "--print-config"])
    assert positional.exit_code == 0 and positional.stdout == option.stdout
    assert yaml.safe_load(positional.stdout)["train"]["epochs"] == 5
    r = CliRunner().invoke(app, ["train", "train.epochs=5"])
    assert r.exit_code == 2 and r.stderr.startswith("error: no config: rgb2depth train CONFIG.yaml")


def _wait_for_step(metrics: Path, proc: subprocess.Popen, step: int, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"training ended (rc {proc.returncode}) before step {step}")
        if metrics.exists():
            for line in metrics.read_text().splitlines():
                try:
                    if json.loads(line).get("step", 0) >= step:
                        return
                except json.JSONDecodeError:
                    pass
        time.sleep(0.02)
    raise AssertionError("timed out waiting for the run")


def test_sigkill_resume_reaches_identical_weights(tmp_path):
    """A two-stage run checkpointing every step, killed with SIGKILL twice (once per stage) and
    resumed each time, ends with exactly the weights of an uninterrupted run, and with exactly
    its moving average of the weights (``train.ema_decay``)."""
    stages = [{"name": "coarse", "epochs": 1}, {"name": "fine", "epochs": 1, "freeze": ["coarse"]}]
    train = {**tiny_cfg(tmp_path)["train"], "stages": stages, "ema_decay": 0.8}
    ref, _ = run_inprocess(tmp_path, "ref", train=train)
    cfg_path = write_cfg(tmp_path / "victim.yaml", tiny_cfg(tmp_path / "victim", train=train))
    cmd = [sys.executable, "-m", "rgb2depth", "train", "--config", str(cfg_path)]
    env = sub_env(R2D_TEST_SAMPLE_DELAY=0.02)
    metrics = tmp_path / "victim" / "metrics.jsonl"
    for i, kill_at in enumerate((3, 8)):
        p = subprocess.Popen(cmd + (["--resume"] if i else []), env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        _wait_for_step(metrics, p, kill_at)
        p.send_signal(signal.SIGKILL)
        p.wait()
        assert not (tmp_path / "victim" / "model.pt").exists()
    r = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "resumed from" in r.stdout
    # the weight average (model.pt) and the last weights as trained, both exactly
    for name in ("model.pt", "model_unaveraged.pt"):
        assert_same_weights(state(tmp_path / "ref" / name), state(tmp_path / "victim" / name))
    assert not torch.equal(state(tmp_path / "ref" / "model.pt")["coarse.0.weight"],
                           state(tmp_path / "ref" / "model_unaveraged.pt")["coarse.0.weight"])
    # the metrics log of the killed-and-resumed run is the uninterrupted one (no repeats)
    steps = [json.loads(x)["step"] for x in metrics.read_text().splitlines() if '"train"' in x]
    assert steps == list(range(1, 13))
    assert ref["steps"] == 12


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_cpu_processes_end_identical(tmp_path):
    """torchrun with two gloo processes on loopback, two stages (the second with a frozen part):
    both ranks end with the same weights, which differ from the initial ones; only rank 0
    writes files."""
    stages = [{"name": "coarse", "epochs": 1}, {"name": "fine", "epochs": 1, "freeze": ["coarse"]}]
    cfg_path = write_cfg(tmp_path / "ddp.yaml", tiny_cfg(tmp_path / "ddp", train={
        **tiny_cfg(tmp_path)["train"], "ckpt_every": 0, "stages": stages}))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
           "-m", "rgb2depth", "train", "--config", str(cfg_path)]
    r = subprocess.run(cmd, env=sub_env(GLOO_SOCKET_IFNAME="lo"), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["world_size"] == 2
    d = summary["rank_digests"]
    assert len(d) == 2 and d[0] == d[1]
    # 24 samples / 2 ranks / batch 4 = 3 steps per epoch, 2 epochs
    assert summary["steps"] == 6
    import test_training_plugin  # noqa: F401 - registers tiny_two_part in this process
    from rgb2depth import models
    from rgb2depth.training.trainer import params_digest

    torch.manual_seed(3)
    assert params_digest(models.create("tiny_two_part")) != d[0]
    assert r.stdout.count("done: 6 steps") == 1  # rank 0 logs, rank 1 is silent


def test_config_changing_the_loss_drops_the_base_loss_options(tmp_path):
    """A child config that names another loss must not inherit the base loss's options (the
    combined loss's alpha/beta/gamma made 'silog' fail); a wrong option is a one-line error."""
    from rgb2depth.training.config import ConfigError, load_config
    from rgb2depth.training.trainer import build_loss

    (tmp_path / "base.yaml").write_text(
        "name: b\nmodel: {name: cnn}\ndata: {train: [{name: synth, count: 1}]}\nloss: {name: combined, options: {alpha: 2.0, beta: 1.0, gamma: 5.0}}\n"
    )
    (tmp_path / "child.yaml").write_text("base: base.yaml\nname: c\nloss: {name: berhu}\n")
    (tmp_path / "same.yaml").write_text("base: base.yaml\nname: s\nloss: {options: {gamma: 1.0}}\n")
    child = load_config(tmp_path / "child.yaml")
    assert child["loss"]["name"] == "berhu" and child["loss"]["options"] == {}
    assert type(build_loss(child["loss"])).__name__ == "BerHuLoss"
    same = load_config(tmp_path / "same.yaml")  # same loss: options still merge
    assert same["loss"]["options"] == {"alpha": 2.0, "beta": 1.0, "gamma": 1.0}
    with pytest.raises(ConfigError, match=r"'silog' with options \{'beta': 1.0\}.*beta"):
        build_loss({"name": "silog", "options": {"beta": 1.0}})


def test_lr_mult_trains_a_part_at_its_own_rate(tmp_path):
    """optim.lr_mult: the named part's Adam steps are lr * factor (Adam's first step moves every
    weight with a gradient by lr), the rest at lr; the cosine schedule keeps the ratio; a bad
    factor or an unknown part is a one-line error naming the key."""
    from rgb2depth.training.builders import base_lr, build_optimizer, build_scheduler
    from rgb2depth.training.config import ConfigError, load_config

    torch.manual_seed(0)
    model = torch.nn.Sequential()
    model.add_module("encoder", torch.nn.Linear(4, 4))
    model.add_module("decoder", torch.nn.Linear(4, 1))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = build_optimizer({"name": "adam", "lr": 1e-2, "lr_mult": {"encoder": 0.1}}, model.parameters(), model)
    assert [g["name"] for g in opt.param_groups] == ["encoder", "rest"] and base_lr(opt) == 1e-2
    sched = build_scheduler({"name": "cosine", "min_lr": 0.0}, opt, 4)
    model(torch.randn(8, 4)).pow(2).mean().backward()
    opt.step()
    for n, p in model.named_parameters():
        step = (p.detach() - before[n]).abs()
        want = 1e-3 if n.startswith("encoder") else 1e-2
        assert torch.allclose(step, torch.full_like(step, want), rtol=1e-3), (n, step)
    sched.step()
    enc, rest = (g["lr"] for g in opt.param_groups)
    assert abs(enc / rest - 0.1) < 1e-9 and rest < 1e-2
    with pytest.raises(ValueError, match="optim.lr_mult: 'backbone': not a part of the model"):
        build_optimizer({"name": "adam", "lr": 1e-2, "lr_mult": {"backbone": 0.1}}, model.parameters(), model)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodel: {name: c}\nloss: {name: l1}\ndata: {train: [{name: folder, root: x}]}\noptim: {lr_mult: {encoder: -1}}\n")
    with pytest.raises(ConfigError, match="optim.lr_mult"):
        load_config(bad)


@pytest.mark.parametrize("given, local, want", [("cuda", "1", "cuda:1"), ("cuda:0", "1", "cuda:0"), ("cpu", "1", "cpu")])
def test_distributed_setup_gives_each_process_its_own_gpu(monkeypatch, given, local, want):
    """``--device cuda`` under torchrun: the process of LOCAL_RANK k takes GPU k (an explicit
    index is kept); set_device is called with that GPU."""
    from rgb2depth.training import distributed

    chosen = []
    monkeypatch.setattr(distributed.torch.cuda, "set_device", lambda d: chosen.append(str(d)))
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", local)
    info = distributed.setup(given)
    assert info.device == want and chosen == ([want] if want.startswith("cuda") else [])


def test_weight_average_follows_the_moving_average_formula_and_resumes():
    """WeightAverage: the first update copies the weights, each later one is d * avg + (1 - d) *
    w, over parameters and BatchNorm running statistics alike; its state dict continues the
    average exactly; a decay that differs from the checkpoint's, or outside [0, 1), is named."""
    from rgb2depth.training.ema import WeightAverage

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    d = 0.75
    avg = WeightAverage(net, d)
    seen = []
    for _ in range(3):
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(torch.randn_like(p))
            net.train()(torch.randn(5, 3))  # moves the BatchNorm running statistics
        seen.append({k: v.clone() for k, v in net.state_dict().items()})
        avg.update(net)
    for k in ("0.weight", "0.bias", "1.weight", "1.running_mean", "1.running_var"):
        want = seen[0][k]
        for w in seen[1:]:
            want = d * want + (1 - d) * w[k]
        assert torch.allclose(avg.module.state_dict()[k], want, atol=1e-6), k
    assert avg.updates == 3

    again = WeightAverage(net, d)
    again.load_state_dict(avg.state_dict(), "ck.pt")
    for a in (avg, again):
        a.update(net)
    assert_same_weights(avg.module.state_dict(), again.module.state_dict())
    with pytest.raises(ValueError, match=r"ck.pt: .*decay 0.75.*train.ema_decay = 0.5"):
        WeightAverage(net, 0.5).load_state_dict(avg.state_dict(), "ck.pt")
    with pytest.raises(ValueError, match=r"train.ema_decay must be in \[0, 1\)"):
        WeightAverage(net, 1.0)


def test_trainer_saves_the_average_of_its_steps_and_the_last_weights_beside_it(tmp_path):
    """With train.ema_decay the run's model.pt is the moving average of the weights after each
    step, computed here by hand from runs stopped after 1, 2 and 3 steps (sample order and
    augmentation do not depend on where a run stops); model_unaveraged.pt is the 3-step weights;
    validation scores the average; a bad decay is a config error naming the key."""
    steps = []
    for k in (1, 2, 3):
        run_inprocess(tmp_path, f"k{k}", train={"max_steps": k})
        steps.append(state(tmp_path / f"k{k}" / "model.pt"))
    summary, tr = run_inprocess(tmp_path, "ema", train={"max_steps": 3, "ema_decay": 0.6})
    avg, last = state(tmp_path / "ema" / "model.pt"), state(tmp_path / "ema" / "model_unaveraged.pt")
    assert_same_weights(last, steps[2])
    for k, v in avg.items():
        if not v.is_floating_point():
            continue
        want = steps[0][k]
        for w in steps[1:]:
            want = 0.6 * want + 0.4 * w[k]
        assert torch.allclose(v, want, atol=1e-6), k
        if k.endswith("weight"):
            assert not torch.equal(v, last[k]), k
    from rgb2depth.models.io import load_model

    m = load_model(tmp_path / "ema" / "model.pt")
    assert "moving average" in m.rgb2depth_info["weights"]
    assert_saved_model_scores_final_validation(tmp_path / "ema" / "model.pt", tr, summary)
    assert_config_error(tmp_path, {"ema_decay": 1.5}, r"train.ema_decay must be a number in \[0, 1\)")


def test_precise_bn_saves_batchnorm_statistics_averaged_over_training_batches(tmp_path):
    """With train.precise_bn: N the saved network's BatchNorm statistics are the equal-weight
    mean over N training batches of each batch's channel mean and unbiased variance (computed
    here by hand from the trained weights in last.pt, on the samples a seeded draw picks);
    the weights are the trained ones, validation scores the recalibrated copy, the checkpoint
    keeps the trained network's own statistics, and a bad value is a config error naming the key."""
    import numpy as np

    from rgb2depth.models.io import load_model
    from rgb2depth.training.data import collate

    summary, tr = run_inprocess(tmp_path, "pbn", train={"max_steps": 2, "precise_bn": 3})
    saved = state(tmp_path / "pbn" / "model.pt")
    trained = state(tmp_path / "pbn" / "checkpoints" / "last.pt")
    for k, v in saved.items():
        if "coarse.1." not in k:
            assert torch.equal(v, trained[k]), k
    assert not torch.allclose(saved["coarse.1.running_mean"], trained["coarse.1.running_mean"])

    net = load_model(tmp_path / "pbn" / "model.pt")
    net.load_state_dict(trained)
    order = np.random.default_rng(3 + 2).permutation(len(tr.train_set))[:12]  # seed + step
    means, variances = [], []
    with torch.no_grad():
        for b in range(3):
            x = collate([tr.train_set[int(i)] for i in order[4 * b:4 * b + 4]])["image"]
            h = net.coarse[0](net.norm(x))
            means.append(h.mean((0, 2, 3)))
            variances.append(h.var((0, 2, 3), unbiased=True))
    assert torch.allclose(saved["coarse.1.running_mean"], torch.stack(means).mean(0), atol=1e-5)
    assert torch.allclose(saved["coarse.1.running_var"], torch.stack(variances).mean(0), rtol=1e-4)

    m = load_model(tmp_path / "pbn" / "model.pt")
    assert m.rgb2depth_info["precise_bn"] == {"batches": 3, "seed": 5}
    assert_saved_model_scores_final_validation(tmp_path / "pbn" / "model.pt", tr, summary)
    assert_config_error(tmp_path, {"precise_bn": 0}, r"train.precise_bn must be a positive number of batches")


def test_precise_bn_script_recomputes_what_the_trainer_does(tmp_path):
    """benchmarks/precise_bn.py (how the shipped default model got its statistics) applied to
    a run trained without precise BN gives bit-for-bit the file the trainer writes with
    train.precise_bn: same samples, same augmentation, same seed (config seed + steps)."""
    train = {"epochs": 1, "ckpt_every": 0}
    run_inprocess(tmp_path, "plain", train=train)
    run_inprocess(tmp_path, "pbn", train={**train, "precise_bn": 2})
    cfg = write_cfg(tmp_path / "plain.yaml", tiny_cfg(tmp_path / "plain", train=train))
    out = tmp_path / "recal.pt"
    r = subprocess.run([sys.executable, str(TESTS.parent / "benchmarks" / "precise_bn.py"), str(out),
                        str(tmp_path / "plain" / "model.pt"), "--config", str(cfg), "--batches", "2"],
                       env=sub_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "seed 9" in r.stdout  # config seed 3 + 6 steps (24 samples, batch 4)
    assert_same_weights(state(out), state(tmp_path / "pbn" / "model.pt"))
    plain = state(tmp_path / "plain" / "model.pt")
    assert not torch.equal(plain["coarse.1.running_var"], state(out)["coarse.1.running_var"])


def test_tensorboard_events_match_the_metrics_file(tmp_path):
    """The run's TensorBoard scalars are the numbers of its metrics.jsonl, step for step (read
    back with TensorBoard's own event reader), and each validation adds its image grid."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_inprocess(tmp_path, "tb", train={"tensorboard": True, "num_vis": 2})
    records = [json.loads(line) for line in (tmp_path / "tb" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    val = [r for r in records if r["kind"] == "val"]
    assert len(train) >= 4 and len(val) == 2
    events = EventAccumulator(str(tmp_path / "tb" / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    loss = {e.step: e.value for e in events.Scalars("train/loss")}
    assert loss == pytest.approx({r["step"]: r["loss"] for r in train}, rel=1e-6)
    lr = {e.step: e.value for e in events.Scalars("train/lr")}
    assert lr == pytest.approx({r["step"]: r["lr"] for r in train}, rel=1e-6)
    delta1 = {e.step: e.value for e in events.Scalars("val/delta1")}
    assert delta1 == pytest.approx({r["step"]: r["delta1"] for r in val}, rel=1e-6)
    assert [e.step for e in events.Images("val/rgb_gt_pred_error")] == [r["step"] for r in val]
