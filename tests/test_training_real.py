"""The shipped default config on the real TUM data (a few steps): the full pipeline (TUM loader,
cache, paper-000 augmentation, combined loss, validation on the cabinet keyframes, model file).

Slow (a minute on two busy cores): ``pytest -m slow tests/test_training_real.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@pytest.mark.slow
@pytest.mark.data
def test_default_config_trains_on_tum(tmp_path, shared_data):
    from rgb2depth.models.io import load_model
    from rgb2depth.training.config import load_config
    from rgb2depth.training.trainer import Trainer

    cfg = load_config(CONFIGS / "default_unet_realtime.yaml", [
        f"output_dir={tmp_path}", "train.max_steps=2", "train.batch_size=2", "data.input_size=[120,160]",
        "data.train.0.select.limit=8", "train.val_limit=3", "train.threads=1", "train.log_every=1"])
    summary = Trainer(cfg).run()
    assert summary["steps"] == 2
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in lines if r["kind"] == "train"]
    assert [r["step"] for r in train] == [1, 2]
    assert set(train[0]["terms"]) == {"l1", "ssim", "edge"} and train[0]["loss"] > 0
    val = [r for r in lines if r["kind"] == "val"]
    assert val and val[-1]["protocol"] == "none" and val[-1]["rmse"] > 0
    m = load_model(tmp_path / "model.pt")
    assert m.rgb2depth_name == "unet_realtime" and m.meta.output == "normalized"
    ck = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert ck["step"] == 2 and ck["batch"] == 2
