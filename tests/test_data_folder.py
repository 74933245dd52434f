"""Generic folder layout: write/read round trip, depth scale, intrinsics, poses, bad files."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from rgb2depth import data
from rgb2depth.data.folder import FolderWriter
from rgb2depth.geometry.camera import Intrinsics


def _write(tmp_path, scale=1000.0):
    rng = np.random.default_rng(0)
    K = Intrinsics(100.0, 101.0, 31.5, 23.5, 64, 48)
    w = FolderWriter(tmp_path, depth_scale=scale)
    depths = []
    for k in range(3):
        rgb = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        depth = rng.uniform(0.5, 9.0, (48, 64)).astype(np.float32)
        depth[:5, :7] = np.nan
        pose = np.eye(4)
        pose[:3, 3] = [k, 2 * k, 0.5]
        w.write(f"f{k:03d}", rgb, depth, K, pose)
        depths.append((rgb, depth))
    return K, depths


def test_round_trip_mm(tmp_path):
    K, depths = _write(tmp_path)
    ds = data.create("folder", root=tmp_path)
    assert len(ds) == 3 and ds.depth_scale == 1000.0
    s = ds[1]
    rgb, depth = depths[1]
    assert np.array_equal(s["rgb"], rgb)  # PNG is lossless
    ok = np.isfinite(depth)
    assert np.array_equal(s["valid"], ok)
    assert np.abs(s["depth"][ok] - depth[ok]).max() <= 0.0005 + 1e-6  # mm quantisation
    assert s["K"] == K
    assert np.allclose(s["pose"][:3, 3], [1, 2, 0.5])
    # the raw file is uint16 millimetres
    raw = cv2.imread(str(tmp_path / "depth" / "f001.png"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw[0, 0] == 0
    assert raw[10, 10] == round(depth[10, 10] * 1000)


def test_custom_scale_from_meta_and_override(tmp_path):
    _write(tmp_path, scale=256.0)
    assert json.loads((tmp_path / "meta.json").read_text())["depth_scale"] == 256.0
    ds = data.create("folder", root=tmp_path)
    raw = cv2.imread(str(tmp_path / "depth" / "f000.png"), cv2.IMREAD_UNCHANGED)
    assert ds[0]["depth"][20, 20] == pytest.approx(raw[20, 20] / 256.0)
    ds2 = data.create("folder", root=tmp_path, depth_scale=5000)
    assert ds2[0]["depth"][20, 20] == pytest.approx(raw[20, 20] / 5000.0)


def test_writer_refuses_overflow(tmp_path):
    w = FolderWriter(tmp_path)
    with pytest.raises(data.DataError, match="does not fit uint16"):
        w.write("a", np.zeros((4, 4, 3), np.uint8), np.full((4, 4), 70.0, np.float32))


def test_bad_files_named(tmp_path):
    _write(tmp_path)
    (tmp_path / "depth" / "f002.png").write_bytes(b"not a png")
    ds = data.create("folder", root=tmp_path)
    with pytest.raises(data.DataError, match=r"f002\.png: cannot decode"):
        ds[2]
    (tmp_path / "intrinsics.json").write_text("{\"fx\": 1}")
    with pytest.raises(data.DataError, match=r"intrinsics\.json: bad intrinsics"):
        data.create("folder", root=tmp_path)
    with pytest.raises(data.DataError, match="needs rgb/ and depth/"):
        data.create("folder", root=tmp_path / "rgb")


def test_8bit_depth_is_rejected(tmp_path):
    _write(tmp_path)
    cv2.imwrite(str(tmp_path / "depth" / "f000.png"), np.ones((48, 64), np.uint8))
    with pytest.raises(data.DataError, match="expected uint16 pixels, got uint8"):
        data.create("folder", root=tmp_path)[0]


def test_subset_concat_split(tmp_path):
    _write(tmp_path)
    ds = data.create("folder", root=tmp_path)
    both = data.concat([ds, ds])
    assert len(both) == 6 and both[4]["id"] == "f001"
    sub = data.subset(both, [5, 0])
    assert [s["id"] for s in sub] == ["f002", "f000"]
    a, b = data.split(both, [0.5, 0.5], shuffle=False)
    assert [s["id"] for s in a] == ["f000", "f001", "f002"] and len(b) == 3
    x, y = data.split(both, [[0, 1], [2]])
    assert len(x) == 2 and y[0]["id"] == "f002"
    with pytest.raises(IndexError):
        data.subset(ds, [3])


def test_images_from_different_cameras_keep_their_own_intrinsics(tmp_path):
    """A folder whose images come from two cameras: the writer lists every image's camera in
    intrinsics.txt, the loader hands each sample its own K (scaled with ``reduce``); a bad line
    is a one-line error naming the file and line."""
    rng = np.random.default_rng(1)
    Ks = [Intrinsics(100.0, 100.0, 31.5, 23.5, 64, 48), Intrinsics(150.0, 151.0, 32.0, 24.0, 64, 48),
          Intrinsics(100.0, 100.0, 31.5, 23.5, 64, 48)]
    w = FolderWriter(tmp_path)
    for k, K in enumerate(Ks):
        w.write(f"f{k}", rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), np.full((48, 64), 1.0 + k, np.float32), K)
    assert (tmp_path / "intrinsics.txt").is_file()
    ds = data.create("folder", root=tmp_path)
    assert [ds[i]["K"] for i in range(3)] == Ks
    half = data.create("folder", root=tmp_path, reduce=2)[1]["K"]
    assert (half.fx, half.width) == (75.0, 32)
    (tmp_path / "intrinsics.txt").write_text("f0 100 100 31.5 23.5 64\n")
    with pytest.raises(data.DataError, match=r"intrinsics\.txt: line 1: need 'stem fx fy cx cy width height'"):
        data.create("folder", root=tmp_path)
