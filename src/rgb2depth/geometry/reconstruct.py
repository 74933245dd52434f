"""3D reconstruction from (predicted) depth: odometry + TSDF fusion (paper 003, Section 4.4).

Paper 003 (Laina et al., FCRN) Section 4.4 feeds its predicted depth maps to a SLAM system:
frame-to-frame camera tracking by Gauss-Newton on intensity differences of consecutive frames
(Kerl et al., ICRA 2013, the paper's [12]) and fusion of the depth maps into one global model
(point-based fusion, [11]), compared with the same pipeline run on ground-truth depth. This
module is that pipeline built from open3d-cpu 0.19's maintained parts:

- **Depth source**: a ``depth_fn(sample) -> HxW float32 metres`` (NaN = invalid), so the same
  pipeline runs on a network's prediction (:func:`predictor_depth`), on the sequence's sensor
  depth (:func:`ground_truth_depth`, the reference) or on anything a test supplies.
- **Tracking** (:class:`RGBDOdometry`): open3d's dense RGB-D odometry with the hybrid
  photometric + geometric term (Steinbruecker et al. 2011 / Kerl et al. 2013 style
  coarse-to-fine Gauss-Newton), frame to frame, initialised with the previous motion (constant
  velocity). Or the ground-truth poses of the sequence (``poses="ground-truth"``).
- **Fusion**: a scalable (voxel-hashed) TSDF volume (Curless & Levoy 1996 / KinectFusion), in
  place of the paper's surfel fusion: the same role -- averaging many noisy depth maps into one
  surface -- and it yields a watertight mesh; the marching-cubes mesh and the voxel point
  cloud are written as PLY.
- **Outputs** in ``outdir``: ``mesh.ply``, ``cloud.ply``, ``trajectory.txt`` (TUM format,
  camera-to-world), ``groundtruth.txt`` (the sequence's poses of the used frames, when known),
  ``preview.png`` (a z-buffer rendering of the coloured cloud; open3d's offscreen renderer
  needs EGL/a GPU, so :func:`render_points` projects the points with numpy), ``summary.json``
  (settings, frame counts, odometry failures, timings, ATE against the sequence's poses).

Frames are streamed: one sample, its depth and the previous frame's odometry image are held at
a time, so memory is bounded by the TSDF (the scene's surface area), not the sequence length.
Frames are processed at a working resolution (``width``, default 320 px, i.e. 320x240 for 4:3):
RGB is reduced with area averaging, sensor depth with nearest-neighbour sampling (no mixing of
depths across object edges), intrinsics scaled with :meth:`Intrinsics.scaled`.

Conventions: poses are camera-to-world 4x4 (``p_world = T p_cam``); depth is z-depth in
metres; at the open3d boundary invalid depth becomes 0 (open3d's "no measurement" value).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rgb2depth.geometry.camera import Intrinsics

DepthFn = Callable[[dict], np.ndarray]

#: Default reconstruction settings (documented in the CLI help).
DEFAULT_WIDTH = 320
DEFAULT_VOXEL = 0.01
DEFAULT_DEPTH_MIN = 0.1
DEFAULT_DEPTH_MAX = 4.0
#: Odometry correspondences whose depths differ by more than this are outliers (metres).
#: open3d's default is 0.03 m; predicted depth is smoother and noisier, 0.07 m keeps enough.
DEFAULT_DEPTH_DIFF_MAX = 0.07
POSE_MODES = ("odometry", "ground-truth")


class ReconstructionError(ValueError):
    """A problem with the input sequence; the message is one line naming the input."""


# ---------------------------------------------------------------------------------------------
# Depth sources
# ---------------------------------------------------------------------------------------------
def ground_truth_depth(sample: dict) -> np.ndarray:
    """The sample's own (sensor) depth: the reference depth source."""
    d = sample.get("depth")
    if d is None:
        raise ReconstructionError(f"{sample.get('id', '<sample>')}: the sequence has no ground-truth depth")
    return d


def predictor_depth(predictor) -> DepthFn:
    """A depth function from an object with ``predict(rgb_uint8) -> HxW float32 metres``
    (e.g. ``rgb2depth.load("default")``)."""

    def fn(sample: dict) -> np.ndarray:
        return predictor.predict(sample["rgb"])

    fn.predictor = predictor  # type: ignore[attr-defined]
    return fn


