"""Tiny stand-ins the training tests plug into the trainer (``imports: [test_training_plugin]``).

A two-part network (``coarse`` + ``fine``, with stages, BatchNorm and dropout so that RNG and
running statistics matter), a deterministic in-memory RGB-D source wrapped by the real
``rgb2depth.data.DepthDataset`` and transforms, and a loss that turns NaN after N calls.
Also importable by subprocesses (``PYTHONPATH=tests``). It holds no tests itself.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch
import torch.nn as nn

from rgb2depth.geometry.camera import Intrinsics
from rgb2depth.models import MODELS, register_model
from rgb2depth.models.base import ModelMeta
from rgb2depth.models.layers import Normalize

SIZE = (32, 32)


class TinyTwoPart(nn.Module):
    """coarse: stride-2 conv, BN, ReLU, dropout, conv, x2 upsample; fine: refines with the image."""

    def __init__(self, width: int = 8, dropout: float = 0.1) -> None:
        super().__init__()
        self.meta = ModelMeta(paper="test", output="log", input_size=SIZE, max_depth=10.0)
        self.norm = Normalize(self.meta.mean, self.meta.std)
        self.coarse = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Dropout2d(dropout), nn.Conv2d(width, 1, 3, padding=1),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
        self.fine = nn.Sequential(nn.Conv2d(4, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 1, 3, padding=1))
        self.stages = ("coarse", "fine")
        self.stage = "fine"

    def parts(self) -> dict[str, nn.Module]:
        return {"coarse": self.coarse, "fine": self.fine}

    def set_stage(self, name: str) -> None:
        if name not in self.stages:
            raise ValueError(name)
        self.stage = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        c = self.coarse(x)
        if self.stage == "coarse":
            return c
        return c + self.fine(torch.cat([x, c], 1))


if "tiny_two_part" not in MODELS:
    @register_model("tiny_two_part")
    def tiny_two_part(width: int = 8, dropout: float = 0.1) -> TinyTwoPart:
        """Test stand-in: a 2-part network with stages."""
        return TinyTwoPart(width, dropout)


def make_sample(i: int, size: tuple[int, int] = (40, 48)) -> dict:
    """Deterministic sample ``i``: a smooth ramp scene, depth 1..4 m, a few invalid pixels."""
    rng = np.random.default_rng(1000 + i)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a, b = rng.uniform(-1, 1, 2)
    depth = (2.5 + a * (xx / w - 0.5) * 2 + b * (yy / h - 0.5) * 2).astype(np.float32)
    rgb = np.stack([(depth - 1) / 3 * 255, xx / w * 255, rng.uniform(0, 255, (h, w))], -1)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    valid = rng.uniform(size=(h, w)) > 0.05
    depth[~valid] = np.nan
    return {"rgb": rgb, "depth": depth, "valid": valid, "K": Intrinsics(40.0, 40.0, w / 2, h / 2, w, h), "id": f"s{i:03d}"}


class SlowSource:
    """A list of samples; ``R2D_TEST_SAMPLE_DELAY`` seconds per access (to kill runs mid-way)."""

    def __init__(self, n: int, offset: int = 0) -> None:
        self.samples = [make_sample(offset + i) for i in range(n)]
        self.delay = float(os.environ.get("R2D_TEST_SAMPLE_DELAY", "0"))

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        if self.delay:
            time.sleep(self.delay)
        return self.samples[i]


def dataset(cfg: dict, split: str, seed: int):
    """``data.factory`` for the tests: 24 training / 6 validation samples through the real
    DepthDataset + transforms (augmentation from ``data.augment``)."""
    from rgb2depth.data import DepthDataset, transforms

    n = int(os.environ.get("R2D_TEST_TRAIN_SAMPLES", "24")) if split == "train" else 6
    aug = cfg["data"]["augment"] if split == "train" else {}
    return DepthDataset(SlowSource(n, 0 if split == "train" else 500),
                        transforms.build(aug, train=split == "train", size=SIZE), seed=seed)


class NaNAfter(nn.Module):
    """L1 in the output space for ``after`` calls, then NaN (a diverging run)."""

    def __init__(self, after: int = 3) -> None:
        super().__init__()
        self.after, self.calls = int(after), 0

    def forward(self, pred, target, valid, rgb=None):
        self.calls += 1
        loss = (pred - target).abs()[valid].mean()
        return loss * float("nan") if self.calls > self.after else loss


def nan_after(after: int = 3) -> NaNAfter:
    return NaNAfter(after)
