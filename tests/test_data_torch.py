"""DepthDataset: batch dict layout, reproducible per-(seed, epoch, index) augmentation across
workers, resumable epochs, caches."""

from __future__ import annotations

import numpy as np
import torch

from rgb2depth.data import DepthDataset, make_sample
from rgb2depth.data import transforms as T
from rgb2depth.geometry.camera import Intrinsics


class Toy:
    def __init__(self, n=6, h=60, w=80):
        self.n, self.h, self.w = n, h, w
        self.loads = 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.loads += 1
        rng = np.random.default_rng(i)
        depth = rng.uniform(1, 5, (self.h, self.w)).astype(np.float32)
        depth[:3] = 0
        rgb = rng.integers(0, 256, (self.h, self.w, 3), dtype=np.uint8)
        return make_sample(rgb, depth, Intrinsics(70, 70, 40, 30, self.w, self.h), f"toy{i}")


CFG = {"preset": "eigen", "color": {"brightness": 0.2, "gain": [0.8, 1.2]}}


def _all(ds, workers):
    dl = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=workers, shuffle=False)
    return [b for b in dl]


def test_batch_layout():
    ds = DepthDataset(Toy(), T.build(CFG, True, (30, 40)), seed=1)
    b = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert b["image"].shape == (3, 3, 30, 40) and b["image"].dtype == torch.float32
    assert 0 <= b["image"].min() and b["image"].max() <= 1
    assert b["depth"].shape == (3, 1, 30, 40) and b["valid"].dtype == torch.bool
    assert torch.isnan(b["depth"][~b["valid"]]).all() and torch.isfinite(b["depth"][b["valid"]]).all()
    assert b["id"] == ["toy0", "toy1", "toy2"]


def test_reproducible_across_workers_and_epochs():
    ds = DepthDataset(Toy(), T.build(CFG, True, (30, 40)), seed=7)
    a0 = _all(ds, 0)
    a2 = _all(ds, 2)
    for x, y in zip(a0, a2, strict=True):
        assert torch.equal(x["image"], y["image"])
        assert torch.equal(x["depth"].nan_to_num(-1), y["depth"].nan_to_num(-1))
    ds.set_epoch(1)
    b = _all(ds, 0)
    assert not torch.equal(a0[0]["image"], b[0]["image"])
    # a fresh dataset resumed at epoch 1 reproduces epoch 1
    fresh = DepthDataset(Toy(), T.build(CFG, True, (30, 40)), seed=7)
    fresh.set_epoch(1)
    assert torch.equal(fresh[0]["image"], b[0]["image"][0])


def test_persistent_workers_see_set_epoch():
    ds = DepthDataset(Toy(4), T.build(CFG, True, (30, 40)), seed=3)
    dl = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=1, persistent_workers=True)
    e0 = next(iter(dl))["image"]
    ds.set_epoch(5)
    e5 = next(iter(dl))["image"]
    ref = DepthDataset(Toy(4), T.build(CFG, True, (30, 40)), seed=3)
    ref.set_epoch(5)
    assert torch.equal(e5[2], ref[2]["image"]) and not torch.equal(e0, e5)


def test_memory_and_disk_cache(tmp_path):
    src = Toy(3)
    ds = DepthDataset(src, None, cache_size=(30, 40), cache_dir=tmp_path)
    first = ds[1]
    ds[1]
    assert src.loads == 1  # decoded once
    assert first["depth"].shape == (1, 30, 40)
    src2 = Toy(3)
    again = DepthDataset(src2, None, cache_size=(30, 40), cache_dir=tmp_path)[1]
    assert src2.loads == 0  # served from the .npz cache
    assert torch.equal(again["image"], first["image"])
    assert torch.equal(again["valid"], first["valid"])


def test_grayscale_batch_has_one_channel():
    ds = DepthDataset(Toy(2), T.build({"grayscale": True}, False, (30, 40)))
    assert ds[0]["image"].shape == (1, 30, 40)


def test_fill_cache_parallel_equals_serial():
    a = DepthDataset(Toy(5), T.build(CFG, True, (30, 40)), seed=2, cache_size=(30, 40))
    b = DepthDataset(Toy(5), T.build(CFG, True, (30, 40)), seed=2, cache_size=(30, 40))
    a.fill_cache(num_workers=2)
    b.fill_cache()
    assert sorted(a._cache) == list(range(5))
    for i in range(5):
        assert torch.equal(a[i]["image"], b[i]["image"])
        assert torch.equal(a[i]["valid"], b[i]["valid"])