# ---------------------------------------------------------------------------------------------
# Working resolution
# ---------------------------------------------------------------------------------------------
def resize_sample(sample: dict, width: int | None) -> dict:
    """The sample at ``width`` pixels wide (aspect kept): RGB by area averaging, depth and
    ``valid`` by nearest neighbour, intrinsics scaled. Wider than the image: unchanged."""
    import cv2

    rgb = sample["rgb"]
    h, w = rgb.shape[:2]
    if not width or width >= w:
        return dict(sample)
    nw = int(width)
    nh = max(1, int(round(h * nw / w)))
    out = dict(sample)
    out["rgb"] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    if sample.get("depth") is not None:
        out["depth"] = cv2.resize(sample["depth"], (nw, nh), interpolation=cv2.INTER_NEAREST)
    if sample.get("valid") is not None:
        out["valid"] = cv2.resize(sample["valid"].astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST).astype(bool)
    if sample.get("K") is not None:
        out["K"] = sample["K"].scaled(nw, nh)
    return out


def _fit_depth(depth: np.ndarray, h: int, w: int, name: str) -> np.ndarray:
    """``depth`` as HxW float32 at (h, w), checked; non-finite/<=0 -> NaN."""
    import cv2

    d = np.asarray(depth)
    if d.ndim == 3 and d.shape[-1] == 1:
        d = d[..., 0]
    if d.ndim != 2:
        raise ReconstructionError(f"{name}: depth must be a 2-D map, got shape {d.shape}")
    d = d.astype(np.float32, copy=False)
    bad = ~np.isfinite(d) | (d <= 0)
    if bad.any():  # invalid first, so no interpolation mixes a real depth with 0 or NaN
        d = d.copy()
        d[bad] = np.nan
    if d.shape != (h, w):
        interp = cv2.INTER_NEAREST if bad.any() else cv2.INTER_LINEAR
        d = cv2.resize(d, (w, h), interpolation=interp)
    return d


def _o3d_depth(depth: np.ndarray, depth_min: float, depth_max: float) -> np.ndarray:
    """open3d's encoding: float32 metres with 0 = no measurement (NaN and out-of-range -> 0)."""
    d = np.where(np.isfinite(depth) & (depth >= depth_min) & (depth <= depth_max), depth, 0.0)
    return np.ascontiguousarray(d, dtype=np.float32)


def o3d_intrinsic(K: Intrinsics):
    import open3d as o3d

    return o3d.camera.PinholeCameraIntrinsic(int(K.width), int(K.height), K.fx, K.fy, K.cx, K.cy)


# ---------------------------------------------------------------------------------------------
# Tracking
# ---------------------------------------------------------------------------------------------
class RGBDOdometry:
    """Frame-to-frame dense RGB-D odometry (open3d, hybrid photometric + depth term).

    :meth:`track` takes the current frame and returns ``T_prev_cur`` (the current camera's pose
    in the previous camera's frame, so ``pose_cur = pose_prev @ T_prev_cur``) and whether the
    solver succeeded. The first call returns the identity. The solver is initialised with the
    previous frame's motion (constant velocity); if that fails it is retried from the identity;
    if both fail the constant-velocity motion is used and the frame is counted as a failure.
    """

    def __init__(
        self,
        depth_min: float = DEFAULT_DEPTH_MIN,
        depth_max: float = DEFAULT_DEPTH_MAX,
        depth_diff_max: float = DEFAULT_DEPTH_DIFF_MAX,
        iterations: Sequence[int] = (20, 10, 5),
    ) -> None:
        import open3d as o3d

        self.o3d = o3d
        self.option = o3d.pipelines.odometry.OdometryOption(
            iteration_number_per_pyramid_level=o3d.utility.IntVector(list(iterations)),
            depth_diff_max=depth_diff_max,
            depth_min=depth_min,
            depth_max=depth_max,
        )
        self.jacobian = o3d.pipelines.odometry.RGBDOdometryJacobianFromHybridTerm()
        self.depth_min, self.depth_max = depth_min, depth_max
        self.prev = None
        self.prev_K: Intrinsics | None = None
        self.velocity = np.eye(4)
        self.failures = 0

    def _image(self, rgb: np.ndarray, depth: np.ndarray):
        o3d = self.o3d
        return o3d.geometry.RGBDImage.create_from_color_and_depth(
            o3d.geometry.Image(np.ascontiguousarray(rgb)),
            o3d.geometry.Image(_o3d_depth(depth, self.depth_min, self.depth_max)),
            depth_scale=1.0,
            depth_trunc=self.depth_max,
            convert_rgb_to_intensity=True,
        )

    def track(self, rgb: np.ndarray, depth: np.ndarray, K: Intrinsics) -> tuple[np.ndarray, bool]:
        cur = self._image(rgb, depth)
        if self.prev is None:
            self.prev, self.prev_K = cur, K
            return np.eye(4), True
        if self.prev_K != K:
            raise ReconstructionError(f"intrinsics changed within the sequence ({self.prev_K} -> {K})")
        intr = o3d_intrinsic(K)
        odo = self.o3d.pipelines.odometry.compute_rgbd_odometry
        # source = current, target = previous: the result maps current-camera points into the
        # previous camera's frame, i.e. T_prev_cur.
        ok, T, _ = odo(cur, self.prev, intr, self.velocity, self.jacobian, self.option)
        if not ok:
            ok, T, _ = odo(cur, self.prev, intr, np.eye(4), self.jacobian, self.option)
        if not ok or not np.all(np.isfinite(T)):
            self.failures += 1
            T, ok = self.velocity.copy(), False
        self.velocity = T
        self.prev = cur
        return T, ok


