"""Point clouds from depth (hand-computed back-projection) and PLY files (round trip, Open3D)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rgb2depth.geometry.camera import Intrinsics
from rgb2depth.geometry.pointcloud import (
    PointCloud,
    default_intrinsics,
    depth_to_pointcloud,
    read_ply,
    stride_for,
    write_ply,
)


def test_backprojection_by_hand():
    depth = np.array([[1.0, np.nan, 2.0], [0.0, 4.0, -1.0]], np.float32)
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    K = Intrinsics(fx=2.0, fy=4.0, cx=1.0, cy=0.5, width=3, height=2)
    pc = depth_to_pointcloud(depth, K, rgb)
    # valid pixels in raster order: (u,v) = (0,0) z=1, (2,0) z=2, (1,1) z=4
    want = np.array([[(0 - 1) * 1 / 2, (0 - 0.5) * 1 / 4, 1],
                     [(2 - 1) * 2 / 2, (0 - 0.5) * 2 / 4, 2],
                     [(1 - 1) * 4 / 2, (1 - 0.5) * 4 / 4, 4]], np.float32)
    np.testing.assert_allclose(pc.points, want, atol=1e-7)
    np.testing.assert_array_equal(pc.colors, rgb[[0, 0, 1], [0, 2, 1]])
    # a valid mask removes points too
    valid = np.ones((2, 3), bool)
    valid[0, 2] = False
    assert len(depth_to_pointcloud(depth, K, rgb, valid=valid)) == 2


def test_project_inverts_backproject_on_a_real_tum_frame(shared_data):
    """Every valid pixel of a real TUM fr1/rpy depth frame, back-projected with the sequence's
    camera and projected again, lands on its own pixel centre with its own depth."""
    from conftest import require
    from rgb2depth import data
    from rgb2depth.geometry.camera import backproject, project

    s = data.create("tum", root=require(shared_data / "tum" / "rgbd_dataset_freiburg1_rpy"))[0]
    depth, K = s["depth"], s["K"]
    ok = np.isfinite(depth) & (depth > 0)
    assert ok.mean() > 0.5  # a real frame, mostly valid
    pts = backproject(depth, K)
    uv, z = project(pts, K)
    v, u = np.nonzero(ok)
    np.testing.assert_allclose(uv, np.stack([u, v], 1), atol=1e-9)
    np.testing.assert_allclose(z, depth[ok], rtol=1e-12)
    # and a point moved along its ray keeps its pixel (projection divides by z)
    uv2, _ = project(pts * 2.5, K)
    np.testing.assert_allclose(uv2, uv, atol=1e-9)


def test_default_fov():
    K = default_intrinsics(640, 480)
    # 62 degrees horizontal: fx = 320 / tan(31 deg) = 532.57 px
    assert K.fx == pytest.approx(320 / math.tan(math.radians(31)), rel=1e-9)
    assert K.fy == K.fx and K.cx == 319.5 and K.cy == 239.5


def test_stride_is_exact_subgrid():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 5, (12, 18)).astype(np.float32)
    K = Intrinsics(20.0, 21.0, 8.3, 5.7, 18, 12)
    full = depth_to_pointcloud(depth, K).points.reshape(12, 18, 3)
    sub = depth_to_pointcloud(depth, K, stride=3).points
    np.testing.assert_allclose(sub, full[::3, ::3].reshape(-1, 3), rtol=1e-6, atol=1e-6)
    assert stride_for(12_000_000, 2_000_000) == 3  # ceil(sqrt(6)) = 3 -> 1.33 M points
    assert stride_for(100, None) == 1 and stride_for(100, 1000) == 1


def test_shape_checks():
    with pytest.raises(ValueError, match="intrinsics are for"):
        depth_to_pointcloud(np.ones((4, 5)), Intrinsics(1, 1, 0, 0, 6, 4))
    with pytest.raises(ValueError, match="rgb shape"):
        depth_to_pointcloud(np.ones((4, 5)), None, np.zeros((4, 4, 3), np.uint8))


def test_ply_round_trip_and_bytes(tmp_path):
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(57, 3)).astype(np.float32)
    cols = rng.integers(0, 256, (57, 3), dtype=np.uint8)
    p = write_ply(tmp_path / "c.ply", PointCloud(pts, cols))
    raw = p.read_bytes()
    header_end = raw.index(b"end_header\n") + len(b"end_header\n")
    assert b"format binary_little_endian 1.0" in raw[:header_end]
    assert len(raw) - header_end == 57 * (3 * 4 + 3)  # float x,y,z + uchar r,g,b
    first = np.frombuffer(raw[header_end:header_end + 12], "<f4")
    np.testing.assert_array_equal(first, pts[0])
    back = read_ply(p)
    np.testing.assert_array_equal(back.points, pts)
    np.testing.assert_array_equal(back.colors, cols)
    # no colours
    write_ply(tmp_path / "n.ply", pts)
    assert read_ply(tmp_path / "n.ply").colors is None
    # empty cloud
    write_ply(tmp_path / "e.ply", np.zeros((0, 3), np.float32))
    assert len(read_ply(tmp_path / "e.ply")) == 0


def test_ply_read_ascii_and_errors(tmp_path):
    (tmp_path / "a.ply").write_text(
        "ply\nformat ascii 1.0\ncomment hand-written\nelement vertex 2\nproperty double x\n"
        "property double y\nproperty double z\nproperty uchar red\nproperty uchar green\n"
        "property uchar blue\nelement face 0\nproperty list uchar int vertex_indices\nend_header\n"
        "1.5 -2 3 255 0 10\n0 0.25 1 1 2 3\n"
    )
    pc = read_ply(tmp_path / "a.ply")
    np.testing.assert_allclose(pc.points, [[1.5, -2, 3], [0, 0.25, 1]])
    np.testing.assert_array_equal(pc.colors, [[255, 0, 10], [1, 2, 3]])
    write_ply(tmp_path / "t.ply", np.ones((10, 3), np.float32))
    data = (tmp_path / "t.ply").read_bytes()
    (tmp_path / "t.ply").write_bytes(data[:-20])
    with pytest.raises(ValueError, match="truncated"):
        read_ply(tmp_path / "t.ply")
    (tmp_path / "x.ply").write_text("hello\n")
    with pytest.raises(ValueError, match="not a PLY file"):
        read_ply(tmp_path / "x.ply")


def test_open3d_reads_our_ply(tmp_path):
    o3d = pytest.importorskip("open3d")
    rng = np.random.default_rng(2)
    depth = rng.uniform(1, 3, (30, 40)).astype(np.float32)
    rgb = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    pc = depth_to_pointcloud(depth, None, rgb)
    write_ply(tmp_path / "o.ply", pc)
    o = o3d.io.read_point_cloud(str(tmp_path / "o.ply"))
    np.testing.assert_allclose(np.asarray(o.points), pc.points, atol=1e-6)
    np.testing.assert_allclose(np.asarray(o.colors), pc.colors / 255.0, atol=1e-6)
