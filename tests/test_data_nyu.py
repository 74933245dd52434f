"""NYU Depth v2 formats: real files where present (mini test CSV, splits.mat, a raw Kinect frame,
the sparse-to-dense sample), tiny files in the exact public formats for the rest."""

from __future__ import annotations

import cv2
import h5py
import numpy as np
import pytest
import scipy.io

from conftest import require
from rgb2depth import data
from rgb2depth.data.depth_io import mask_min_max, nyu_raw_to_metres, read_pgm_le16
from rgb2depth.data.nyu import associate_raw, read_nyu_splits


def test_mini_test_csv_is_16bit_mm(shared_data):
    csv = require(shared_data / "nyu" / "nyu2_mini_test" / "nyu2_mini_test.csv")
    ds = data.create("nyu_csv", csv_path=csv)
    assert len(ds) == 10
    for k in (0, 9):
        s = ds[k]
        raw = cv2.imread(str(csv.parent / f"depth_{k}.png"), cv2.IMREAD_UNCHANGED)
        assert raw.dtype == np.uint16
        d = s["depth"][s["valid"]]
        assert 0.5 < d.min() and d.max() < 10.0
        assert s["depth"][100, 200] == pytest.approx(raw[100, 200] / 1000.0)
        assert s["rgb"].shape == (480, 640, 3)
        assert s["K"].fx == pytest.approx(518.8579, abs=1e-3)


def test_dense_depth_train_csv_8bit(tmp_path):
    # DenseDepth train layout: data/nyu2_train/<scene>/<n>.jpg + 8-bit <n>.png, CSV at the zip root
    d = tmp_path / "data" / "nyu2_train" / "kitchen_0001_out"
    d.mkdir(parents=True)
    depth8 = np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) % 256
    cv2.imwrite(str(d / "1.png"), depth8.astype(np.uint8))
    cv2.imwrite(str(d / "1.jpg"), np.full((48, 64, 3), 128, np.uint8))
    (tmp_path / "data" / "nyu2_train.csv").write_text("data/nyu2_train/kitchen_0001_out/1.jpg,data/nyu2_train/kitchen_0001_out/1.png\n")
    s = data.create("nyu_csv", csv_path=tmp_path / "data" / "nyu2_train.csv")[0]
    assert s["depth"][0, 5] == pytest.approx(5 / 255 * 10)
    assert s["depth"][3, 63] == pytest.approx(((3 * 64 + 63) % 256) / 255 * 10)
    assert not s["valid"][0, 0]  # value 0


def test_real_splits_counts(shared_data):
    sp = read_nyu_splits(require(shared_data / "nyu" / "splits.mat"))
    assert len(sp["train"]) == 795 and len(sp["test"]) == 654
    assert sorted(sp["train"] + sp["test"]) == list(range(1, 1450))


def _write_labeled_mat(path, rgbs, depths):
    """nyu_depth_v2_labeled.mat as MATLAB v7.3 writes it: HDF5 with a 512-byte user block and
    column-major arrays, so A(H,W,3,N) appears to h5py as (N,3,W,H)."""
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset("images", data=np.stack([r.transpose(2, 1, 0) for r in rgbs]))
        f.create_dataset("depths", data=np.stack([d.T for d in depths]).astype(np.float32))
        f.create_dataset("rawDepths", data=np.stack([np.where(d > 3, 0, d).T for d in depths]).astype(np.float32))
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan 1 00:00:00 2024 HDF5 schema 1.00 .")


