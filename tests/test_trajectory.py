"""Trajectory I/O and the TUM ATE/RPE definitions, against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from rgb2depth.geometry.trajectory import (
    Trajectory,
    align,
    associate,
    ate,
    pose_to_tum,
    read_tum,
    rpe,
    tum_to_pose,
    umeyama,
    write_tum,
)


def _rigid(rng, scale_t=1.0):
    T = np.eye(4)
    T[:3, :3] = Rotation.random(random_state=int(rng.integers(1 << 30))).as_matrix()
    T[:3, 3] = rng.normal(size=3) * scale_t
    return T


def _random_traj(rng, n=40):
    poses = [_rigid(rng) for _ in range(n)]
    return np.array(poses)


def test_tum_round_trip_numeric_and_stem_stamps(tmp_path):
    rng = np.random.default_rng(0)
    poses = _random_traj(rng, 25)
    stamps = [1305031229.528748 + 0.033 * i for i in range(25)]
    p = write_tum(tmp_path / "a" / "traj.txt", stamps, poses, header="test file")
    t = read_tum(p)
    assert len(t) == 25
    assert np.allclose(t.numeric_stamps(), stamps, atol=1e-6)
    assert np.allclose(t.poses, poses, atol=1e-8)
    # Frame stems (the project's folder layout) survive as strings.
    stems = [f"frame-{i:06d}" for i in range(25)]
    t2 = read_tum(write_tum(tmp_path / "b.txt", stems, poses))
    assert t2.stamps == stems and t2.numeric_stamps() is None
    assert np.allclose(t2.poses, poses, atol=1e-8)


def test_tum_line_format_matches_hand_values(tmp_path):
    # 90 degrees about z: q = (0, 0, sin 45, cos 45).
    T = np.eye(4)
    T[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    T[:3, 3] = [1, 2, 3]
    v = pose_to_tum(T)
    s = np.sqrt(0.5)
    assert np.allclose(v, [1, 2, 3, 0, 0, s, s])
    assert np.allclose(tum_to_pose(v), T)
    # Non-normalised quaternions are normalised (TUM files carry 4 decimals).
    assert np.allclose(tum_to_pose([1, 2, 3, 0, 0, 2, 2]), T)
    line = (tmp_path / "t.txt")
    write_tum(line, [1.5], T[None])
    body = [ln for ln in line.read_text().splitlines() if not ln.startswith("#")]
    assert body[0].split()[0] == "1.500000" and len(body[0].split()) == 8


def test_read_tum_errors_name_file_and_line(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text("# header\n1.0 0 0 0 0 0 0 1\n2.0 0 0 0 0 0\n")
    with pytest.raises(ValueError, match=r"bad.txt:3: expected 8 fields"):
        read_tum(p)
    p.write_text("1.0 0 0 0 0 0 0 0\n")
    with pytest.raises(ValueError, match=r"bad.txt:1: quaternion"):
        read_tum(p)
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        read_tum(tmp_path / "missing.txt")


def test_associate_greedy_like_tum():
    a = [0.0, 1.0, 2.0, 3.0]
    b = [0.01, 0.995, 1.5, 2.03, 3.004, 3.0005]
    # 2.0 has no partner within 0.02 s; 3.0 takes the nearer 3.0005 (index 5), not 3.004.
    assert associate(a, b, 0.02) == [(0, 0), (1, 1), (3, 5)]
    # Each stamp used once: two estimates competing for one ground-truth stamp.
    assert associate([1.000, 1.005], [1.004], 0.02) == [(1, 0)]
    # Offset shifts b.
    assert associate([1.0], [0.5], 0.02, offset=0.5) == [(0, 0)]
    # Frame stems match by name.
    assert associate(["f2", "f1", "x"], ["f1", "f2"]) == [(0, 1), (1, 0)]


def test_umeyama_recovers_similarity_and_matches_open3d():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(50, 3))
    R = Rotation.random(random_state=3).as_matrix()
    t = np.array([0.3, -2.0, 1.0])
    dst = 2.5 * src @ R.T + t
    R1, t1, s1 = umeyama(src, dst, with_scale=True)
    assert np.allclose(R1, R) and np.allclose(t1, t) and s1 == pytest.approx(2.5)
    # With noise: compare with open3d's point-to-point estimator (an independent implementation).
    o3d = pytest.importorskip("open3d")
    noisy = dst + rng.normal(scale=0.05, size=dst.shape)
    for scaling in (False, True):
        R2, t2, s2 = umeyama(src, noisy, with_scale=scaling)
        a = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(src))
        b = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(noisy))
        corr = o3d.utility.Vector2iVector(np.stack([np.arange(50)] * 2, 1))
        est = o3d.pipelines.registration.TransformationEstimationPointToPoint(with_scaling=scaling)
        T = est.compute_transformation(a, b, corr)
        assert np.allclose(s2 * R2, T[:3, :3], atol=1e-6)
        assert np.allclose(t2, T[:3, 3], atol=1e-6)


def test_ate_zero_for_rigidly_moved_trajectory():
    rng = np.random.default_rng(2)
    gt = _random_traj(rng, 30)
    A = _rigid(rng, 5.0)
    est = A @ gt  # same trajectory expressed in another world frame
    r = ate(gt, est)
    assert r.rmse < 1e-9 and r.pairs == 30 and r.scale == 1.0
    assert np.allclose(align(est, r), gt, atol=1e-9)
    # A similarity needs with_scale: rigid ATE is then > 0, Sim(3) ATE is 0 with scale 1/0.5.
    est_s = est.copy()
    est_s[:, :3, 3] *= 0.5
    assert ate(gt, est_s).rmse > 0.1
    rs = ate(gt, est_s, with_scale=True)
    assert rs.rmse < 1e-9 and rs.scale == pytest.approx(2.0)


def test_ate_known_offset_gives_known_rmse():
    # Square corners with a saddle-shaped z error (+e, -e, +e, -e): its cross-covariance with the
    # square is zero, so the best rigid fit is the identity and every residual is exactly e.
    e = 0.07
    xy = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=float)
    gt = np.tile(np.eye(4), (4, 1, 1))
    gt[:, :2, 3] = xy
    est = gt.copy()
    est[:, 2, 3] = [e, -e, e, -e]
    r = ate(gt, est)
    assert r.rmse == pytest.approx(e, abs=1e-12)
    assert np.allclose(r.rotation, np.eye(3), atol=1e-12) and np.allclose(r.translation, 0, atol=1e-12)
    # Errors on only two of four points (0.1 m each): after removing the mean offset
    # (0.05 m) every residual is 0.05 m.
    est2 = gt.copy()
    est2[:, 2, 3] = [0.1, 0.0, 0.1, 0.0]  # = 0.05 + saddle(0.05)
    assert ate(gt, est2).rmse == pytest.approx(0.05, abs=1e-12)


def test_ate_uses_timestamp_association(tmp_path):
    rng = np.random.default_rng(4)
    gt_poses = _random_traj(rng, 50)
    gt_stamps = [100.0 + 0.01 * i for i in range(50)]
    # Estimate: every 5th pose, stamps 3 ms late, in another world frame.
    A = _rigid(rng, 2.0)
    idx = list(range(0, 50, 5))
    est = Trajectory([f"{gt_stamps[i] + 0.003:.6f}" for i in idx], A @ gt_poses[idx])
    r = ate(write_tum(tmp_path / "gt.txt", gt_stamps, gt_poses), est)
    assert r.pairs == 10 and r.rmse < 1e-7
    with pytest.raises(ValueError, match="at least 3 associated"):
        ate(Trajectory(["1", "2"], gt_poses[:2]), Trajectory(["1", "2"], gt_poses[:2]))


def test_rpe_hand_values():
    n = 6
    gt = np.tile(np.eye(4), (n, 1, 1))
    gt[:, 0, 3] = np.arange(n) * 1.0
    est = gt.copy()
    est[:, 0, 3] = np.arange(n) * 1.1  # every step 10 cm too long
    r = rpe(gt, est, delta=1)
    assert r["pairs"] == n - 1
    assert r["trans_rmse"] == pytest.approx(0.1) and r["rot_rmse_deg"] == pytest.approx(0.0, abs=1e-6)
    assert rpe(gt, est, delta=2)["trans_rmse"] == pytest.approx(0.2)
    # A constant 2-degree yaw error per step.
    est_r = gt.copy()
    for i in range(n):
        est_r[i, :3, :3] = Rotation.from_euler("z", 2.0 * i, degrees=True).as_matrix()
    rr = rpe(gt, est_r, delta=1)
    assert rr["rot_mean_deg"] == pytest.approx(2.0, abs=1e-6)


@pytest.mark.data
def test_ate_on_real_tum_groundtruth(shared_data, tmp_path):
    from conftest import require

    gt_path = require(shared_data / "tum" / "rgbd_dataset_freiburg1_rpy" / "groundtruth.txt")
    gt = read_tum(gt_path)
    assert len(gt) > 1000
    rng = np.random.default_rng(5)
    A = _rigid(rng, 3.0)
    idx = np.arange(0, len(gt), 7)
    # 1 ms later stamps: TUM's association picks the same poses (100 Hz ground truth).
    est = Trajectory([f"{float(gt.stamps[i]) + 0.001:.4f}" for i in idx], A @ gt.poses[idx])
    r = ate(gt_path, est)
    assert r.pairs == len(idx) and r.rmse < 1e-6
    # 2 cm noise in x only: RMSE close to 2 cm (alignment absorbs a little).
    noisy = est.poses.copy()
    noisy[:, :3, 3] += rng.normal(scale=0.02, size=len(idx))[:, None] * A[:3, 0][None, :]
    r2 = ate(gt, Trajectory(est.stamps, noisy))
    assert 0.017 < r2.rmse < 0.021


def test_dataset_pose_reader_shares_the_parser(tmp_path):
    """The loaders' read_trajectory parses exactly like read_tum (commas, inline comments) and
    reports errors as one-line DataErrors naming the file and line."""
    from rgb2depth.data import DataError
    from rgb2depth.data.poses import read_trajectory

    p = tmp_path / "gt.txt"
    p.write_text("# header\n1.5, 1 2 3 0 0 0 2  # comma separator and a comment\n")
    keys, rows = read_trajectory(p)
    assert keys == [1.5] and np.allclose(rows, [[1, 2, 3, 0, 0, 0, 2]])
    assert np.allclose(read_tum(p).poses[0][:3, 3], [1, 2, 3])
    p.write_text("1.0 0 0 0 0 0 1\n")
    with pytest.raises(DataError, match=r"gt.txt: line 1: expected 8 fields"):
        read_trajectory(p)
    p.write_text("abc 0 0 0 0 0 0 1\n")
    with pytest.raises(DataError, match=r"gt.txt: a timestamp is not a number"):
        read_trajectory(p)
    assert read_trajectory(p, keyed=True)[0] == ["abc"]
