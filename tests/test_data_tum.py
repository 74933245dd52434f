"""TUM RGB-D loaders on the real sequences in ../shared/data/tum."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require
from rgb2depth import data
from rgb2depth.data.tum import associate, read_file_list


def _naive_associate(a, b, max_diff):
    # independent re-statement of TUM associate.py: all close pairs, greedy by gap
    cand = sorted((abs(x - y), i, j) for i, x in enumerate(a) for j, y in enumerate(b) if abs(x - y) < max_diff)
    ua, ub, out = set(), set(), []
    for _, i, j in cand:
        if i not in ua and j not in ub:
            ua.add(i)
            ub.add(j)
            out.append((i, j))
    return sorted(out)


def test_associate_matches_bruteforce():
    rng = np.random.default_rng(3)
    a = np.sort(rng.uniform(0, 5, 80))
    b = np.sort(rng.uniform(0, 5, 70))
    assert associate(a, b, 0.02) == _naive_associate(a, b, 0.02)
    assert associate([0.0, 1.0], [0.015, 1.03], 0.02) == [(0, 0)]


def test_fr1_rpy_association_and_units(shared_data):
    root = require(shared_data / "tum" / "rgbd_dataset_freiburg1_rpy")
    ds = data.create("tum", root=root)
    assert len(ds) == 694
    rgb = read_file_list(root / "rgb.txt")
    dep = read_file_list(root / "depth.txt")
    assert len(ds.items) == len(_naive_associate([t for t, _ in rgb], [t for t, _ in dep], 0.02))
    assert max(abs(tr - td) for tr, _, td, _ in ds.items) < 0.02
    s = ds[10]
    assert s["rgb"].shape == (480, 640, 3) and s["rgb"].dtype == np.uint8
    assert s["depth"].dtype == np.float32 and s["depth"].shape == (480, 640)
    d = s["depth"][s["valid"]]
    assert 0.3 < d.min() and d.max() < 6.0  # Kinect range, value / 5000
    assert np.isnan(s["depth"][~s["valid"]]).all()
    # raw PNG value / 5000 at one valid pixel
    import cv2

    raw = cv2.imread(str(root / ds.items[10][3]), cv2.IMREAD_UNCHANGED)
    v, u = np.argwhere(raw > 0)[100]
    assert s["depth"][v, u] == pytest.approx(raw[v, u] / 5000.0, rel=1e-6)
    assert (raw == 0).sum() == (~s["valid"]).sum()
    K = s["K"]
    assert (K.fx, K.fy, K.cx, K.cy) == (517.3, 516.5, 318.6, 255.3)


def test_fr1_rpy_poses_interpolated(shared_data):
    root = require(shared_data / "tum" / "rgbd_dataset_freiburg1_rpy")
    ds = data.create("tum", root=root)
    nearest = data.create("tum", root=root, poses="nearest")
    s, n = ds[100], nearest[100]
    R = s["pose"][:3, :3]
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-9)
    # interpolated and nearest poses at 100 Hz ground truth differ by at most one step of motion
    assert np.linalg.norm(s["pose"][:3, 3] - n["pose"][:3, 3]) < 0.02
    # interpolation at a ground-truth timestamp returns that pose exactly
    traj = ds.trajectory
    T = traj.at(traj.t[500])
    r = traj.rows[500]
    assert np.allclose(T[:3, 3], r[:3])
    from scipy.spatial.transform import Rotation

    assert np.allclose(T[:3, :3], Rotation.from_quat(r[3:]).as_matrix(), atol=1e-9)
    # halfway: translation is the mean of the bracketing ones
    mid = 0.5 * (traj.t[500] + traj.t[501])
    assert np.allclose(traj.at(mid)[:3, 3], 0.5 * (traj.rows[500, :3] + traj.rows[501, :3]))


def test_keyframes_layout(shared_data):
    root = require(shared_data / "tum" / "freiburg3_cabinet_keyframes")
    ds = data.create("tum_keyframes", root=root)
    assert len(ds) == 58
    s = ds[0]
    K = s["K"]
    assert (K.fx, K.fy, K.cx, K.cy) == (535.4, 539.2, 320.1, 247.6)
    assert s["id"] == "0000"
    d = s["depth"][s["valid"]]
    assert 0.3 < d.min() and d.max() < 6.0
    # first pose line: t = (-2.5508, 0.9872, 1.1019)
    assert np.allclose(s["pose"][:3, 3], [-2.5508, 0.9872, 1.1019])


def test_missing_folder_names_it(tmp_path):
    with pytest.raises(data.DataError, match="rgb.txt: file not found"):
        data.create("tum", root=tmp_path)


def test_reduced_decode_equals_full_then_resize(shared_data):
    from rgb2depth.data.transforms import resize

    root = require(shared_data / "tum" / "rgbd_dataset_freiburg1_rpy")
    a = resize(data.create("tum", root=root)[7], 240, 320)
    b = data.create("tum", root=root, reduce=2)[7]
    assert b["rgb"].shape == (240, 320, 3) and b["K"] == a["K"]
    assert np.array_equal(b["depth"], a["depth"], equal_nan=True)  # same nearest samples
    assert np.abs(a["rgb"].astype(int) - b["rgb"].astype(int)).mean() < 1.5  # DCT vs area scaling
