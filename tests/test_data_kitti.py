"""KITTI: LiDAR projection against the real shipped projections, the raw-recording and
depth-completion layouts (written here in the public formats), Eigen split lists."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import require
from rgb2depth import data
from rgb2depth.data.kitti import read_calib, read_split_file


def test_projection_matches_shipped_png(shared_data):
    root = require(shared_data / "kitti" / "object_kuixu")
    ds = data.create("kitti_raw", root=root)
    assert ds.ids == ["000000", "000001", "000002"]
    for i, k in enumerate(ds.ids):
        s = ds[i]
        gt = cv2.imread(str(root / "proj_depth_x256" / f"{k}.png"), cv2.IMREAD_UNCHANGED)
        assert gt.shape == s["depth"].shape
        assert np.array_equal(gt > 0, s["valid"])  # the same pixels receive a point
        q = np.rint(s["depth"][s["valid"]] * 256)
        diff = np.abs(q - gt[s["valid"]])
        assert diff.max() <= 1 and (diff == 0).mean() > 0.999
        assert 0.03 < s["valid"].mean() < 0.06  # ~4 % of pixels
        P2 = [ln for ln in (root / "calib" / f"{k}.txt").read_text().splitlines() if ln.startswith("P2:")][0]
        assert s["K"].fx == pytest.approx(float(P2.split()[1]))
    assert ds[0]["K"].fx == pytest.approx(707.0493)


def test_projection_json_calib(shared_data):
    r = require(shared_data / "kitti" / "object_000008")
    s = data.create("kitti_raw", items=[(r / "000008.png", r / "000008.bin", r / "calib_cam2.json")])[0]
    gt = cv2.imread(str(r / "000008_depth_projected_x256.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(gt > 0, s["valid"])
    # the JSON calibration is rounded: values agree within one 1/256 m step
    assert np.abs(np.rint(s["depth"][s["valid"]] * 256) - gt[s["valid"]]).max() <= 1


def _write_raw_recording(root, shared_data):
    """KITTI raw layout built from the real object frame 000000 (same calibration)."""
    src = require(shared_data / "kitti" / "object_kuixu")
    cal = read_calib(src / "calib" / "000000.txt")
    date = root / "2011_09_26"
    drive = date / "2011_09_26_drive_0001_sync"
    (drive / "image_02" / "data").mkdir(parents=True)
    (drive / "velodyne_points" / "data").mkdir(parents=True)
    img = cv2.imread(str(src / "image_2" / "000000.png"))
    cv2.imwrite(str(drive / "image_02" / "data" / "0000000005.png"), img)
    (drive / "velodyne_points" / "data" / "0000000005.bin").write_bytes((src / "velodyne" / "000000.bin").read_bytes())
    d = {}
    for line in (src / "calib" / "000000.txt").read_text().splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            d[k] = v.strip()
    (date / "calib_cam_to_cam.txt").write_text(
        "calib_time: 09-Jan-2012 13:57:47\n"
        f"P_rect_02: {d['P2']}\nR_rect_00: {d['R0_rect']}\n"
    )
    Tr = np.array(d["Tr_velo_to_cam"].split(), float).reshape(3, 4)
    (date / "calib_velo_to_cam.txt").write_text(
        "calib_time: 15-Mar-2012 11:37:16\n"
        f"R: {' '.join(f'{x:.12e}' for x in Tr[:, :3].ravel())}\nT: {' '.join(f'{x:.12e}' for x in Tr[:, 3])}\n"
    )
    return cal


def test_raw_recording_with_eigen_list(tmp_path, shared_data):
    _write_raw_recording(tmp_path, shared_data)
    lst = tmp_path / "eigen_test_files.txt"
    lst.write_text("2011_09_26/2011_09_26_drive_0001_sync/image_02/data/0000000005.png "
                   "2011_09_26/2011_09_26_drive_0001_sync/image_03/data/0000000005.png\n")
    ds = data.create("kitti_raw", root=tmp_path, files=lst)
    assert len(ds) == 1 and ds.ids == ["2011_09_26_drive_0001_sync_0000000005_2"]
    s = ds[0]
    ref = cv2.imread(str(shared_data / "kitti" / "object_kuixu" / "proj_depth_x256" / "000000.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(ref > 0, s["valid"])
    # a whole drive folder works too
    assert len(data.create("kitti_raw", root=tmp_path / "2011_09_26" / "2011_09_26_drive_0001_sync")) == 1


def test_split_file_formats(tmp_path):
    p = tmp_path / "s.txt"
    p.write_text("2011_09_26/2011_09_26_drive_0002_sync 69 l\n2011_09_26/2011_09_26_drive_0002_sync 70 r\n"
                 "2011_09_26/2011_09_26_drive_0009_sync/image_02/data/0000000016.png x\n")
    assert read_split_file(p) == [
        ("2011_09_26/2011_09_26_drive_0002_sync", 69, 2),
        ("2011_09_26/2011_09_26_drive_0002_sync", 70, 3),
        ("2011_09_26/2011_09_26_drive_0009_sync", 16, 2),
    ]
    p.write_text("garbage\n")
    with pytest.raises(data.DataError, match=r"s\.txt: line 1"):
        read_split_file(p)


def test_depth_completion_layout(tmp_path, shared_data):
    _write_raw_recording(tmp_path / "raw", shared_data)
    gt_dir = tmp_path / "dc" / "val" / "2011_09_26_drive_0001_sync" / "proj_depth" / "groundtruth" / "image_02"
    gt_dir.mkdir(parents=True)
    h, w = 370, 1224
    gt = np.zeros((h, w), np.uint16)
    gt[200:210, 300:400] = 2560  # 10 m
    gt[100, 100] = 65535
    cv2.imwrite(str(gt_dir / "0000000005.png"), gt)
    ds = data.create("kitti_depth", root=tmp_path / "dc", raw_root=tmp_path / "raw", split="val")
    s = ds[0]
    assert s["depth"][205, 350] == pytest.approx(10.0) and s["depth"][100, 100] == pytest.approx(65535 / 256)
    assert s["valid"].sum() == 10 * 100 + 1
    assert s["K"].fx == pytest.approx(707.0493)
    lst = tmp_path / "l.txt"
    lst.write_text("2011_09_26/2011_09_26_drive_0001_sync 6 l\n")
    with pytest.raises(data.DataError, match="no annotated depth"):
        data.create("kitti_depth", root=tmp_path / "dc", raw_root=tmp_path / "raw", files=lst)


def test_val_selection_cropped(tmp_path):
    sel = tmp_path / "val_selection_cropped"
    for sub in ("image", "groundtruth_depth", "intrinsics"):
        (sel / sub).mkdir(parents=True)
    name = "2011_09_26_drive_0002_sync_image_0000000005_image_02"
    cv2.imwrite(str(sel / "image" / f"{name}.png"), np.zeros((352, 1216, 3), np.uint8))
    g = np.zeros((352, 1216), np.uint16)
    g[10, 10] = 512
    cv2.imwrite(str(sel / "groundtruth_depth" / "2011_09_26_drive_0002_sync_groundtruth_depth_0000000005_image_02.png"), g)
    (sel / "intrinsics" / f"{name}.txt").write_text("721.5377 0.0 596.5593 0.0 721.5377 149.854 0.0 0.0 1.0")
    s = data.create("kitti_depth", selection=sel)[0]
    assert s["depth"][10, 10] == 2.0 and s["valid"].sum() == 1
    assert (s["K"].fx, s["K"].cx, s["K"].cy) == (721.5377, 596.5593, 149.854)


def test_truncated_velodyne_named(tmp_path, shared_data):
    src = require(shared_data / "kitti" / "object_kuixu")
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"\0" * 10)
    ds = data.create("kitti_raw", items=[(src / "image_2" / "000000.png", bad, src / "calib" / "000000.txt")])
    with pytest.raises(data.DataError, match=r"x\.bin: .* not a whole number"):
        ds[0]
