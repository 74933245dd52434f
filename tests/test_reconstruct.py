"""Reconstruction pipeline on a synthetic scene rendered analytically from known depth.

The scene is a textured plane z = PLANE_Z (world frame); every frame's depth and colour are
computed exactly by ray-plane intersection, so fusion and odometry have known answers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from rgb2depth.geometry.camera import Intrinsics
from rgb2depth.geometry.reconstruct import (
    ReconstructionError,
    RGBDOdometry,
    TSDFFusion,
    VideoSequence,
    detect_kind,
    ground_truth_depth,
    look_at,
    open_sequence,
    reconstruct,
    reconstruct_frames,
    render_points,
    resize_sample,
)
from rgb2depth.geometry.trajectory import ate, read_tum

pytest.importorskip("open3d")

# Not a multiple of the 1 cm voxel: a surface exactly on voxel centres has TSDF values of
# exactly 0, where open3d's point extraction finds no sign change (real depth never does this).
PLANE_Z = 2.004
K160 = Intrinsics(130.0, 130.0, 79.5, 59.5, 160, 120)


def texture(x, y):
    """Smooth colour pattern on the plane (RGB in [0, 1])."""
    r = 0.5 + 0.25 * np.sin(2 * np.pi * x / 0.31) + 0.2 * np.cos(2 * np.pi * y / 0.17)
    g = 0.5 + 0.3 * np.sin(2 * np.pi * (x + y) / 0.23)
    b = 0.5 + 0.3 * np.cos(2 * np.pi * (x - 0.5 * y) / 0.41)
    return np.clip(np.stack([r, g, b], -1), 0, 1)


def pose(t=(0, 0, 0), rot_deg=(0, 0, 0)):
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("xyz", rot_deg, degrees=True).as_matrix()
    T[:3, 3] = t
    return T


def render(T, K=K160, points=False):
    """(rgb uint8, z-depth float32) of the textured plane seen from camera-to-world pose T
    (and the HxWx3 world points when ``points``)."""
    v, u = np.mgrid[0 : K.height, 0 : K.width].astype(np.float64)
    d_cam = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones_like(u)], -1)
    d_w = d_cam @ T[:3, :3].T
    s = (PLANE_Z - T[2, 3]) / d_w[..., 2]  # ray parameter == z-depth (d_cam z = 1)
    X = T[:3, 3] + s[..., None] * d_w
    rgb = (texture(X[..., 0], X[..., 1]) * 255).round().astype(np.uint8)
    if points:
        return rgb, s.astype(np.float32), X
    return rgb, s.astype(np.float32)


def sample(T, i, K=K160):
    rgb, depth = render(T, K)
    return {"rgb": rgb, "depth": depth, "valid": np.isfinite(depth), "K": K, "id": f"f{i:03d}", "pose": T}


POSES = [pose((0, 0, 0)), pose((0.03, 0.01, 0.0), (0.5, -1.0, 0)), pose((0.06, 0.0, 0.02), (0, -2.0, 0.5)),
         pose((0.08, -0.02, 0.03), (-1.0, -2.5, 1.0))]


def test_tsdf_reconstructs_plane_within_voxel():
    fusion = TSDFFusion(voxel=0.01)
    for i, T in enumerate(POSES):
        s = sample(T, i)
        fusion.integrate(s["rgb"], s["depth"], s["K"], T)
    mesh = fusion.mesh()
    V = np.asarray(mesh.vertices)
    assert len(V) > 1000 and len(mesh.triangles) > 1000
    assert np.abs(V[:, 2] - PLANE_Z).max() < 0.01
    assert np.median(np.abs(V[:, 2] - PLANE_Z)) < 0.002
    # The surface covers what the cameras saw: its x/y extent is the union of the frames'.
    X = np.concatenate([render(T, points=True)[2].reshape(-1, 3) for T in POSES])
    for a in (0, 1):
        assert V[:, a].min() == pytest.approx(X[:, a].min(), abs=0.03)
        assert V[:, a].max() == pytest.approx(X[:, a].max(), abs=0.03)
    # Colours come from the texture: compare vertex colours with the analytic pattern.
    C = np.asarray(mesh.vertex_colors)
    err = np.abs(C - texture(V[:, 0], V[:, 1])).mean()
    assert err < 0.05


def test_odometry_recovers_known_motion_on_synthetic_frames():
    odo = RGBDOdometry(depth_max=5.0)
    T0 = pose((0, 0, 0))
    T1 = pose((0.02, -0.01, 0.01), (0.6, -0.8, 0.3))
    s0, s1 = sample(T0, 0), sample(T1, 1)
    first = odo.track(s0["rgb"], s0["depth"], s0["K"])
    assert first.ok and np.array_equal(first.pose, np.eye(4))
    step = odo.track(s1["rgb"], s1["depth"], s1["K"])
    assert step.ok and step.fitness > 0.9, step
    T = step.motion
    rel = np.linalg.inv(T0) @ T1  # T_prev_cur
    assert np.linalg.norm(T[:3, 3] - rel[:3, 3]) < 0.003
    ang = np.degrees(Rotation.from_matrix(T[:3, :3] @ rel[:3, :3].T).magnitude())
    assert ang < 0.2


def test_pipeline_outputs_and_trajectory(tmp_path):
    samples = [sample(T, i) for i, T in enumerate(POSES)]
    res = reconstruct_frames(iter(samples), ground_truth_depth, tmp_path / "odo", poses="odometry", width=None,
                             progress=False)
    assert res.frames == 4 and res.odometry_failures == 0 and not res.skipped
    for k in ("mesh", "cloud", "trajectory", "groundtruth", "preview", "summary"):
        assert res.files[k].is_file(), k
    est = read_tum(res.files["trajectory"])
    assert est.stamps == ["f000", "f001", "f002", "f003"]
    # The trajectory starts at the first frame's known pose and follows the true motion.
    assert np.allclose(est.poses[0], POSES[0], atol=1e-8)
    assert ate(np.array(POSES), est.poses).rmse < 0.005
    assert res.ate["rmse"] < 0.005
    summary = json.loads(res.files["summary"].read_text())
    assert summary["frames"] == 4 and summary["settings"]["poses"] == "odometry"
    import cv2

    prev = cv2.imread(str(res.files["preview"]))
    assert prev.shape == (480, 640, 3)
    assert (prev < 250).any(axis=2).mean() > 0.05  # something other than background was drawn

    # Ground-truth poses: the written trajectory is exactly those poses; a frame without a
    # pose is skipped and reported.
    samples[2] = {k: v for k, v in samples[2].items() if k != "pose"}
    res_gt = reconstruct_frames(iter(samples), ground_truth_depth, tmp_path / "gt", poses="ground-truth",
                                width=None, progress=False, preview=False)
    assert res_gt.frames == 3 and res_gt.skipped == ["f002: no ground-truth pose"]
    assert np.allclose(read_tum(res_gt.files["trajectory"]).poses, np.array(POSES)[[0, 1, 3]], atol=1e-8)


def test_pipeline_rejects_bad_inputs(tmp_path):
    s = sample(POSES[0], 0)
    with pytest.raises(ReconstructionError, match="f000: no camera intrinsics"):
        reconstruct_frames([{**s, "K": None}], ground_truth_depth, tmp_path, width=None, progress=False)
    with pytest.raises(ReconstructionError, match="f000: the sequence has no ground-truth depth"):
        reconstruct_frames([{**s, "depth": None}], ground_truth_depth, tmp_path, width=None, progress=False)
    with pytest.raises(ReconstructionError, match="no frame could be integrated"):
        reconstruct_frames([s], lambda _: np.full((120, 160), np.nan, np.float32), tmp_path, width=None,
                           progress=False)
    with pytest.raises(ReconstructionError, match="depth must be a 2-D map"):
        reconstruct_frames([s], lambda _: np.ones((2, 3, 4)), tmp_path, width=None, progress=False)


def test_resize_sample_scales_intrinsics_and_keeps_nan():
    s = sample(POSES[0], 0)
    s["depth"][10:20, 10:20] = np.nan
    s["valid"] = np.isfinite(s["depth"])
    r = resize_sample(s, 80)
    assert r["rgb"].shape == (60, 80, 3) and r["depth"].shape == (60, 80)
    assert r["K"] == K160.scaled(80, 60)
    assert np.isnan(r["depth"][6, 6]) and not r["valid"][6, 6]
    assert np.array_equal(np.isfinite(r["depth"]), r["valid"])
    # Nearest-neighbour depth: every value is one of the input's.
    assert np.isin(r["depth"][r["valid"]], s["depth"][s["valid"]]).all()
    assert resize_sample(s, 640)["rgb"] is s["rgb"]


def test_render_points_projection_and_occlusion():
    view = np.eye(4)  # camera at the origin looking along +z
    pts = np.array([[0.0, 0.0, 2.0], [0.0, 0.0, 3.0], [0.5, 0.0, 2.0]])
    cols = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    img = render_points(pts, cols, view, size=(101, 81), fov_deg=90.0, point_px=1)
    # f = 50.5 / tan(45) = 50.5, centre (50, 40): the near red point hides the green one.
    assert tuple(img[40, 50]) == (255, 0, 0)
    u = round(50.5 * 0.5 / 2.0 + 50)  # 63
    assert tuple(img[40, u]) == (0, 0, 255)
    assert (img == 255).all(axis=2).sum() == 101 * 81 - 2
    # look_at: the target projects to the image centre.
    T = look_at([1.0, -1.0, -2.0], [0.0, 0.0, 2.0], [0, -1.0, 0])
    pc = np.linalg.inv(T) @ np.array([0, 0, 2.0, 1])
    assert np.allclose(pc[:2], 0, atol=1e-12) and pc[2] > 0


def _write_folder_dataset(root, n=4):
    import cv2

    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    lines = []
    for i, T in enumerate(POSES[:n]):
        rgb, depth = render(T)
        cv2.imwrite(str(root / "rgb" / f"{i:04d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "depth" / f"{i:04d}.png"), np.round(depth * 1000).astype(np.uint16))
        q = Rotation.from_matrix(T[:3, :3]).as_quat()
        lines.append(f"{i:04d} " + " ".join(f"{x:.9f}" for x in [*T[:3, 3], *q]))
    (root / "poses.txt").write_text("\n".join(lines) + "\n")
    K = K160
    (root / "intrinsics.json").write_text(json.dumps({"fx": K.fx, "fy": K.fy, "cx": K.cx, "cy": K.cy,
                                                      "width": K.width, "height": K.height}))


def test_cli_on_folder_dataset(tmp_path):
    from typer.testing import CliRunner

    from rgb2depth.cli import app

    seq = tmp_path / "seq"
    _write_folder_dataset(seq)
    assert detect_kind(seq) == "folder"
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["reconstruct", str(seq), "-o", str(out), "--depth", "ground-truth",
                                 "--poses", "ground-truth", "--width", "0", "--voxel", "0.02", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "4 read, 4 integrated, 0 failed tracking" in r.output
    assert np.allclose(read_tum(out / "trajectory.txt").poses, np.array(POSES), atol=1e-6)
    assert (out / "mesh.ply").is_file() and (out / "preview.png").is_file()
    # --stride / --max-frames pick frames 0 and 2.
    r = CliRunner().invoke(app, ["reconstruct", str(seq), "-o", str(tmp_path / "o2"), "--depth", "ground-truth",
                                 "--stride", "2", "--max-frames", "2", "--width", "0", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert read_tum(tmp_path / "o2" / "trajectory.txt").stamps == ["0000", "0002"]
    # Errors: one line naming the input, exit code 1.
    r = CliRunner().invoke(app, ["reconstruct", str(tmp_path / "missing"), "-o", str(out), "--depth", "ground-truth"])
    assert r.exit_code == 1 and "missing: no such file or folder" in r.output
    r = CliRunner().invoke(app, ["reconstruct", str(seq), "-o", str(out), "--poses", "bogus"])
    assert r.exit_code != 0
    r = CliRunner().invoke(app, ["reconstruct", str(seq), "-o", str(out), "--model", str(tmp_path / "nope.pt")])
    assert r.exit_code == 1 and "nope.pt: no such model file" in r.output


def test_cli_lists_failed_frames_and_exits_2_when_tracking_is_lost(tmp_path):
    import cv2
    from typer.testing import CliRunner

    from rgb2depth.cli import app

    seq = tmp_path / "seq"
    _write_folder_dataset(seq)
    for i in (1, 2, 3):  # frames without a single depth measurement
        cv2.imwrite(str(seq / "depth" / f"{i:04d}.png"), np.zeros((120, 160), np.uint16))
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["reconstruct", str(seq), "-o", str(out), "--depth", "ground-truth", "--width", "0",
                                 "--voxel", "0.02", "--max-lost", "2", "--no-progress"])
    assert r.exit_code == 2, r.output
    assert "3 read, 1 integrated, 2 failed tracking" in r.output
    assert "0001: only 0% of the pixels have depth in [0.1, 4.0] m" in r.output
    assert "tracking lost at 0002: 2 consecutive frames failed the checks" in r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "lost" and summary["odometry_failures"] == 2
    assert [f["id"] for f in summary["failed_frames"]] == ["0001", "0002"]
    assert read_tum(out / "trajectory.txt").stamps == ["0000"]  # failed frames have no pose


class ConstantDepth:
    """A stand-in predictor: the plane seen head-on is at PLANE_Z everywhere."""

    name = "constant"

    def __init__(self):
        self.calls = 0

    def predict(self, rgb):
        self.calls += 1
        return np.full(rgb.shape[:2], PLANE_Z, np.float32)


def test_predictor_gets_the_working_resolution_focal_length(tmp_path):
    from rgb2depth.geometry.reconstruct import predictor_depth

    class FocalAware(ConstantDepth):
        def predict(self, rgb, focal=None):
            self.focals.append((focal, rgb.shape[1]))
            return super().predict(rgb)

    pred = FocalAware()
    pred.focals = []
    samples = [sample(T, i) for i, T in enumerate(POSES[:2])]
    reconstruct_frames(iter(samples), predictor_depth(pred), tmp_path, poses="ground-truth", width=80,
                       progress=False, preview=False, write_mesh=False)
    # 160 -> 80 px wide: the focal length in pixels of the frame the network sees halves.
    assert pred.focals == [(K160.scaled(80, 60).fx, 80)] * 2 and K160.scaled(80, 60).fx == 65.0
    # A predictor without the argument is called as before.
    plain = ConstantDepth()
    assert predictor_depth(plain)(samples[0]).shape == (120, 160) and plain.calls == 1


def test_image_folder_and_video_with_a_predictor(tmp_path):
    import cv2

    # Pure translations parallel to the plane: the true depth is PLANE_Z at every pixel.
    traj = [pose((0.01 * i, 0.004 * i, 0.0)) for i in range(6)]
    frames = [render(T)[0] for T in traj]
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(imgs / f"im{i}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    assert detect_kind(imgs) == "images"
    with pytest.raises(ReconstructionError, match="needs --intrinsics"):
        open_sequence(imgs)
    intr = f"{K160.fx},{K160.fy},{K160.cx},{K160.cy}"
    pred = ConstantDepth()
    res = reconstruct(imgs, tmp_path / "o_img", predictor=pred, intrinsics=intr, width=None, progress=False)
    assert res.frames == 6 and pred.calls == 6 and res.odometry_failures == 0
    # A plane fixes only three degrees of freedom: the photometric term carries the rest
    # (ICP is left out, see icp_conditioning); a camera that stood still would be 3 cm off.
    assert all(st["source"] == "frame" for st in res.steps[1:])
    assert ate(np.array(traj), res.poses).rmse < 0.005
    with pytest.raises(ReconstructionError, match="no ground-truth depth"):
        reconstruct(imgs, tmp_path / "x", depth="ground-truth", intrinsics=intr)

    video = tmp_path / "v.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for f in frames:
        w.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    w.release()
    assert detect_kind(video) == "video"
    seq = VideoSequence(video, K160, stride=2)
    ids = [s["id"] for s in seq]
    assert ids == ["frame-000000", "frame-000002", "frame-000004"] and len(seq) == 3
    res = reconstruct(video, tmp_path / "o_vid", predictor=ConstantDepth(), intrinsics=intr, width=None,
                      progress=False)
    assert res.frames == 6
    # JPEG-compressed frames: still within a few millimetres.
    assert ate(np.array(traj), res.poses).rmse < 0.005
    with pytest.raises(ReconstructionError, match="needs --intrinsics"):
        open_sequence(video)


def test_open_sequence_intrinsics_override_and_stride(tmp_path):
    seq = tmp_path / "seq"
    _write_folder_dataset(seq)
    frames, total, kind = open_sequence(seq, intrinsics="100,101,80,60", stride=3)
    got = list(frames)
    assert kind == "folder" and total == 2 and [s["id"] for s in got] == ["0000", "0003"]
    assert got[0]["K"] == Intrinsics(100.0, 101.0, 80.0, 60.0, 160, 120)
    frames, total, _ = open_sequence(seq, max_frames=3)
    assert total == 3 and len(list(frames)) == 3
    with pytest.raises(ValueError, match="fx,fy,cx,cy"):
        open_sequence(seq, intrinsics="100,101")


def test_depth_fn_output_is_fitted_to_the_frame():
    from rgb2depth.geometry.frames import fit_depth as _fit_depth

    d = np.full((60, 80), 2.0, np.float32)
    d[:10, :10] = 0.0  # invalid as 0 -> NaN, never 0 m
    out = _fit_depth(d, 120, 160, "x")
    assert out.shape == (120, 160) and out.dtype == np.float32
    assert np.isnan(out[:20, :20]).all() and (out[20:, 20:] == 2.0).all()
    smooth = _fit_depth(np.linspace(1, 2, 80, dtype=np.float32)[None].repeat(60, 0), 120, 160, "x")
    assert np.isfinite(smooth).all() and smooth.min() >= 1.0 and smooth.max() <= 2.0
