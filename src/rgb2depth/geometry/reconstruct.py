"""3D reconstruction from (predicted) depth: tracking + TSDF fusion (paper 003, Section 4.4).

Paper 003 (Laina et al., FCRN) Section 4.4 feeds its predicted depth maps to a SLAM system
(dense RGB-D tracking, Kerl et al. 2013, and fusion of the depth maps into one global model)
and compares with the same pipeline run on sensor depth. This module is that pipeline built
from open3d-cpu's maintained parts:

- **Depth source**: a ``depth_fn(sample) -> HxW float32 metres`` (NaN = invalid), so the same
  pipeline runs on a network's prediction (:func:`predictor_depth`), on the sequence's sensor
  depth (:func:`ground_truth_depth`, the reference) or on anything a test supplies.
- **Frames** (:mod:`~rgb2depth.geometry.frames`) at a working resolution (``width``, default
  320 px): RGB by area averaging, depth by nearest neighbour, intrinsics scaled; lens distortion
  removed when the camera's coefficients are known (TUM freiburg1/2 by folder name, or given).
- **Depth scale** of predicted depth (``depth_scale``): ``"none"`` (the network's metres),
  ``"model"`` (each frame median-scaled to the fused model rendered from the predicted pose,
  i.e. to the overlap with the frames before it, so the whole map keeps the first frame's
  scale) or ``"sensor"`` (median-scaled to the sequence's sensor depth: an oracle for
  evaluation, never available to a user).
- **Tracking** (:mod:`~rgb2depth.geometry.odometry`): frame to model against the TSDF
  (``tracker="model"``, default) or frame to frame (``"frame"``), every step checked; or the
  sequence's own poses (``poses="ground-truth"``). A frame that fails the checks is counted,
  listed (summary.json ``failed_frames``, :func:`format_report`) and not integrated;
  ``max_lost`` consecutive failures stop the run with ``status: "lost"`` and a message.
- **Fusion** (:class:`~rgb2depth.geometry.fusion.TSDFFusion`): one voxel-hashed TSDF, the
  map tracked against and the surface written out.
- **Outputs** in ``outdir`` (each written atomically): ``mesh.ply``, ``cloud.ply``,
  ``trajectory.txt`` (TUM format, camera-to-world, tracked frames only), ``groundtruth.txt``
  (the sequence's poses of those frames, when known), ``preview.png``, ``summary.json``
  (settings, frame counts, failures, per-frame steps, timings, ATE against the sequence's
  poses).

Frames are streamed: one sample and its depth are held at a time, so memory is bounded by the
TSDF (the scene's surface area), not the sequence length. Conventions: poses are
camera-to-world 4x4 (``p_world = T p_cam``); depth is z-depth in metres.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rgb2depth.geometry.frames import (
    DepthFn,
    ReconstructionError,
    Undistorter,
    fit_depth,
    ground_truth_depth,
    known_distortion,
    median_scale,
    predictor_depth,
    resize_sample,
    sample_stamp,
)
from rgb2depth.geometry.fusion import (
    DEFAULT_DEPTH_MAX,
    DEFAULT_DEPTH_MIN,
    DEFAULT_VOXEL,
    TSDFFusion,
)
from rgb2depth.geometry.odometry import (
    DEFAULT_DEPTH_DIFF_MAX,
    DEFAULT_ITERATIONS,
    TRACKERS,
    ModelTracker,
    RGBDOdometry,
    TrackingLimits,
)
from rgb2depth.geometry.render import default_view, look_at, render_cloud, render_points, save_png
from rgb2depth.geometry.sequences import ImageSequence, VideoSequence, detect_kind, open_sequence
from rgb2depth.progress import progress_bar

__all__ = [
    "DEFAULT_DEPTH_DIFF_MAX", "DEFAULT_DEPTH_MAX", "DEFAULT_DEPTH_MIN", "DEFAULT_VOXEL", "DEFAULT_WIDTH",
    "DEPTH_SCALES", "POSE_MODES", "TRACKERS", "ImageSequence", "ModelTracker", "RGBDOdometry",
    "ReconstructionError", "ReconstructionResult", "TSDFFusion", "TrackingLimits", "VideoSequence",
    "default_view", "detect_kind", "format_report", "ground_truth_depth", "look_at", "open_sequence",
    "predictor_depth", "reconstruct", "reconstruct_frames", "render_cloud", "render_points", "resize_sample",
    "save_png",
]

DEFAULT_WIDTH = 320
POSE_MODES = ("odometry", "ground-truth")
DEPTH_SCALES = ("none", "model", "sensor")
#: Consecutive failed frames after which a run stops as lost (the camera has moved on from
#: where the map can place it).
DEFAULT_MAX_LOST = 10


@dataclass
class ReconstructionResult:
    outdir: Path
    frames: int  # integrated frames
    skipped: list[str] = field(default_factory=list)  # frames not used for another reason (and why)
    failures: list[dict] = field(default_factory=list)  # frames that failed tracking: index, id, reason
    status: str = "ok"  # "ok", or "lost" when tracking stopped early
    message: str = ""  # why the run stopped early
    read: int = 0  # frames read from the sequence
    stamps: list[str] = field(default_factory=list)
    poses: np.ndarray | None = None  # (N, 4, 4) estimated / used camera-to-world of integrated frames
    gt_poses: np.ndarray | None = None  # (N, 4, 4) sequence poses of the same frames, if all known
    depth_scales: list[float] = field(default_factory=list)  # per integrated frame (1 without scaling)
    steps: list[dict] = field(default_factory=list)  # per tracked frame: the checks' figures
    frame_seconds: list[float] = field(default_factory=list)  # wall time per frame read (load to fusion)
    ate: dict | None = None
    timings: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)

    @property
    def odometry_failures(self) -> int:
        return len(self.failures)

    def summary(self) -> dict:
        scales = np.asarray(self.depth_scales, dtype=np.float64)
        return {
            "status": self.status,
            "message": self.message,
            "frames_read": self.read,
            "frames": self.frames,
            "skipped": self.skipped,
            "odometry_failures": self.odometry_failures,
            "failed_frames": self.failures,
            "depth_scale": None if not len(scales) else {
                "median": float(np.median(scales)), "min": float(scales.min()), "max": float(scales.max())},
            "ate": self.ate,
            "timings_s": self.timings,
            "files": {k: str(v) for k, v in self.files.items()},
            "steps": self.steps,
        }


def format_report(res: ReconstructionResult, max_failures: int = 20) -> str:
    """A short table of a run for the terminal: frames, failures (count and which), ATE, time."""
    rows = [("frames", f"{res.read} read, {res.frames} integrated, {res.odometry_failures} failed tracking, "
                       f"{len(res.skipped)} skipped")]
    if res.status != "ok":
        rows.append(("STOPPED", res.message))
    if res.failures:
        lines = [f"{f['id']}: {f['reason']}" for f in res.failures[:max_failures]]
        if len(res.failures) > max_failures:
            lines.append(f"... and {len(res.failures) - max_failures} more (summary.json failed_frames)")
        rows += [("failed frames" if i == 0 else "", s) for i, s in enumerate(lines)]
    if res.depth_scales and not np.allclose(res.depth_scales, 1.0):
        sc = np.asarray(res.depth_scales)
        rows.append(("depth scale", f"median {np.median(sc):.3f} (min {sc.min():.3f}, max {sc.max():.3f})"))
    if res.ate:
        extra = ""
        if res.ate.get("sim3_rmse") is not None:
            extra = f" (Sim(3) {res.ate['sim3_rmse'] * 100:.1f} cm, scale {res.ate['sim3_scale']:.3f})"
        rows.append(("ATE RMSE", f"{res.ate['rmse'] * 100:.1f} cm{extra} vs the sequence's poses, "
                                 f"{res.ate['pairs']} frames"))
    if res.timings:
        rows.append(("time", f"{res.timings['frame_median']:.3f} s per frame (median; min "
                             f"{res.timings['frame_min']:.3f}), {res.timings['total']:.1f} s in all"))
    return "\n".join(f"  {k:14s} {v}" for k, v in rows)


def _scale_depth(depth: np.ndarray, mode: str, sample: dict, fusion: TSDFFusion, pose: np.ndarray | None,
                 last: float) -> float:
    """The factor for this frame's depth under ``mode`` (see the module docstring); ``last``
    when there is no overlap to measure it on. ``pose``: where to render the model from
    (``"model"``; None before there is a model)."""
    if mode == "none":
        return 1.0
    if mode == "sensor":
        ref = sample.get("depth")
        if ref is None:
            raise ReconstructionError(f"{sample.get('id', '<frame>')}: depth scale 'sensor' needs the sequence's depth")
    else:  # model: the fused surface; the first frame sets the scale
        if fusion.frames == 0 or pose is None:
            return last
        ref, _ = fusion.raycast(sample["K"], pose)
    s = median_scale(depth, ref)
    return last if s is None else s


def reconstruct_frames(
    samples: Iterable[dict],
    depth_fn: DepthFn,
    outdir,
    *,
    poses: str = "odometry",
    tracker: str = "model",
    voxel: float = DEFAULT_VOXEL,
    sdf_trunc: float | None = None,
    depth_min: float = DEFAULT_DEPTH_MIN,
    depth_max: float = DEFAULT_DEPTH_MAX,
    depth_diff_max: float = DEFAULT_DEPTH_DIFF_MAX,
    width: int | None = DEFAULT_WIDTH,
    distortion: Sequence[float] | None = None,
    depth_scale: str = "none",
    limits: TrackingLimits | None = None,
    max_lost: int = DEFAULT_MAX_LOST,
    iterations: Sequence[int] = DEFAULT_ITERATIONS,
    total: int | None = None,
    progress: bool = True,
    preview: bool = True,
    write_mesh: bool = True,
    settings: dict | None = None,
) -> ReconstructionResult:
    """Run the pipeline over ``samples`` (sample dicts, streamed) and write the outputs.

    ``poses``: ``"odometry"`` (track with ``tracker`` on the depth from ``depth_fn``; the
    trajectory starts at the first frame's sequence pose when it has one, otherwise at the
    identity) or ``"ground-truth"`` (every frame's ``pose``; frames without one are skipped).
    ``width``: working resolution (None = as loaded). ``distortion``: the camera's lens
    distortion (OpenCV k1, k2, p1, p2[, k3]) to remove, or None. ``depth_scale``: one of
    :data:`DEPTH_SCALES`. ``limits``: the step checks (:class:`TrackingLimits`).
    ``max_lost``: consecutive failures that stop the run (0 = never stop). ``iterations``:
    Gauss-Newton iterations per pyramid level, finest first (their count sets the levels).
    See the module docstring for the outputs.
    """
    if poses not in POSE_MODES:
        raise ValueError(f"poses must be one of {POSE_MODES}, got {poses!r}")
    if tracker not in TRACKERS:
        raise ValueError(f"tracker must be one of {TRACKERS}, got {tracker!r}")
    if depth_scale not in DEPTH_SCALES:
        raise ValueError(f"depth_scale must be one of {DEPTH_SCALES}, got {depth_scale!r}")
    limits = limits or TrackingLimits()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    fusion = TSDFFusion(voxel, sdf_trunc, depth_min, depth_max)
    undistort = Undistorter(distortion) if distortion is not None and np.any(distortion) else None
    track = None
    res = ReconstructionResult(outdir=outdir, frames=0)
    est_poses: list[np.ndarray] = []
    gt_list: list[np.ndarray | None] = []
    t = dict.fromkeys(("load", "depth", "track", "fuse"), 0.0)
    scale, lost = 1.0, 0
    t0 = tl = time.perf_counter()
    frames = progress_bar(samples, total=total, desc=f"reconstruct {outdir.name}", unit="frame", disable=not progress)
    for index, raw in enumerate(frames):
        t["load"] += time.perf_counter() - tl
        res.read += 1
        name = str(raw.get("id", "<frame>"))
        if raw.get("K") is None:
            raise ReconstructionError(f"{name}: no camera intrinsics (give --intrinsics fx,fy,cx,cy)")
        s = resize_sample(raw, width)
        if undistort is not None:
            s = undistort(s)
        h, w = s["rgb"].shape[:2]
        gt_pose = s.get("pose")
        if gt_pose is not None and not np.all(np.isfinite(gt_pose)):
            gt_pose = None
        if poses == "ground-truth" and gt_pose is None:
            res.skipped.append(f"{name}: no ground-truth pose")
            tl = _frame_done(res, tl)
            continue
        ta = time.perf_counter()
        depth = fit_depth(depth_fn(s), h, w, name)
        tb = time.perf_counter()
        t["depth"] += tb - ta
        if poses == "ground-truth":
            if not np.isfinite(depth).any():
                res.skipped.append(f"{name}: no valid depth")
                tl = _frame_done(res, tl)
                continue
            scale = _scale_depth(depth, depth_scale, s, fusion, gt_pose, scale)
            depth = depth * np.float32(scale)
            pose = np.asarray(gt_pose, dtype=np.float64)
        else:
            if track is None:
                init = np.asarray(gt_pose, dtype=np.float64) if gt_pose is not None else None
                cls = ModelTracker if tracker == "model" else RGBDOdometry
                args = (limits, depth_min, depth_max, depth_diff_max, iterations)
                track = cls(fusion, *args, initial_pose=init) if tracker == "model" else cls(*args, initial_pose=init)
            guess = None
            if depth_scale == "model" and track.pose is not None:
                # Where to compare with the model: the pose from features matched to the last
                # tracked frame (PnP on its depth, so the unknown scale of this frame's depth
                # plays no part), else the motion prior.
                guess = track.feature_pose(s["rgb"])
                guess = track.pose @ track.velocity if guess is None else guess
            raw_depth, scale = depth, _scale_depth(depth, depth_scale, s, fusion, guess, scale)
            depth = raw_depth * np.float32(scale)
            step = track.track(s["rgb"], depth, s["K"])
            if step.ok and depth_scale == "model" and fusion.frames:
                # Measured again from the tracked pose (a few cm off, the overlap compares
                # slightly different surfaces: a turn towards a slanted desk reads as a scale
                # change). The frame is kept at that scale.
                scale = _scale_depth(raw_depth, depth_scale, s, fusion, step.pose, scale)
                depth = raw_depth * np.float32(scale)
                track.replace_depth(s["rgb"], depth, s["K"])
            res.steps.append({"index": index, "id": name, **step.as_dict()})
            if not step.ok:
                res.failures.append({"index": index, "id": name, "reason": step.reason})
                lost += 1
                t["track"] += time.perf_counter() - tb
                if max_lost and lost >= max_lost:
                    _frame_done(res, tl)
                    res.status = "lost"
                    res.message = (f"tracking lost at {name}: {lost} consecutive frames failed the checks "
                                   f"(last: {step.reason}); stopped, the outputs cover the {res.frames} frames "
                                   "tracked before")
                    break
                tl = _frame_done(res, tl)
                continue
            lost = 0
            pose = step.pose
        tc = time.perf_counter()
        t["track"] += tc - tb
        fusion.integrate(s["rgb"], depth, s["K"], pose)
        t["fuse"] += time.perf_counter() - tc
        est_poses.append(pose.copy())
        gt_list.append(None if gt_pose is None else np.asarray(gt_pose, dtype=np.float64))
        res.stamps.append(sample_stamp(s))
        res.depth_scales.append(float(scale))
        res.frames += 1
        tl = _frame_done(res, tl)
    if res.frames == 0:
        why = [f"{f['id']}: {f['reason']}" for f in res.failures[:3]] + res.skipped[:3]
        raise ReconstructionError(f"{outdir}: no frame could be integrated ({'; '.join(why[:3])})")
    res.poses = np.array(est_poses)
    _trajectory_outputs(res, gt_list, poses)
    res.timings = {"total": time.perf_counter() - t0, "per_frame": (time.perf_counter() - t0) / max(res.read, 1),
                   "frame_median": float(np.median(res.frame_seconds)), "frame_min": float(np.min(res.frame_seconds)),
                   **{f"{k}_per_frame": v / max(res.read, 1) for k, v in t.items()}}
    _surface_outputs(res, fusion, write_mesh, preview, depth_min, depth_max)
    summary = {"settings": {"poses": poses, "tracker": tracker if poses == "odometry" else None, "voxel": voxel,
                            "sdf_trunc": fusion.sdf_trunc, "depth_min": depth_min, "depth_max": depth_max,
                            "depth_diff_max": depth_diff_max, "width": width,
                            "distortion": None if distortion is None else list(distortion),
                            "depth_scale": depth_scale, "limits": asdict(limits), "max_lost": max_lost,
                            "iterations": list(iterations),
                            **(settings or {})},
               **res.summary()}
    res.files["summary"] = outdir / "summary.json"
    _write_text(res.files["summary"], json.dumps(summary, indent=1, default=_json_default) + "\n")
    return res


def _frame_done(res: ReconstructionResult, start: float) -> float:
    """Record a frame's wall time (from the end of the previous one, loading included)."""
    now = time.perf_counter()
    res.frame_seconds.append(now - start)
    return now


def _write_text(path: Path, text: str) -> None:
    from rgb2depth.fileio import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _trajectory_outputs(res: ReconstructionResult, gt_list: list, poses: str) -> None:
    """trajectory.txt, groundtruth.txt and the ATE against the sequence's poses."""
    from rgb2depth.fileio import atomic_path
    from rgb2depth.geometry.trajectory import Trajectory, ate, write_tum

    outdir = res.outdir
    res.files["trajectory"] = outdir / "trajectory.txt"
    with atomic_path(res.files["trajectory"]) as tmp:
        write_tum(tmp, res.stamps, res.poses, header=f"rgb2depth reconstruct: camera-to-world, poses={poses}")
    known = [i for i, g in enumerate(gt_list) if g is not None]
    if not known:
        return
    gts = np.array([gt_list[i] for i in known])
    res.gt_poses = gts if len(known) == res.frames else None
    res.files["groundtruth"] = outdir / "groundtruth.txt"
    with atomic_path(res.files["groundtruth"]) as tmp:
        write_tum(tmp, [res.stamps[i] for i in known], gts, header="the sequence's own poses of the reconstructed frames")
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


def _surface_outputs(res: ReconstructionResult, fusion: TSDFFusion, write_mesh: bool, preview: bool,
                     depth_min: float, depth_max: float) -> None:
    """cloud.ply, mesh.ply and preview.png of the fused surface."""
    import open3d as o3d

    from rgb2depth.fileio import atomic_path

    tm = time.perf_counter()
    cloud = fusion.point_cloud()
    if len(cloud.points) == 0:
        raise ReconstructionError(
            f"{res.outdir}: the fused surface is empty (no depth in [{depth_min}, {depth_max}] m agreed across frames)"
        )
    res.files["cloud"] = res.outdir / "cloud.ply"
    with atomic_path(res.files["cloud"]) as tmp:
        if not o3d.io.write_point_cloud(str(tmp), cloud):
            raise OSError(f"{res.files['cloud']}: could not write PLY")
    if write_mesh:
        res.files["mesh"] = res.outdir / "mesh.ply"
        with atomic_path(res.files["mesh"]) as tmp:
            if not o3d.io.write_triangle_mesh(str(tmp), fusion.mesh()):
                raise OSError(f"{res.files['mesh']}: could not write PLY")
    res.timings["extract"] = time.perf_counter() - tm
    res.timings["cloud_points"] = len(cloud.points)
    if preview:
        res.files["preview"] = save_png(res.outdir / "preview.png", render_cloud(cloud, cam_poses=res.poses))


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "__dataclass_fields__"):
        return asdict(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def reconstruct(
    sequence,
    outdir,
    *,
    depth: str = "predicted",
    model: str = "default",
    poses: str = "odometry",
    tracker: str = "model",
    voxel: float = DEFAULT_VOXEL,
    stride: int = 1,
    max_frames: int | None = None,
    intrinsics: str | None = None,
    distortion: str | Sequence[float] | None = "auto",
    depth_scale: str | None = None,
    width: int | None = DEFAULT_WIDTH,
    depth_max: float = DEFAULT_DEPTH_MAX,
    limits: TrackingLimits | None = None,
    max_lost: int = DEFAULT_MAX_LOST,
    device: str = "cpu",
    progress: bool = True,
    predictor=None,
) -> ReconstructionResult:
    """Reconstruct ``sequence`` (path) into ``outdir``: the library form of the CLI command.

    ``depth``: ``"predicted"`` (``predictor`` or ``rgb2depth.load(model)``) or
    ``"ground-truth"`` (the sequence's sensor depth, the reference). ``distortion``: ``"auto"``
    (the published coefficients of a TUM freiburg1/2 sequence, none otherwise), None, or
    coefficients (a sequence or ``"k1,k2,p1,p2[,k3]"``). ``depth_scale``: None picks
    ``"model"`` for predicted depth with odometry and ``"none"`` otherwise.
    """
    from rgb2depth.geometry.frames import parse_distortion

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
    if isinstance(distortion, str):
        distortion = known_distortion(sequence) if distortion == "auto" else parse_distortion(distortion)
    if depth_scale is None:
        depth_scale = "model" if depth == "predicted" and poses == "odometry" else "none"
    return reconstruct_frames(
        frames, fn, outdir, poses=poses, tracker=tracker, voxel=voxel, width=width, depth_max=depth_max,
        distortion=distortion, depth_scale=depth_scale, limits=limits, max_lost=max_lost, total=total,
        progress=progress,
        settings={"sequence": str(sequence), "kind": kind, "depth": depth, "model": model_name,
                  "stride": stride, "max_frames": max_frames},
    )
