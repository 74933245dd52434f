"""The paper-table configs train and evaluate: each runs two optimiser steps through the real
trainer on real frames, writes its model file, and that file is scored by the evaluator.

The full-size configs read data this machine lacks (NYU Depth v2 training sets, KITTI stereo
targets, Make3D), so the tests train on 4 frames of TUM fr1/rpy (640x480 like NYU) through the
config's own network, loss, optimiser and augmentation, at a reduced input size (the crops of
paper 003's augmentation shrink with it), and score the model file on 2 TUM fr3/cabinet
keyframes. Pretrained backbones are off (no download). The fully-connected FCRN variants hold
74M-359M parameters (gigabytes of weights, gradients and momentum): they are marked slow.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

FAST = [
    "paper003_fcrn_alexnet_upconv_berhu", "paper003_fcrn_alexnet_upconv_l2", "paper003_fcrn_vgg16_upconv_berhu",
    "paper003_fcrn_vgg16_upconv_l2", "paper003_fcrn_resnet50_deconv_l2", "paper003_fcrn_resnet50_upconv_l2",
    "paper003_make3d_l2", "paper002_scrx_kitti_gray_310x94", "paper002_scrx_kitti_color_310x94",
    "paper004_cnn_residual_random_decoder", "paper004_cnn_residual_zero_unpool",
]
SLOW = ["paper003_fcrn_alexnet_fc_berhu", "paper003_fcrn_alexnet_fc_l2", "paper003_fcrn_resnet50_fc_berhu",
        "paper003_fcrn_resnet50_fc64x48_berhu"]
SMALL = [64, 96]  # network input of the fully convolutional configs in these tests


def tiny(name: str, out: Path, data: Path, extra: tuple[str, ...] = ()) -> dict:
    """The config ``name`` with 2 steps of 2 TUM frames at a reduced size, no pretrained weights."""
    from rgb2depth.training.config import load_config

    tum = {"name": "tum", "root": f"{data}/tum/rgbd_dataset_freiburg1_rpy", "select": {"stride": 50, "limit": 4}}
    cfg = load_config(CONFIGS / f"{name}.yaml", [
        f"output_dir={out}", "train.max_steps=2", "train.batch_size=2", "train.threads=1", "train.log_every=1",
        "train.ckpt_every=0", "train.tensorboard=false", "train.progress=false", "data.num_workers=0",
        "data.val=[]", *extra])
    cfg["data"]["train"] = [tum]
    if "pretrained" in cfg["model"]["options"]:
        cfg["model"]["options"]["pretrained"] = None
    fixed = cfg["model"]["options"].get("input_size")  # paper 002's networks are built for one size
    if not fixed and cfg["model"]["options"].get("decoder") not in ("fc", "fc64x48"):
        cfg["data"]["input_size"] = list(SMALL)
        for key in ("augment", "val_augment"):
            if cfg["data"][key].get("crop"):
                cfg["data"][key]["crop"] = list(SMALL)
    return cfg


def train_and_score(cfg: dict, out: Path, data: Path) -> tuple[dict, dict]:
    from rgb2depth.evaluation.evaluate import build_eval_dataset, evaluate_dataset
    from rgb2depth.models.io import load_model
    from rgb2depth.training.trainer import Trainer

    summary = Trainer(cfg).run()
    assert summary["steps"] == 2
    train = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in train if r["kind"] == "train"] == [1, 2]
    assert all(math.isfinite(r["loss"]) for r in train if r["kind"] == "train")
    model = load_model(out / "model.pt")
    assert model.rgb2depth_name == cfg["model"]["name"]
    ds = build_eval_dataset({"name": "tum_keyframes", "root": f"{data}/tum/freiburg3_cabinet_keyframes"})
    res = evaluate_dataset(model, ds, protocol="none", min_depth=1e-3, max_depth=10.0, limit=2, batch_size=2,
                           input_size=tuple(model.meta.input_size))
    assert res["result"]["count"] == 2
    assert all(math.isfinite(v) for v in res["metrics"].values()) and res["metrics"]["rmse"] > 0
    return summary, res


@pytest.mark.data
@pytest.mark.parametrize("name", FAST + [pytest.param(n, marks=pytest.mark.slow) for n in SLOW])
def test_paper_config_trains_and_evaluates(name, tmp_path, shared_data):
    train_and_score(tiny(name, tmp_path, shared_data), tmp_path, shared_data)


@pytest.mark.data
def test_table4_transfer_config_starts_its_decoder_from_the_file(tmp_path, shared_data):
    """Paper 004 Table 4: the decoder comes from the model file (every decoder tensor), the
    backbone from the fresh build; trained with a learning rate of 1e-30 (Adam moves each weight
    by about that), the saved parameters show where each one started."""
    from rgb2depth import models
    from rgb2depth.models.io import load_model, save_model

    torch.manual_seed(7)
    donor = models.create("fcrn", backbone="resnet50", decoder="upproj")  # paper 003's network
    save_model(donor, tmp_path / "fcrn_nyu.pt")
    out = tmp_path / "run"
    cfg = tiny("paper004_cnn_residual_transfer", out, shared_data, (f"model.init={tmp_path / 'fcrn_nyu.pt'}",
                                                                      "optim.lr=1e-30"))
    assert cfg["model"]["init_include"] == ["decoder"] and cfg["model"]["strict_init"]
    train_and_score(cfg, out, shared_data)
    own, theirs = dict(load_model(out / "model.pt").named_parameters()), dict(donor.named_parameters())
    decoder = [k for k in own if k.startswith("decoder.")]
    assert decoder and all(torch.allclose(own[k], theirs[k], rtol=0, atol=1e-25) for k in decoder)
    assert (own["backbone.conv1.weight"] - theirs["backbone.conv1.weight"]).abs().max() > 1e-3
    report = json.loads((out / "init_report.json").read_text())
    n_decoder = len([k for k in donor.state_dict() if k.startswith("decoder.")])
    assert len(report["loaded"]) == n_decoder and all(k.startswith("decoder.") for k in report["loaded"])
    assert report["skipped"] == {} and report["not_included"] == len(donor.state_dict()) - n_decoder