# ---------------------------------------------------------------------------------------------
# Fusion
# ---------------------------------------------------------------------------------------------
class TSDFFusion:
    """A scalable TSDF volume (open3d) integrating coloured depth maps at camera-to-world poses."""

    def __init__(
        self,
        voxel: float = DEFAULT_VOXEL,
        sdf_trunc: float | None = None,
        depth_min: float = DEFAULT_DEPTH_MIN,
        depth_max: float = DEFAULT_DEPTH_MAX,
    ) -> None:
        import open3d as o3d

        if not voxel > 0:
            raise ValueError(f"voxel size must be positive, got {voxel}")
        self.o3d = o3d
        self.voxel = float(voxel)
        self.sdf_trunc = float(sdf_trunc) if sdf_trunc else 4.0 * self.voxel
        self.depth_min, self.depth_max = depth_min, depth_max
        self.volume = o3d.pipelines.integration.ScalableTSDFVolume(
            voxel_length=self.voxel,
            sdf_trunc=self.sdf_trunc,
            color_type=o3d.pipelines.integration.TSDFVolumeColorType.RGB8,
        )
        self.frames = 0

    def integrate(self, rgb: np.ndarray, depth: np.ndarray, K: Intrinsics, pose: np.ndarray) -> None:
        o3d = self.o3d
        rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
            o3d.geometry.Image(np.ascontiguousarray(rgb)),
            o3d.geometry.Image(_o3d_depth(depth, self.depth_min, self.depth_max)),
            depth_scale=1.0,
            depth_trunc=self.depth_max,
            convert_rgb_to_intensity=False,
        )
        self.volume.integrate(rgbd, o3d_intrinsic(K), np.linalg.inv(np.asarray(pose, dtype=np.float64)))
        self.frames += 1

    def mesh(self):
        m = self.volume.extract_triangle_mesh()
        m.compute_vertex_normals()
        return m

    def point_cloud(self):
        return self.volume.extract_point_cloud()


