"""The training path the shipped model goes through, on real files the tests write.

Unlike ``test_training`` (whose data comes from a plugin factory), every test here reads
folder datasets (``rgb/*.png``, ``depth/*.png`` uint16 millimetres, ``intrinsics.json``) through
``training/data.py``: ``select`` (start/stop/stride/limit/repeat), the concatenation of several
sources, the decode cache and its ``cache_dir``, the intrinsics each batch carries (``K``), the
weighted losses, ``model.init`` fine-tuning and the canonical-camera targets of ``lite_depth``.
Sizes are tiny (48x64 files, 32x48 network input, a narrow ``unet_realtime``) so each test takes
seconds on one thread.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from rgb2depth.data.folder import FolderWriter
from rgb2depth.geometry.camera import Intrinsics
from rgb2depth.training.config import load_config

FILE_H, FILE_W = 48, 64  # size of the written images
IN_H, IN_W = 32, 48  # network input: K scales by 48/64 in x and 32/48 in y
#: A narrow unet_realtime (the real network class, a few thousand parameters).
NET = {"features": 4, "encoder": [4, 8, 8, 8], "decoder": [8, 8, 8, 4]}
K_A = Intrinsics(60.0, 58.0, 31.5, 23.5, FILE_W, FILE_H)
K_B = Intrinsics(52.0, 50.0, 30.0, 25.0, FILE_W, FILE_H)


def write_folder(root: Path, prefix: str, n: int, K: Intrinsics | None, seed: int) -> Path:
    """``n`` smooth RGB-D frames (depth 0.5-4 m, a few zero = invalid pixels) in the folder layout."""
    rng = np.random.default_rng(seed)
    w = FolderWriter(root)
    yy, xx = np.mgrid[0:FILE_H, 0:FILE_W].astype(np.float32)
    for i in range(n):
        a, b = rng.uniform(-0.8, 0.8, 2)
        depth = 2.0 + a * (xx / FILE_W - 0.5) * 2 + b * (yy / FILE_H - 0.5) * 2 + 0.3 * i / n
        depth = np.round(depth * 1000) / 1000  # millimetres, as stored
        depth[rng.uniform(size=depth.shape) < 0.03] = 0.0
        rgb = np.stack([depth / 4 * 255, xx / FILE_W * 255, rng.uniform(0, 255, depth.shape)], -1)
        w.write(f"{prefix}{i:03d}", np.clip(rgb, 0, 255).astype(np.uint8), depth.astype(np.float32), K)
    return root


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """Three folders: ``a`` (7 frames, camera K_A), ``b`` (5 frames, K_B), ``c`` (3, no intrinsics)."""
    root = tmp_path_factory.mktemp("folders")
    return {"a": write_folder(root / "a", "a", 7, K_A, 1), "b": write_folder(root / "b", "b", 5, K_B, 2),
            "c": write_folder(root / "c", "c", 3, None, 3)}


def config(out: Path, items: list[dict], **sections) -> dict:
    cfg = {
        "name": "pipeline", "seed": 0, "output_dir": str(out),
        "model": {"name": "unet_realtime", "options": dict(NET), "channels_last": False},
        "loss": {"name": "l1"},
        "data": {"train": items, "input_size": [IN_H, IN_W], "augment": {}},
        "optim": {"name": "adam", "lr": 1e-3},
        "train": {"epochs": 1, "batch_size": 2, "threads": 1, "log_every": 1, "progress": False,
                  "tensorboard": False},
        "eval": {"protocol": "none", "min_depth": 1e-3, "max_depth": 10.0},
    }
    for k, v in sections.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    return cfg


def load(path: Path, cfg: dict, overrides: tuple[str, ...] = ()) -> dict:
    path.write_text(yaml.safe_dump(cfg))
    return load_config(path, list(overrides))


def records(out: Path, kind: str) -> list[dict]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def folder_item(root: Path, **select) -> dict:
    return {"name": "folder", "root": str(root), **({"select": select} if select else {})}


# ------------------------------------------------------------------------------ select, concat, steps, val, loss terms


def test_config_with_two_folders_selects_trains_and_validates(tmp_path, folders):
    from typer.testing import CliRunner

    from rgb2depth.cli import app
    from rgb2depth.models import to_metres
    from rgb2depth.models.io import load_model
    from rgb2depth.training.data import build_dataset

    # a: range(7)[1:7:2] = [1, 3, 5] -> limit 2 -> [1, 3] -> repeat 3 -> 6 samples; b: [2, 3, 4]
    train = [folder_item(folders["a"], start=1, stop=7, stride=2, limit=2, repeat=3),
             folder_item(folders["b"], start=2)]
    val = [folder_item(folders["b"], stop=2), folder_item(folders["a"], start=5)]  # b0 b1 a5 a6
    out = tmp_path / "run"
    cfg_path = tmp_path / "pipeline.yaml"
    cfg = load(cfg_path, config(out, train, data={"val": val}, train={"epochs": 2},
                                loss={"terms": [{"name": "l1", "weight": 2.0}, {"name": "berhu", "weight": 1.0}]}))

    ds = build_dataset(cfg, "train", seed=0)
    assert len(ds) == 9
    assert [ds.raw(i)["id"] for i in range(9)] == ["a001", "a003"] * 3 + ["b002", "b003", "b004"]
    vs = build_dataset(cfg, "val", seed=0)
    assert [vs.raw(i)["id"] for i in range(len(vs))] == ["b000", "b001", "a005", "a006"]

    r = CliRunner().invoke(app, ["train", "--config", str(cfg_path)])
    assert r.exit_code == 0, r.output

    # 9 samples, batches of 2, drop_last: 4 steps per epoch, 2 epochs
    tr = records(out, "train")
    assert [(x["epoch"], x["batch"], x["step"]) for x in tr] == [(e, b, 4 * e + b + 1) for e in range(2) for b in range(4)]
    assert json.loads((out / "summary.json").read_text())["steps"] == 8
    # logged terms of the weighted loss: total = (2 l1 + 1 berhu) / 3 (weights normalised)
    for x in tr:
        assert set(x["terms"]) == {"l1", "berhu"}
        assert all(math.isfinite(v) and v > 0 for v in x["terms"].values())
        assert x["loss"] == pytest.approx((2 * x["terms"]["l1"] + x["terms"]["berhu"]) / 3, rel=1e-5)

    # validation after each epoch; the last one scores the saved model on b0 b1 a5 a6
    va = records(out, "val")
    assert [x["step"] for x in va] == [4, 8]
    model = load_model(out / "model.pt").eval()
    rmse = []
    for i in range(len(vs)):
        s = vs[i]
        with torch.no_grad():
            pred = to_metres(model(s["image"][None]), model.meta)[0, 0].numpy()
        gt, ok = s["depth"][0].numpy(), s["valid"][0].numpy()
        rmse.append(np.sqrt(np.mean((pred[ok].astype(np.float64) - gt[ok]) ** 2)))
    assert va[-1]["rmse"] == pytest.approx(float(np.mean(rmse)), rel=1e-4)


def test_registry_weighted_loss_logs_its_terms(tmp_path, folders):
    """``loss: {name: weighted, options: {terms: [...]}}``: weights as given, not normalised."""
    from rgb2depth.training.trainer import Trainer

    terms = [{"name": "l1", "weight": 1.0}, {"name": "mse", "weight": 0.5}]
    out = tmp_path / "run"
    cfg = load(tmp_path / "c.yaml", config(out, [folder_item(folders["b"])],
                                           loss={"name": "weighted", "options": {"terms": terms}}))
    assert Trainer(cfg).run()["steps"] == 2  # 5 samples, batches of 2
    tr = records(out, "train")
    assert len(tr) == 2
    for x in tr:
        assert set(x["terms"]) == {"l1", "mse"} and all(math.isfinite(v) for v in x["terms"].values())
        assert x["loss"] == pytest.approx(x["terms"]["l1"] + 0.5 * x["terms"]["mse"], rel=1e-5)


# ------------------------------------------------------------------------------ model.init


def init_file(path: Path, **options) -> dict:
    """A ``unet_realtime`` model file with weights (and BN statistics) no fresh build has."""
    from rgb2depth import models
    from rgb2depth.models.io import save_model

    net = models.create("unet_realtime", **{**NET, **options})
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for k, v in net.state_dict().items():
            if v.is_floating_point():
                v.copy_(torch.rand(v.shape, generator=g) + (0.5 if k.endswith("running_var") else -0.5))
    save_model(net, path)
    return {k: v.clone() for k, v in net.state_dict().items()}


def setup_trainer(cfg: dict):
    from rgb2depth.training.trainer import Trainer

    tr = Trainer(cfg)
    tr._setup()
    return tr


def test_model_init_strict_loads_every_tensor(tmp_path, folders):
    sd = init_file(tmp_path / "init.pt")
    cfg = load(tmp_path / "c.yaml", config(tmp_path / "run", [folder_item(folders["b"])],
                                           model={"init": str(tmp_path / "init.pt")}))
    own = setup_trainer(cfg).model.state_dict()
    assert own.keys() == sd.keys()
    for k in sd:
        assert torch.equal(own[k], sd[k]), k
    fresh = setup_trainer({**cfg, "model": {**cfg["model"], "init": None}}).model.state_dict()
    assert not torch.equal(fresh["head.weight"], sd["head.weight"])  # the file's weights came from the file


def test_model_init_non_strict_copies_matching_tensors_and_names_the_rest(tmp_path, folders, capsys):
    from rgb2depth import models
    from rgb2depth.training.trainer import load_init_weights

    sd = init_file(tmp_path / "init.pt")
    # last decoder block 4 -> 6 wide: its two convs and the head's weight change shape
    other = {**NET, "decoder": [8, 8, 8, 6]}
    skipped = ["decoder.3.0.0.bias", "decoder.3.0.0.weight", "decoder.3.1.0.bias", "decoder.3.1.0.weight", "head.weight"]
    fresh = models.create("unet_realtime", **other)
    shapes = {k: (tuple(sd[k].shape), tuple(v.shape)) for k, v in fresh.state_dict().items() if k in skipped}
    info = load_init_weights(fresh, str(tmp_path / "init.pt"), strict=False)
    assert info["loaded"] == [k for k in sd if k not in skipped]
    assert info["skipped"] == {k: f"shape {shapes[k][0]} in the file, {shapes[k][1]} in the model" for k in skipped}
    assert info["not_included"] == 0 and info["include"] == [] and info["tensors"] == len(sd)

    cfg = load(tmp_path / "c.yaml", config(tmp_path / "run", [folder_item(folders["b"])],
                                           model={"options": other, "init": str(tmp_path / "init.pt"),
                                                  "strict_init": False}))
    own = setup_trainer(cfg).model.state_dict()
    log = capsys.readouterr().out
    assert f"loaded {len(sd) - 5} of the model's {len(sd)} tensors; skipped 5: 5 shape mismatch: " in log
    assert f"head.weight [{shapes['head.weight'][0]} in the file, {shapes['head.weight'][1]} in the model]" in log
    report = json.loads((tmp_path / "run" / "init_report.json").read_text())
    assert report["file"] == str(tmp_path / "init.pt") and sorted(report["skipped"]) == skipped
    for k in sd:
        if k in skipped:
            assert own[k].shape != sd[k].shape
        else:
            assert torch.equal(own[k], sd[k]), k


def test_model_init_include_loads_only_the_named_part(tmp_path, folders, capsys):
    """``init_include``: a part of ``model.parts()`` or a weight-name prefix; the rest keeps the
    values of a fresh (seeded) build; strict by default on the included tensors."""
    import test_training_plugin  # noqa: F401 - registers tiny_two_part
    from rgb2depth import models
    from rgb2depth.models.io import save_model
    from rgb2depth.training.trainer import load_init_weights

    torch.manual_seed(1)
    donor = models.create("tiny_two_part")
    save_model(donor, tmp_path / "donor.pt")
    torch.manual_seed(2)
    net = models.create("tiny_two_part")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    info = load_init_weights(net, str(tmp_path / "donor.pt"), include=["fine"])  # a part
    fine = [k for k in before if k.startswith("fine.")]
    assert fine and info["loaded"] == fine and info["skipped"] == {}
    assert info["not_included"] == len(before) - len(fine) and info["include"] == ["fine"]
    for k, v in net.state_dict().items():
        assert torch.equal(v, (donor.state_dict() if k in fine else before)[k]), k
        if k in fine and v.is_floating_point():
            assert not torch.equal(v, before[k]), k  # the two seeds differ, so it really came from the file

    # a prefix; a tensor under it missing from the file: strict -> one line naming file and tensor
    partial = {k: v for k, v in donor.state_dict().items() if k != fine[0]}
    torch.save({**partial, "fine.extra": torch.zeros(2)}, tmp_path / "partial.pt")
    with pytest.raises(ValueError) as e:
        load_init_weights(models.create("tiny_two_part"), str(tmp_path / "partial.pt"), include=["fine"])
    msg = str(e.value)
    assert len(msg.splitlines()) == 1 and str(tmp_path / "partial.pt") in msg and fine[0] in msg
    info = load_init_weights(models.create("tiny_two_part"), str(tmp_path / "partial.pt"), strict=False,
                             include=["fine"])
    assert info["skipped"] == {fine[0]: "missing from the file", "fine.extra": "not in the model"}
    assert info["loaded"] == fine[1:]
    with pytest.raises(ValueError, match="init_include: 'nope' is not a part"):
        load_init_weights(models.create("tiny_two_part"), str(tmp_path / "donor.pt"), include=["nope"])

    # in a config: the log names the part and the counts; a partial init reads the pretrained options
    cfg = load(tmp_path / "c.yaml", config(tmp_path / "run", [folder_item(folders["b"])],
                                           model={"name": "tiny_two_part", "options": {},
                                                  "init": str(tmp_path / "donor.pt"), "init_include": ["fine"]}))
    own = setup_trainer(cfg).model.state_dict()
    assert f"loaded {len(fine)} of the model's {len(before)} tensors (init_include fine; " \
           f"{len(before) - len(fine)} others keep their built values)" in capsys.readouterr().out
    assert all(torch.equal(own[k], donor.state_dict()[k]) for k in fine)
    from rgb2depth.training.config import ConfigError

    with pytest.raises(ConfigError, match="model.init_include is set but model.init"):
        load(tmp_path / "d.yaml", config(tmp_path / "run2", [folder_item(folders["b"])],
                                         model={"init_include": ["fine"]}))


def test_model_init_strict_mismatch_is_one_line_naming_the_file(tmp_path, folders):
    from typer.testing import CliRunner

    from rgb2depth.cli import app

    init_file(tmp_path / "init.pt")
    cfg = config(tmp_path / "run", [folder_item(folders["b"])],
                 model={"options": {**NET, "decoder": [8, 8, 8, 6]}, "init": str(tmp_path / "init.pt")})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    r = CliRunner().invoke(app, ["train", "--config", str(tmp_path / "c.yaml")])
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path / "init.pt") in err and "decoder.3.0.0" in err, err
    assert not (tmp_path / "run" / "model.pt").exists()


# ------------------------------------------------------------------------------ decode cache


def samples(ds) -> list[dict]:
    return [ds.raw(i) for i in range(len(ds))]


def assert_same_samples(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x["id"] == y["id"] and x["K"] == y["K"]
        for k in ("rgb", "depth", "valid"):
            assert x[k].dtype == y[k].dtype and np.array_equal(x[k], y[k], equal_nan=k == "depth"), (x["id"], k)


def test_cache_dir_second_run_reads_the_npz_files(tmp_path, folders):
    import shutil

    from rgb2depth.training.data import build_dataset

    src = tmp_path / "a"
    shutil.copytree(folders["a"], src)
    cache = tmp_path / "cache"
    items = [folder_item(src, stride=3), folder_item(folders["c"])]  # a0 a3 a6 c0 c1 c2
    cfg = load(tmp_path / "c.yaml", config(tmp_path / "run", items, data={"cache_dir": str(cache)}))
    first = build_dataset(cfg, "train", seed=0)
    assert [s["id"] for s in samples(first)] == ["a000", "a003", "a006", "c000", "c001", "c002"]
    assert len(list(cache.rglob("*.npz"))) == 6
    # the same samples decoded without the disk cache
    assert_same_samples(samples(first), samples(build_dataset({**cfg, "data": {**cfg["data"], "cache_dir": None}},
                                                              "train", seed=0)))

    # overwrite the source images: a second run must read the cached arrays, not the files
    for p in (src / "rgb").glob("*.png"):
        p.write_bytes((src / "rgb" / "a001.png").read_bytes())
    second = build_dataset(cfg, "train", seed=0)
    assert_same_samples(samples(first), samples(second))
    decoded = samples(build_dataset({**cfg, "data": {**cfg["data"], "cache_dir": None}}, "train", seed=0))
    assert not np.array_equal(decoded[0]["rgb"], first.raw(0)["rgb"])  # the files did change
    for i in range(len(first)):
        a, b = first[i], second[i]
        assert all(torch.equal(a[k], b[k]) for k in ("image", "valid")), i
        assert torch.equal(a["depth"].nan_to_num(-1), b["depth"].nan_to_num(-1)) and torch.equal(a["K"].nan_to_num(-1), b["K"].nan_to_num(-1))


def test_cache_dir_keeps_different_selections_and_splits_apart(tmp_path, folders):
    """One cache_dir shared by a train split, a val split and a run with another selection:
    every dataset still holds its own samples."""
    from rgb2depth.training.data import build_dataset

    cache = tmp_path / "cache"
    cfg = load(tmp_path / "c.yaml", config(
        tmp_path / "run", [folder_item(folders["a"], stride=2), folder_item(folders["b"])],
        data={"cache_dir": str(cache), "val": [folder_item(folders["b"], start=1), folder_item(folders["a"])]}))
    train, val = build_dataset(cfg, "train", seed=0), build_dataset(cfg, "val", seed=0)
    assert [s["id"] for s in samples(train)] == ["a000", "a002", "a004", "a006"] + [f"b{i:03d}" for i in range(5)]
    assert [s["id"] for s in samples(val)] == [f"b{i:03d}" for i in range(1, 5)] + [f"a{i:03d}" for i in range(7)]
    other = {**cfg, "data": {**cfg["data"], "train": [folder_item(folders["a"], start=1, stride=2)]}}
    assert [s["id"] for s in samples(build_dataset(other, "train", seed=0))] == ["a001", "a003", "a005"]


def test_cache_dir_files_are_shared_by_lists_that_name_the_same_item(tmp_path, folders):
    """A sample's cache file is named by its loader's config item and its index there: another
    selection, another list or another split reaching the same sample reads the same file (a
    changed list no longer decodes every source again), and another item never does."""
    from rgb2depth.training.data import build_dataset

    cache = tmp_path / "cache"
    cfg = load(tmp_path / "c.yaml", config(tmp_path / "run", [folder_item(folders["a"], stride=2)],
                                           data={"cache_dir": str(cache)}))
    samples(build_dataset(cfg, "train", seed=0))  # a0 a2 a4 a6
    assert len(list(cache.rglob("*.npz"))) == 4
    other = {**cfg, "data": {**cfg["data"], "train": [folder_item(folders["c"]), folder_item(folders["a"], start=1)]}}
    got = samples(build_dataset(other, "train", seed=0))  # c0 c1 c2, then a1..a6 of which a2 a4 a6 are on disk
    assert [s["id"] for s in got] == ["c000", "c001", "c002"] + [f"a{i:03d}" for i in range(1, 7)]
    assert len(list(cache.rglob("*.npz"))) == 4 + 3 + 3  # only c0-c2 and a1 a3 a5 were new
    assert_same_samples(got, samples(build_dataset({**other, "data": {**other["data"], "cache_dir": None}},
                                                   "train", seed=0)))


# ------------------------------------------------------------------------------ K in batches, canonical camera


def test_batches_carry_K_scaled_to_the_input_size(tmp_path, folders):
    from torch.utils.data import DataLoader

    from rgb2depth.training.data import build_dataset, collate

    cfg = load(tmp_path / "c.yaml", config(tmp_path / "run", [folder_item(folders["a"], limit=1),
                                                                folder_item(folders["b"], limit=1),
                                                                folder_item(folders["c"], limit=1)]))
    batch = next(iter(DataLoader(build_dataset(cfg, "train", seed=0), batch_size=3, collate_fn=collate)))
    assert batch["id"] == ["a000", "b000", "c000"]
    assert batch["image"].shape == (3, 3, IN_H, IN_W)
    sx, sy = IN_W / FILE_W, IN_H / FILE_H  # 0.75, 2/3; pixel centres: c' = (c + 0.5) s - 0.5
    want = [[60 * sx, 58 * sy, 32 * sx - 0.5, 24 * sy - 0.5], [52 * sx, 50 * sy, 30.5 * sx - 0.5, 25.5 * sy - 0.5]]
    assert batch["K"].dtype == torch.float32 and batch["K"].shape == (3, 4)
    assert torch.allclose(batch["K"][:2], torch.tensor(want), rtol=0, atol=1e-5)
    assert torch.isnan(batch["K"][2]).all()  # folder c has no intrinsics.json


def test_camera_scale_by_hand():
    from rgb2depth.models import ModelMeta, camera_scale

    meta = ModelMeta(paper="t", output="metres", extra={"canonical_focal": 0.8})
    assert camera_scale(meta, 1.6) == pytest.approx(2.0)
    assert camera_scale(meta, 0.4) == pytest.approx(0.5)
    assert camera_scale(meta, None) == 1.0 and camera_scale(meta, float("nan")) == 1.0
    got = camera_scale(meta, torch.tensor([1.6, 0.2, float("nan"), 0.0, -1.0]))
    assert torch.allclose(got, torch.tensor([2.0, 0.25, 1.0, 1.0, 1.0]))
    assert camera_scale(ModelMeta(paper="t", output="metres"), 1.6) == 1.0  # no canonical camera


def test_lite_depth_targets_are_canonical_camera_depth(tmp_path, folders):
    """A camera with fx / W = 2 x canonical sees everything at half the canonical camera's
    distance: the trainer hands the loss half the metric depth; without intrinsics, the metric
    depth itself."""
    import torch.nn as nn

    from rgb2depth.models.lite_depth import CANONICAL_FOCAL
    from rgb2depth.training.data import collate

    fx = 2 * CANONICAL_FOCAL * FILE_W
    write_folder(tmp_path / "long", "l", 1, Intrinsics(fx, fx, 31.5, 23.5, FILE_W, FILE_H), 4)
    cfg = load(tmp_path / "c.yaml", config(
        tmp_path / "run", [folder_item(tmp_path / "long"), folder_item(folders["c"], limit=1)],
        model={"name": "lite_depth", "options": {"decoder": [16, 8, 8, 8], "input_size": [IN_H, IN_W]}}))
    tr = setup_trainer(cfg)
    assert tr.meta.extra["canonical_focal"] == CANONICAL_FOCAL
    tr._enter_stage(0)
    tr.step = 0

    class Capture(nn.Module):
        def forward(self, pred, target, valid, rgb=None):
            self.target, self.valid = target.detach(), valid
            return (pred - target).abs()[valid].mean()

    tr.loss_fn = Capture()
    batch = collate([tr.train_set[0], tr.train_set[1]])
    assert batch["id"] == ["l000", "c000"]
    assert batch["K"][0, 0] / IN_W == pytest.approx(2 * CANONICAL_FOCAL)
    tr._train_step(batch, 0, 0, 0)
    depth, valid = batch["depth"], batch["valid"]
    assert torch.equal(tr.loss_fn.valid, valid)
    target = tr.loss_fn.target.exp()  # lite_depth predicts log depth
    assert torch.allclose(target[0][valid[0]], depth[0][valid[0]] / 2, rtol=1e-6)
    assert torch.allclose(target[1][valid[1]], depth[1][valid[1]], rtol=1e-6)


def test_item_augment_replaces_shared_keys_for_its_own_samples_only(tmp_path, folders):
    """A training item's ``augment`` replaces the shared ``data.augment`` keys for that item's
    samples (``camera: null`` drops them), keeps the decode cache shared with the plain item, and
    a validation item that carries one is refused by name."""
    from rgb2depth.training.data import build_dataset

    cache = tmp_path / "cache"
    items = [{**folder_item(folders["a"], stop=3), "augment": {"camera": None}}, folder_item(folders["b"], stop=3)]
    cfg = load(tmp_path / "c.yaml", config(tmp_path / "run", items, data={
        "cache_dir": str(cache), "augment": {"camera": {"noise": [20.0, 20.0]}}}))
    ds = build_dataset(cfg, "train", seed=0)
    assert [ds.raw(i)["id"] for i in range(6)] == ["a000", "a001", "a002", "b000", "b001", "b002"]
    for i in range(6):
        raw = ds.raw(i)["rgb"].astype(np.float64)
        got = ds[i]["image"].permute(1, 2, 0).numpy().astype(np.float64) * 255
        diff = got - raw
        if i < 3:  # item a: no camera effects, the sample is the cached frame itself
            assert np.abs(diff).max() < 1e-3, i
        else:  # item b: Gaussian sensor noise of std 20 grey levels (measured away from clipping)
            inner = (raw > 60) & (raw < 195)
            assert diff[inner].std() == pytest.approx(20.0, rel=0.15), i
    # the item's augment does not name its cache files: the plain item reads the same three
    assert len(list(cache.rglob("*.npz"))) == 6
    plain = {**cfg, "data": {**cfg["data"], "train": [folder_item(folders["a"], stop=3)]}}
    assert_same_samples(samples(build_dataset(plain, "train", seed=0)), samples(ds)[:3])
    assert len(list(cache.rglob("*.npz"))) == 6

    bad_val = {**cfg, "data": {**cfg["data"], "val": [{**folder_item(folders["b"]), "augment": {"hflip": 1.0}}]}}
    with pytest.raises(ValueError, match="'folder'.*augment applies to training items only"):
        build_dataset(bad_val, "val", seed=0)