def test_labeled_mat_transposed_and_split(tmp_path):
    rng = np.random.default_rng(0)
    rgbs = [rng.integers(0, 256, (12, 16, 3), dtype=np.uint8) for _ in range(4)]
    depths = [rng.uniform(1, 5, (12, 16)).astype(np.float32) for _ in range(4)]
    mat = tmp_path / "nyu_depth_v2_labeled.mat"
    _write_labeled_mat(mat, rgbs, depths)
    scipy.io.savemat(tmp_path / "splits.mat", {"trainNdxs": np.array([[1], [3]], np.uint16), "testNdxs": np.array([[2], [4]], np.uint16)})
    train = data.create("nyu_labeled", path=mat, split="train")
    test = data.create("nyu_labeled", path=mat, split="test")
    assert len(train) == 2 and len(test) == 2
    s = test[1]  # 1-based index 4 -> image 3
    assert np.array_equal(s["rgb"], rgbs[3]) and np.array_equal(s["depth"], depths[3])
    assert s["id"] == "nyu_labeled_0004"
    raw = data.create("nyu_labeled", path=mat, split="all", depth="raw")[0]
    assert np.array_equal(raw["valid"], depths[0] <= 3)


def test_labeled_mat_bad_file(tmp_path):
    bad = tmp_path / "x.mat"
    bad.write_bytes(b"nonsense")
    with pytest.raises(data.DataError, match=r"x\.mat: not an HDF5"):
        data.create("nyu_labeled", path=bad, split="all")


def test_sparse_to_dense_h5_from_real_sample(shared_data, tmp_path):
    d = require(shared_data / "nyu" / "sparse_to_dense_val_sample")
    rgb = np.load(d / "rgb.npy")
    depth = np.load(d / "depth.npy")
    rgb8 = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
    (tmp_path / "val" / "official").mkdir(parents=True)
    with h5py.File(tmp_path / "val" / "official" / "00001.h5", "w") as f:
        f["rgb"] = rgb8.transpose(2, 0, 1)
        f["depth"] = depth
    s = data.create("nyu_h5", root=tmp_path)[0]
    assert s["id"] == "val_official_00001"
    assert np.array_equal(s["rgb"], rgb8) and np.array_equal(s["depth"], depth)
    assert 0.5 < depth.min() and depth.max() < 10


def test_raw_kinect_frame(shared_data):
    d = require(shared_data / "raw_frames")
    raw = read_pgm_le16(d / "NYU_depth.pgm")
    assert raw.shape == (480, 640) and raw.max() == 2047  # little-endian: 0x07ff, not 0xff07
    depth = nyu_raw_to_metres(raw)
    v, u = np.argwhere(raw < 2047)[1000]
    assert depth[v, u] == pytest.approx(351.3 / (1092.5 - raw[v, u]), rel=1e-6)
    assert np.isnan(depth[raw >= 2047]).all()
    ok = np.isfinite(depth)
    assert 0.5 < depth[ok].min() and depth[ok].max() < 10
    un = data.create("nyu_raw", pairs=[(d / "NYU_color.ppm", d / "NYU_depth.pgm")], register=False)[0]
    assert np.array_equal(un["valid"], ok)
    assert un["K"].fx == pytest.approx(582.6245, abs=1e-3)  # depth camera