# ---------------------------------------------------------------------------------------------
# Preview rendering
# ---------------------------------------------------------------------------------------------
def look_at(eye, target, up) -> np.ndarray:
    """Camera-to-world pose (OpenCV axes: x right, y down, z forward) at ``eye`` looking at
    ``target`` with ``up`` pointing up in the image."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:  # up parallel to the view direction
        x = np.cross(z, np.array([1.0, 0, 0]) if abs(z[0]) < 0.9 else np.array([0, 1.0, 0]))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, eye
    return T


def default_view(points: np.ndarray, cam_poses: np.ndarray | None = None, back: float = 0.6,
                 raise_: float = 0.35) -> np.ndarray:
    """A viewpoint (camera-to-world) showing the cloud as the cameras saw it, from farther away.

    The virtual camera looks from the trajectory's mean position towards the cloud's median
    point; it is moved back by ``back`` times that distance and up (the cameras' mean up
    direction) by ``raise_`` times it. Without poses: from the origin, OpenCV axes.
    """
    pts = np.asarray(points, dtype=np.float64)
    centre = np.median(pts, axis=0)
    if cam_poses is not None and len(cam_poses):
        cam = np.asarray(cam_poses)[:, :3, 3].mean(0)
        up = -np.asarray(cam_poses)[:, :3, 1].mean(0)
    else:
        cam, up = np.zeros(3), np.array([0, -1.0, 0])
    d = centre - cam
    dist = float(np.linalg.norm(d))
    if dist < 1e-6:
        d, dist = np.array([0, 0, 1.0]), 1.0
    d = d / np.linalg.norm(d)
    if np.linalg.norm(up) < 1e-6:
        up = np.array([0, -1.0, 0])
    up = up - d * (up @ d)
    up = up / np.linalg.norm(up) if np.linalg.norm(up) > 1e-6 else np.array([0, -1.0, 0])
    eye = cam - d * back * dist + up * raise_ * dist
    return look_at(eye, centre, up)


def render_points(
    points: np.ndarray,
    colors: np.ndarray | None,
    view: np.ndarray,
    size: tuple[int, int] = (640, 480),
    fov_deg: float = 60.0,
    normals: np.ndarray | None = None,
    point_px: int = 3,
    background: int = 255,
    path_points: np.ndarray | None = None,
) -> np.ndarray:
    """Render a point cloud to an HxWx3 uint8 image with a z-buffer (nearest point wins).

    ``view`` is the virtual camera's camera-to-world pose; ``colors`` in [0, 1] (N, 3);
    ``normals`` add Lambertian shading (headlight). Each point covers ``point_px`` x
    ``point_px`` pixels. ``path_points`` (M, 3), e.g. the camera trajectory, is drawn as a red
    polyline on top. Hand-written because open3d's offscreen renderer needs EGL or a GPU.
    """
    import cv2

    w, h = size
    f = 0.5 * w / math.tan(math.radians(fov_deg) / 2)
    K = Intrinsics(f, f, (w - 1) / 2, (h - 1) / 2, w, h)
    W2C = np.linalg.inv(view)
    pts = np.asarray(points, dtype=np.float64)
    pc = pts @ W2C[:3, :3].T + W2C[:3, 3]
    cols = np.full((len(pts), 3), 0.7) if colors is None else np.asarray(colors, dtype=np.float64)
    if normals is not None and len(normals) == len(pts):
        nc = np.asarray(normals, dtype=np.float64) @ W2C[:3, :3].T
        ray = pc / np.maximum(np.linalg.norm(pc, axis=1, keepdims=True), 1e-9)
        lam = np.abs((nc * ray).sum(1))
        cols = cols * (0.6 + 0.4 * lam)[:, None]  # mild: TSDF normals are noisy
    front = pc[:, 2] > 1e-3
    pc, cols = pc[front], cols[front]
    u = np.round(K.fx * pc[:, 0] / pc[:, 2] + K.cx).astype(np.int64)
    v = np.round(K.fy * pc[:, 1] / pc[:, 2] + K.cy).astype(np.int64)
    z = pc[:, 2]
    img = np.full((h, w, 3), background, dtype=np.uint8)
    zbuf = np.full(h * w, np.inf)
    cbuf = np.zeros((h * w, 3))
    order = np.argsort(-z)  # far to near: later writes (nearer points) win
    u, v, z, cols = u[order], v[order], z[order], cols[order]
    for du in range(point_px):
        for dv in range(point_px):
            uu, vv = u + du, v + dv
            ok = (uu >= 0) & (uu < w) & (vv >= 0) & (vv < h)
            idx = vv[ok] * w + uu[ok]
            zz, cc = z[ok], cols[ok]
            # For repeated indices numpy keeps the last assignment = the nearest point here.
            nearer = zz < zbuf[idx]
            zbuf[idx[nearer]] = zz[nearer]
            cbuf[idx[nearer]] = cc[nearer]
    hit = np.isfinite(zbuf)
    flat = img.reshape(-1, 3)
    flat[hit] = np.clip(cbuf[hit] * 255, 0, 255).astype(np.uint8)
    if path_points is not None and len(path_points) > 1:
        pp = np.asarray(path_points, dtype=np.float64) @ W2C[:3, :3].T + W2C[:3, 3]
        pp = pp[pp[:, 2] > 1e-3]
        if len(pp) > 1:
            uv = np.stack([K.fx * pp[:, 0] / pp[:, 2] + K.cx, K.fy * pp[:, 1] / pp[:, 2] + K.cy], 1)
            cv2.polylines(img, [np.round(uv).astype(np.int32)], False, (220, 30, 30), 2, cv2.LINE_AA)
    return img


def render_cloud(cloud, view: np.ndarray | None = None, cam_poses: np.ndarray | None = None,
                 size: tuple[int, int] = (640, 480), max_points: int = 400_000, seed: int = 0) -> np.ndarray:
    """Render an open3d point cloud (colours and normals used when present)."""
    pts = np.asarray(cloud.points)
    if len(pts) == 0:
        return np.full((size[1], size[0], 3), 255, dtype=np.uint8)
    cols = np.asarray(cloud.colors) if cloud.has_colors() else None
    nrm = np.asarray(cloud.normals) if cloud.has_normals() else None
    if len(pts) > max_points:
        idx = np.random.default_rng(seed).choice(len(pts), max_points, replace=False)
        pts = pts[idx]
        cols = cols[idx] if cols is not None else None
        nrm = nrm[idx] if nrm is not None else None
    if view is None:
        view = default_view(pts, cam_poses)
    path = None if cam_poses is None else np.asarray(cam_poses)[:, :3, 3]
    return render_points(pts, cols, view, size=size, normals=nrm, path_points=path)


def save_png(path, rgb: np.ndarray) -> Path:
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"{path}: could not write PNG")
    return path


# ---------------------------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------------------------
@dataclass
class ReconstructionResult:
    outdir: Path
    frames: int  # integrated frames
    skipped: list[str] = field(default_factory=list)  # frame ids not integrated (and why)
    odometry_failures: int = 0
    stamps: list[str] = field(default_factory=list)
    poses: np.ndarray | None = None  # (N, 4, 4) estimated / used camera-to-world
    gt_poses: np.ndarray | None = None  # (N, 4, 4) sequence poses of the same frames, if all known
    ate: dict | None = None
    timings: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "frames": self.frames,
            "skipped": self.skipped,
            "odometry_failures": self.odometry_failures,
            "ate": self.ate,
            "timings_s": self.timings,
            "files": {k: str(v) for k, v in self.files.items()},
        }


def _stamp(sample: dict) -> str:
    t = sample.get("timestamp")
    if t is not None:
        return f"{float(t):.6f}"
    s = str(sample.get("id", ""))
    s = Path(s).stem if ("/" in s or "\\" in s) else s
    return "".join("_" if c.isspace() else c for c in s) or "frame"


def _progress(iterable, total, desc, enabled):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="frame", dynamic_ncols=True)


def reconstruct_frames(
    samples: Iterable[dict],
    depth_fn: DepthFn,
    outdir,
    *,
    poses: str = "odometry",
    voxel: float = DEFAULT_VOXEL,
    sdf_trunc: float | None = None,
    depth_min: float = DEFAULT_DEPTH_MIN,
    depth_max: float = DEFAULT_DEPTH_MAX,
    depth_diff_max: float = DEFAULT_DEPTH_DIFF_MAX,
    width: int | None = DEFAULT_WIDTH,
    total: int | None = None,
    progress: bool = True,
    preview: bool = True,
    write_mesh: bool = True,
    settings: dict | None = None,
) -> ReconstructionResult:
    """Run the pipeline over ``samples`` (sample dicts, streamed) and write the outputs.

    ``poses``: ``"odometry"`` (track with :class:`RGBDOdometry` on the depth from ``depth_fn``;
    the trajectory starts at the first frame's sequence pose when it has one, otherwise at the
    identity) or ``"ground-truth"`` (every frame's ``pose``; frames without one are skipped).
    ``width``: working resolution (None = as loaded). See the module docstring for outputs.
    """
    if poses not in POSE_MODES:
        raise ValueError(f"poses must be one of {POSE_MODES}, got {poses!r}")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    fusion = TSDFFusion(voxel, sdf_trunc, depth_min, depth_max)
    odometry = RGBDOdometry(depth_min, depth_max, depth_diff_max) if poses == "odometry" else None

    res = ReconstructionResult(outdir=outdir, frames=0)
    est_poses: list[np.ndarray] = []
    gt_list: list[np.ndarray | None] = []
    t_depth = t_track = t_fuse = t_load = 0.0
    pose = None
    t0 = time.perf_counter()
    tl = time.perf_counter()
    for raw in _progress(samples, total, f"reconstruct {outdir.name}", progress):
        t_load += time.perf_counter() - tl
        name = str(raw.get("id", "<frame>"))
        if raw.get("K") is None:
            raise ReconstructionError(f"{name}: no camera intrinsics (give --intrinsics fx,fy,cx,cy)")
        s = resize_sample(raw, width)
        h, w = s["rgb"].shape[:2]
        gt_pose = s.get("pose")
        if gt_pose is not None and not np.all(np.isfinite(gt_pose)):
            gt_pose = None
        if poses == "ground-truth" and gt_pose is None:
            res.skipped.append(f"{name}: no ground-truth pose")
            tl = time.perf_counter()
            continue
        ta = time.perf_counter()
        depth = _fit_depth(depth_fn(s), h, w, name)
        tb = time.perf_counter()
        t_depth += tb - ta
        if not np.isfinite(depth).any():
            res.skipped.append(f"{name}: no valid depth")
            tl = time.perf_counter()
            continue
        if odometry is not None:
            T, _ = odometry.track(s["rgb"], depth, s["K"])
            if pose is None:
                pose = np.asarray(gt_pose, dtype=np.float64) if gt_pose is not None else np.eye(4)
            else:
                pose = pose @ T
        else:
            pose = np.asarray(gt_pose, dtype=np.float64)
        tc = time.perf_counter()
        t_track += tc - tb
        fusion.integrate(s["rgb"], depth, s["K"], pose)
        t_fuse += time.perf_counter() - tc
        est_poses.append(pose.copy())
        gt_list.append(None if gt_pose is None else np.asarray(gt_pose, dtype=np.float64))
        res.stamps.append(_stamp(s))
        res.frames += 1
        tl = time.perf_counter()
    if res.frames == 0:
        raise ReconstructionError(f"{outdir}: no frame could be integrated ({'; '.join(res.skipped[:3])})")

    from rgb2depth.geometry.trajectory import Trajectory, ate, write_tum

    res.poses = np.array(est_poses)
    res.odometry_failures = odometry.failures if odometry is not None else 0
    res.files["trajectory"] = write_tum(outdir / "trajectory.txt", res.stamps, res.poses,
                                        header=f"rgb2depth reconstruct: camera-to-world, poses={poses}")
    known = [i for i, g in enumerate(gt_list) if g is not None]
    if known:
        gts = np.array([gt_list[i] for i in known])
        res.gt_poses = gts if len(known) == res.frames else None
        res.files["groundtruth"] = write_tum(outdir / "groundtruth.txt", [res.stamps[i] for i in known], gts,
                                             header="the sequence's own poses of the reconstructed frames")
        if len(known) >= 3:
            gt_traj = Trajectory([res.stamps[i] for i in known], gts)
            est_traj = Trajectory(res.stamps, res.poses)
            r = ate(gt_traj, est_traj)
            res.ate = {"rmse": r.rmse, "mean": r.mean, "max": r.max, "pairs": r.pairs}
            try:
                rs = ate(gt_traj, est_traj, with_scale=True)
                res.ate.update(sim3_rmse=rs.rmse, sim3_scale=rs.scale)
            except ValueError:  # a trajectory that never moved has no scale to fit
                res.ate.update(sim3_rmse=None, sim3_scale=None)

    tm = time.perf_counter()
    cloud = fusion.point_cloud()
    import open3d as o3d

    if len(cloud.points) == 0:
        raise ReconstructionError(
            f"{outdir}: the fused surface is empty (no depth in [{depth_min}, {depth_max}] m agreed across frames)"
        )

    if cloud.has_colors():  # TSDF colour averages can overshoot 1 by rounding
        cloud.colors = o3d.utility.Vector3dVector(np.clip(np.asarray(cloud.colors), 0.0, 1.0))
    res.files["cloud"] = outdir / "cloud.ply"
    if not o3d.io.write_point_cloud(str(res.files["cloud"]), cloud):
        raise OSError(f"{res.files['cloud']}: could not write PLY")
    if write_mesh:
        mesh = fusion.mesh()
        if mesh.has_vertex_colors():
            mesh.vertex_colors = o3d.utility.Vector3dVector(np.clip(np.asarray(mesh.vertex_colors), 0.0, 1.0))
        res.files["mesh"] = outdir / "mesh.ply"
        if not o3d.io.write_triangle_mesh(str(res.files["mesh"]), mesh):
            raise OSError(f"{res.files['mesh']}: could not write PLY")
        del mesh
    t_mesh = time.perf_counter() - tm
    if preview:
        res.files["preview"] = save_png(outdir / "preview.png", render_cloud(cloud, cam_poses=res.poses))
    res.timings = {
        "total": time.perf_counter() - t0,
        "load_per_frame": t_load / max(res.frames, 1),
        "depth_per_frame": t_depth / max(res.frames, 1),
        "tracking_per_frame": t_track / max(res.frames, 1),
        "fusion_per_frame": t_fuse / max(res.frames, 1),
        "extract": t_mesh,
    }
    summary = {"settings": {"poses": poses, "voxel": voxel, "sdf_trunc": fusion.sdf_trunc, "depth_min": depth_min,
                            "depth_max": depth_max, "depth_diff_max": depth_diff_max, "width": width,
                            **(settings or {})},
               **res.summary(), "cloud_points": len(cloud.points)}
    res.files["summary"] = outdir / "summary.json"
    res.files["summary"].write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
    return res


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "__dataclass_fields__"):
        return asdict(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ---------------------------------------------------------------------------------------------
# Sequences
# ---------------------------------------------------------------------------------------------
class ImageSequence:
    """A folder of RGB images (sorted by name) without depth: predicted depth + odometry only."""

    def __init__(self, root, K: Intrinsics | None = None) -> None:
        from rgb2depth.inference.imageio import find_images

        self.root = Path(root)
        self.paths = find_images(self.root)
        if not self.paths:
            raise ReconstructionError(f"{self.root}: no images found")
        self.K = K

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict:
        from rgb2depth.inference.imageio import read_image

        p = self.paths[i]
        rgb = read_image(p)
        K = self.K
        if K is not None and (K.width, K.height) != (rgb.shape[1], rgb.shape[0]):
            K = K.scaled(rgb.shape[1], rgb.shape[0])
        return {"rgb": rgb, "depth": None, "valid": None, "K": K, "id": p.stem}


class VideoSequence:
    """Frames of a video file (OpenCV), every ``stride``-th, at most ``max_frames``; no depth."""

    def __init__(self, path, K: Intrinsics | None = None, stride: int = 1, max_frames: int | None = None) -> None:
        import cv2

        self.path = Path(path)
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise ReconstructionError(f"{self.path}: cannot open video")
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        cap.release()
        self.K, self.stride, self.max_frames = K, max(1, int(stride)), max_frames
        count = (n + self.stride - 1) // self.stride if n > 0 else 0
        self.total = min(count, max_frames) if max_frames else count

    def __len__(self) -> int:
        return self.total

    def __iter__(self):
        import cv2

        cap = cv2.VideoCapture(str(self.path))
        i = emitted = 0
        try:
            while self.max_frames is None or emitted < self.max_frames:
                if i % self.stride:
                    if not cap.grab():
                        break
                    i += 1
                    continue
                ok, bgr = cap.read()
                if not ok:
                    break
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                K = self.K
                if K is not None and (K.width, K.height) != (rgb.shape[1], rgb.shape[0]):
                    K = K.scaled(rgb.shape[1], rgb.shape[0])
                yield {"rgb": rgb, "depth": None, "valid": None, "K": K, "id": f"frame-{i:06d}"}
                i += 1
                emitted += 1
        finally:
            cap.release()


def detect_kind(path) -> str:
    """What ``path`` is: ``tum``, ``seven_scenes``, ``tum_keyframes``, ``folder``, ``images`` or
    ``video`` (raises :class:`ReconstructionError` when it is none of them)."""
    from rgb2depth.inference.imageio import is_video_path

    p = Path(path)
    if p.is_file():
        if is_video_path(p):
            return "video"
        raise ReconstructionError(f"{p}: not a video file (and not a sequence folder)")
    if not p.is_dir():
        raise ReconstructionError(f"{p}: no such file or folder")
    if (p / "rgb.txt").is_file() and (p / "depth.txt").is_file():
        return "tum"
    if any(p.glob("frame-*.color.*")):
        return "seven_scenes"
    if (p / "raw_imgs").is_dir() and (p / "depth_imgs").is_dir():
        return "tum_keyframes"
    if (p / "rgb").is_dir() and (p / "depth").is_dir():
        return "folder"
    return "images"


def open_sequence(path, intrinsics: str | None = None, stride: int = 1, max_frames: int | None = None,
                  kind: str | None = None):
    """``(frames, total, kind)`` for a sequence path: ``frames`` is iterable (lazily loaded)
    sample dicts, every ``stride``-th frame, at most ``max_frames``.

    RGB-D sequences are read with ``rgb2depth.data.create`` (``tum``, ``seven_scenes``,
    ``tum_keyframes``, ``folder``); image folders and videos give RGB-only frames (``depth``
    None). ``intrinsics`` ("fx,fy,cx,cy" in pixels of the images as stored) override the
    sequence's; an RGB-only sequence without them (and without ``intrinsics.json``) is an error.
    """
    from rgb2depth import data

    p = Path(path)
    kind = kind or detect_kind(p)
    stride = max(1, int(stride))
    K_override = None
    if intrinsics:
        size = _first_image_size(p, kind)
        K_override = Intrinsics.parse(intrinsics, *size)
    if kind == "video":
        if K_override is None:
            raise ReconstructionError(f"{p}: a video needs --intrinsics fx,fy,cx,cy")
        seq = VideoSequence(p, K_override, stride, max_frames)
        return seq, len(seq) or None, kind
    if kind == "images":
        K = K_override
        if K is None and (p / "intrinsics.json").is_file():
            from rgb2depth.data.folder import read_intrinsics_json

            K = read_intrinsics_json(p / "intrinsics.json")
        if K is None:
            raise ReconstructionError(f"{p}: a folder of images needs --intrinsics fx,fy,cx,cy (or intrinsics.json)")
        src = ImageSequence(p, K)
    else:
        try:
            src = data.create(kind, root=p)
        except KeyError as e:
            raise ReconstructionError(f"{p}: cannot read as {kind!r}: {e}") from None
        except ValueError as e:
            raise ReconstructionError(str(e).splitlines()[0]) from None
    idx = list(range(0, len(src), stride))
    if max_frames:
        idx = idx[: int(max_frames)]

    def frames():
        for i in idx:
            s = src[i]
            if K_override is not None:
                h, w = s["rgb"].shape[:2]
                s["K"] = K_override if (K_override.width, K_override.height) == (w, h) else K_override.scaled(w, h)
            yield s

    return frames(), len(idx), kind


def _first_image_size(p: Path, kind: str) -> tuple[int, int]:
    """(width, height) of the sequence's images as stored."""
    import cv2

    if kind == "video":
        cap = cv2.VideoCapture(str(p))
        ok, frame = cap.read()
        cap.release()
        if not ok:
            raise ReconstructionError(f"{p}: cannot read a frame from the video")
        return frame.shape[1], frame.shape[0]
    if kind == "images":
        from rgb2depth.inference.imageio import find_images

        imgs = find_images(p)
        if not imgs:
            raise ReconstructionError(f"{p}: no images found")
        first = imgs[0]
    else:
        cands = sorted(p.glob("frame-*.color.*")) or sorted((p / "rgb").glob("*")) or sorted((p / "raw_imgs").glob("*"))
        if not cands:
            raise ReconstructionError(f"{p}: no images found")
        first = cands[0]
    im = cv2.imread(str(first), cv2.IMREAD_UNCHANGED)
    if im is None:
        raise ReconstructionError(f"{first}: cannot read image")
    return im.shape[1], im.shape[0]


def reconstruct(
    sequence,
    outdir,
    *,
    depth: str = "predicted",
    model: str = "default",
    poses: str = "odometry",
    voxel: float = DEFAULT_VOXEL,
    stride: int = 1,
    max_frames: int | None = None,
    intrinsics: str | None = None,
    width: int | None = DEFAULT_WIDTH,
    depth_max: float = DEFAULT_DEPTH_MAX,
    device: str = "cpu",
    progress: bool = True,
    predictor=None,
) -> ReconstructionResult:
    """Reconstruct ``sequence`` (path) into ``outdir``: the library form of the CLI command.

    ``depth``: ``"predicted"`` (``predictor`` or ``rgb2depth.load(model)``) or
    ``"ground-truth"`` (the sequence's sensor depth, the reference).
    """
    if depth not in ("predicted", "ground-truth"):
        raise ValueError(f"depth must be 'predicted' or 'ground-truth', got {depth!r}")
    frames, total, kind = open_sequence(sequence, intrinsics, stride, max_frames)
    if depth == "ground-truth":
        if kind in ("video", "images"):
            raise ReconstructionError(f"{sequence}: a {kind} sequence has no ground-truth depth")
        fn = ground_truth_depth
        model_name = None
    else:
        if predictor is None:
            import rgb2depth

            predictor = rgb2depth.load(model, device=device)
        fn = predictor_depth(predictor)
        model_name = getattr(predictor, "name", None) or str(model)
    if poses == "ground-truth" and kind in ("video", "images"):
        raise ReconstructionError(f"{sequence}: a {kind} sequence has no ground-truth poses")
    return reconstruct_frames(
        frames, fn, outdir, poses=poses, voxel=voxel, width=width, depth_max=depth_max, total=total,
        progress=progress,
        settings={"sequence": str(sequence), "kind": kind, "depth": depth, "model": model_name,
                  "stride": stride, "max_frames": max_frames},
    )