def _edge_agreement(rgb, depth):
    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    ge = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    ok = np.isfinite(depth)
    ld = cv2.medianBlur(np.where(ok, np.log(np.where(ok, depth, 1)), 0).astype(np.float32), 5)
    de = np.hypot(cv2.Sobel(ld, cv2.CV_32F, 1, 0), cv2.Sobel(ld, cv2.CV_32F, 0, 1))
    inner = cv2.erode(ok.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    return np.corrcoef(ge[inner], de[inner])[0, 1]


def test_raw_registration_aligns_depth_with_rgb(shared_data):
    d = require(shared_data / "raw_frames")
    pair = [(d / "NYU_color.ppm", d / "NYU_depth.pgm")]
    reg = data.create("nyu_raw", pairs=pair)[0]
    un = data.create("nyu_raw", pairs=pair, register=False)[0]
    # depth edges follow RGB edges much better after projection into the RGB camera (measured
    # correlation 0.14 vs 0.05 on this frame)
    assert _edge_agreement(reg["rgb"], reg["depth"]) > 2 * _edge_agreement(un["rgb"], un["depth"])
    assert reg["K"].fx == pytest.approx(518.8579, abs=1e-3)
    # projection keeps depth values (only a 2.5 cm baseline and <0.4 degree rotation)
    assert abs(np.nanmedian(reg["depth"]) - np.nanmedian(un["depth"])) < 0.05


def test_min_max_mask_paper004():
    d = np.array([[1.0, 2.0, np.nan], [5.0, 1.0, 3.0]], np.float32)
    m = mask_min_max(d)
    assert np.isnan(m[0, 0]) and np.isnan(m[1, 0]) and np.isnan(m[1, 1])
    assert m[0, 1] == 2.0 and m[1, 2] == 3.0


def test_raw_association_drops_shared_rgb():
    # depth at 0.0 and 0.01 both nearest to rgb 0.005 -> dropped; depth 1.0 -> rgb 0.98
    assert associate_raw([0.005, 0.98, 2.0], [0.0, 0.01, 1.0]) == [(1, 2)]


def test_raw_scene_folder(tmp_path, shared_data):
    d = require(shared_data / "raw_frames")
    import shutil

    shutil.copy(d / "NYU_color.ppm", tmp_path / "r-1316558342.822162-2944600483.ppm")
    shutil.copy(d / "NYU_depth.pgm", tmp_path / "d-1316558342.830000-2944630000.pgm")
    ds = data.create("nyu_raw", root=tmp_path, mask_min_max=True)
    assert len(ds) == 1
    s = ds[0]
    vals = s["depth"][s["valid"]]
    full = data.create("nyu_raw", root=tmp_path)[0]["depth"]
    assert vals.min() > np.nanmin(full) and vals.max() < np.nanmax(full)


def test_labeled_mat_in_dataloader_workers(tmp_path):
    import torch

    rng = np.random.default_rng(1)
    rgbs = [rng.integers(0, 256, (12, 16, 3), dtype=np.uint8) for _ in range(4)]
    depths = [rng.uniform(1, 5, (12, 16)).astype(np.float32) for _ in range(4)]
    mat = tmp_path / "nyu_depth_v2_labeled.mat"
    _write_labeled_mat(mat, rgbs, depths)
    src = data.create("nyu_labeled", path=mat, split="all")
    src[0]  # parent opens the file before the workers fork
    dl = torch.utils.data.DataLoader(data.DepthDataset(src), batch_size=2, num_workers=2)
    depth = torch.cat([b["depth"] for b in dl])
    assert torch.allclose(depth[:, 0], torch.from_numpy(np.stack(depths)))


def test_nyu_fine_tune_config_trains_and_validates_on_the_training_split_only(tmp_path, shared_data):
    """configs/default_v3_nyu_ft.yaml against a stand-in of the 1449-image labeled file and the
    real official splits: 700 training images listed 3 times, the other 95 validate, and no image
    of the official test split (which holds the reported NYU sample) is in either."""
    from pathlib import Path

    from rgb2depth.training.config import load_config
    from rgb2depth.training.data import build_source

    splits = require(shared_data / "nyu" / "splits.mat")
    rgbs = [np.full((2, 3, 3), k % 256, np.uint8) for k in range(1449)]
    _write_labeled_mat(tmp_path / "nyu_depth_v2_labeled.mat", rgbs, [np.ones((2, 3), np.float32)] * 1449)
    cfg = load_config(Path(__file__).resolve().parent.parent / "configs" / "default_v3_nyu_ft.yaml")
    items = [dict(it, path=str(tmp_path / "nyu_depth_v2_labeled.mat"), splits=str(splits))
             for it in cfg["data"]["train"] + cfg["data"]["val"] if it["name"] == "nyu_labeled"]
    train, val = (build_source(it) for it in items)
    assert len(train) == 2100 and len(val) == 95
    test_ids = {f"nyu_labeled_{i:04d}" for i in read_nyu_splits(splits)["test"]}
    train_ids = {train[k]["id"] for k in range(len(train))}
    val_ids = {val[k]["id"] for k in range(len(val))}
    assert len(train_ids) == 700 and len(val_ids) == 95
    assert not train_ids & val_ids and not (train_ids | val_ids) & test_ids
    assert val[0]["rgb"][0, 0, 0] == (read_nyu_splits(splits)["train"][700] - 1) % 256  # the 701st training image
