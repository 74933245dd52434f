"""Camera tracking for reconstruction: every step checked, failures reported, never guessed.

Two trackers built from open3d's RGB-D odometry (coarse-to-fine Gauss-Newton over an image
pyramid):

- :class:`ModelTracker` (the default): **frame to model**, as KinectFusion (Newcombe et al.
  2011) does. The TSDF built so far (:class:`~rgb2depth.geometry.fusion.TSDFFusion`) is
  raycast from the predicted pose and the new frame is registered to that rendered depth by
  point-to-plane ICP (``o3d.t.pipelines.odometry``). The reference is the fused surface, not
  the previous frame, so per-frame errors do not add up into drift the way they do frame to
  frame. The initial guess comes from the previous motion (constant velocity) refined by
  frame-to-frame RGB-D odometry against the last tracked frame: the photometric term reaches
  farther than ICP under fast rotation, and it holds where the geometry alone cannot fix the
  pose (a single plane), where the ICP step is then left out.
- :class:`RGBDOdometry`: **frame to frame** dense RGB-D odometry (hybrid photometric + depth
  term, Steinbruecker et al. 2011 / Kerl et al. 2013, the tracking of paper 003's SLAM) against
  the last tracked frame. open3d's legacy ``pipelines.odometry`` implementation: on textured
  synthetic frames with exact depth it recovers a 2 cm motion to 2 mm where the tensor
  pipeline's hybrid term is 7 mm off (tests/test_reconstruct.py), so it serves both trackers.

Every step is checked against :class:`TrackingLimits` (the solver converged; enough of the
frame agrees with the reference (fitness); the agreeing pixels agree closely (inlier RMSE);
the motion since the last tracked frame is plausible) and, frame to model, ICP must agree
with the frame-to-frame estimate it started from. Each frame is tried from up to three
guesses in turn: the motion prior (constant velocity); ORB features matched to the last
tracked frame with PnP (:func:`feature_motion`, which reaches across tens of degrees); the
last tracked pose (the motion prior reset). If none passes the frame is a *failure*: no pose,
not integrated, the motion prior stays reset, and the next frame is tracked from the last
good pose. Poses are camera-to-world 4x4 float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rgb2depth.geometry.camera import Intrinsics
from rgb2depth.geometry.frames import o3d_depth
from rgb2depth.geometry.fusion import DEFAULT_DEPTH_MAX, DEFAULT_DEPTH_MIN

#: Odometry correspondences whose depths differ by more than this are outliers (metres).
#: open3d's default is 0.07 m; kept, predicted depth being smoother and noisier than a sensor's.
DEFAULT_DEPTH_DIFF_MAX = 0.07
#: Gauss-Newton iterations per pyramid level, finest first (3 levels: 1, 1/2, 1/4 resolution).
DEFAULT_ITERATIONS = (20, 10, 5)
TRACKERS = ("model", "frame")
#: A feature-based guess (:func:`feature_motion`) needs this many RANSAC inliers.
MIN_FEATURE_INLIERS = 30
#: Below this :func:`icp_conditioning` the rendered model does not constrain all six degrees of
#: freedom of point-to-plane ICP and the frame-to-frame estimate is used alone
#: (``Step.source == "frame"``). Measured at 320 px: views of TUM fr1/rpy and 7-Scenes kitchen
#: score 0.005-0.034; a single plane rendered from the TSDF 0.0002 (0 without noise).
MIN_ICP_CONDITIONING = 2e-3


@dataclass(frozen=True)
class TrackingLimits:
    """What a tracked step must meet to be accepted.

    ``min_fitness``: fraction of the frame's pixels with a correspondence in the reference
    (open3d's fitness at the finest level). ``max_inlier_rmse``: RMS residual of those
    correspondences, metres. ``max_translation`` (metres) and ``max_rotation_deg`` bound the
    motion since the last tracked frame: a hand-held camera at 30 Hz moves a few cm and a few
    degrees per frame, so the defaults leave room for strides of 10 and more while catching the
    jumps of a diverged solver. ``max_icp_correction`` (metres) and ``max_icp_correction_deg``:
    the largest correction frame-to-model ICP may make to the frame-to-frame estimate it starts
    from; a larger one means one of the two fell into a wrong minimum, and nothing says which
    (on predicted depth, ICP on a wrongly shaped surface: measured in
    docs/results/reconstruction).
    """

    min_fitness: float = 0.3
    max_inlier_rmse: float = 0.05
    max_translation: float = 0.3
    max_rotation_deg: float = 30.0
    max_icp_correction: float = 0.10
    max_icp_correction_deg: float = 10.0


@dataclass
class Step:
    """The result of tracking one frame."""

    ok: bool
    pose: np.ndarray | None  # camera-to-world; None when the step failed
    motion: np.ndarray | None = None  # pose of this frame in the last tracked frame (T_prev_cur)
    reason: str = ""  # why the step failed (one line)
    fitness: float = math.nan
    inlier_rmse: float = math.nan
    translation: float = math.nan  # metres since the last tracked frame
    rotation_deg: float = math.nan
    retried: bool = False  # the first guess failed and another was tried
    source: str = ""  # which registration gave the pose: "model" (ICP) or "frame" (RGB-D odometry)

    def as_dict(self) -> dict:
        """The figures as JSON-ready values (None where a figure does not exist, never NaN)."""

        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return {"ok": self.ok, "reason": self.reason, "fitness": num(self.fitness),
                "inlier_rmse": num(self.inlier_rmse), "translation": num(self.translation),
                "rotation_deg": num(self.rotation_deg), "retried": self.retried, "source": self.source}


def rotation_deg(R: np.ndarray) -> float:
    """Angle of a rotation matrix in degrees."""
    c = (np.trace(np.asarray(R)[:3, :3]) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def check_step(motion: np.ndarray, fitness: float, inlier_rmse: float, limits: TrackingLimits) -> str:
    """Why a step with relative ``motion`` fails ``limits`` ("" when it passes)."""
    if not np.all(np.isfinite(motion)):
        return "the solver returned a non-finite pose"
    if not fitness >= limits.min_fitness:
        return f"fitness {fitness:.2f} < {limits.min_fitness:.2f}"
    if inlier_rmse > limits.max_inlier_rmse:  # NaN (a solver that reports none) is not checked
        return f"inlier RMSE {inlier_rmse * 100:.1f} cm > {limits.max_inlier_rmse * 100:.1f} cm"
    t = float(np.linalg.norm(motion[:3, 3]))
    if t > limits.max_translation:
        return f"moved {t * 100:.0f} cm > {limits.max_translation * 100:.0f} cm since the last tracked frame"
    r = rotation_deg(motion[:3, :3])
    if r > limits.max_rotation_deg:
        return f"turned {r:.0f} deg > {limits.max_rotation_deg:.0f} deg since the last tracked frame"
    return ""


def feature_motion(rgb_a: np.ndarray, depth_a: np.ndarray, rgb_b: np.ndarray, K: Intrinsics,
                   min_inliers: int = MIN_FEATURE_INLIERS) -> tuple[np.ndarray | None, int]:
    """Pose of frame b in frame a (``T_a_b``) from ORB features: matches (Lowe's ratio test)
    of a's keypoints with depth to b's, then PnP with RANSAC (OpenCV). ``(T, inliers)``, or
    ``(None, inliers)`` with fewer than ``min_inliers``.

    Dense odometry converges only from a guess within a few degrees; features match across tens
    of degrees (measured on fr1/rpy: 23 degrees apart, 53 inliers, 4 cm and 2 degrees off), so
    they give the dense stages a starting point when the motion prior fails.
    """
    import cv2

    orb = cv2.ORB_create(1000)
    ka, da = orb.detectAndCompute(cv2.cvtColor(rgb_a, cv2.COLOR_RGB2GRAY), None)
    kb, db = orb.detectAndCompute(cv2.cvtColor(rgb_b, cv2.COLOR_RGB2GRAY), None)
    if da is None or db is None or len(da) < 2 or len(db) < 2:
        return None, 0
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(da, db, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    if len(good) < min_inliers:
        return None, 0
    ua = np.array([ka[g.queryIdx].pt for g in good])
    ub = np.array([kb[g.trainIdx].pt for g in good])
    iu = np.clip(np.round(ua).astype(int), 0, [K.width - 1, K.height - 1])
    z = depth_a[iu[:, 1], iu[:, 0]]
    ok = np.isfinite(z) & (z > 0)
    if ok.sum() < min_inliers:
        return None, 0
    P = np.stack([(ua[ok, 0] - K.cx) / K.fx * z[ok], (ua[ok, 1] - K.cy) / K.fy * z[ok], z[ok]], 1)
    found, rvec, tvec, inl = cv2.solvePnPRansac(P, ub[ok], K.matrix(), None, reprojectionError=3.0,
                                                iterationsCount=200)
    n = 0 if inl is None else len(inl)
    if not found or n < min_inliers:
        return None, n
    T_b_a = np.eye(4)
    T_b_a[:3, :3], T_b_a[:3, 3] = cv2.Rodrigues(rvec)[0], tvec[:, 0]
    return np.linalg.inv(T_b_a), n


def icp_conditioning(depth: np.ndarray, K: Intrinsics, step: int = 2) -> float:
    """How well a depth map pins down a rigid motion by point-to-plane ICP: the ratio of the
    smallest to the largest eigenvalue of the ICP normal matrix ``sum J^T J`` with
    ``J = [p x n, n]`` (points ``p`` back-projected, normals ``n`` from the points 4 px or
    1/80 of the image width to either side, wide enough that depth noise does not pass for
    shape).
    0 when a direction is unconstrained (a plane leaves two translations and a rotation free),
    as in the degeneracy analysis of Gelfand et al. 2003 ("Geometrically stable sampling").
    """
    b = max(4, round(K.width / 80))
    v, u = np.mgrid[0 : K.height, 0 : K.width]
    X = np.stack([(u - K.cx) / K.fx * depth, (v - K.cy) / K.fy * depth, depth], -1)
    n = np.cross(X[b:-b, 2 * b :] - X[b:-b, : -2 * b], X[2 * b :, b:-b] - X[: -2 * b, b:-b])
    n = n[::step, ::step].reshape(-1, 3)
    p = X[b:-b, b:-b][::step, ::step].reshape(-1, 3)
    ok = np.isfinite(n).all(1) & np.isfinite(p).all(1)
    if ok.sum() < 6:
        return 0.0
    n = n[ok] / (np.linalg.norm(n[ok], axis=1, keepdims=True) + 1e-12)
    J = np.concatenate([np.cross(p[ok], n), n], 1)
    w = np.linalg.eigvalsh(J.T @ J)
    return float(max(w[0], 0.0) / w[-1]) if w[-1] > 0 else 0.0


class _Tracker:
    """Shared state and bookkeeping of the trackers: the last tracked pose, the motion prior
    and the images of the last tracked frame."""

    def __init__(
        self,
        limits: TrackingLimits | None = None,
        depth_min: float = DEFAULT_DEPTH_MIN,
        depth_max: float = DEFAULT_DEPTH_MAX,
        depth_diff_max: float = DEFAULT_DEPTH_DIFF_MAX,
        iterations: Sequence[int] = DEFAULT_ITERATIONS,
        initial_pose: np.ndarray | None = None,
    ) -> None:
        import open3d as o3d
        import open3d.core as o3c

        self.o3d, self.o3c = o3d, o3c
        self.limits = limits or TrackingLimits()
        self.depth_min, self.depth_max = depth_min, depth_max
        self.option = o3d.pipelines.odometry.OdometryOption(
            iteration_number_per_pyramid_level=o3d.utility.IntVector(list(iterations)),
            depth_diff_max=depth_diff_max, depth_min=depth_min, depth_max=depth_max,
        )
        self.hybrid = o3d.pipelines.odometry.RGBDOdometryJacobianFromHybridTerm()
        self.criteria = [o3d.t.pipelines.odometry.OdometryConvergenceCriteria(int(n)) for n in iterations]
        self.params = o3d.t.pipelines.odometry.OdometryLossParams(depth_diff_max)
        self.pose: np.ndarray | None = None  # last tracked pose
        self.initial_pose = np.eye(4) if initial_pose is None else np.asarray(initial_pose, dtype=np.float64)
        self.velocity = np.eye(4)
        self.prev = None  # images of the last tracked frame
        self.prev_rgbd: tuple[np.ndarray, np.ndarray] | None = None  # its RGB and depth arrays
        self.K: Intrinsics | None = None
        self.failures = 0

    def images(self, rgb: np.ndarray, depth: np.ndarray, K: Intrinsics):
        """(legacy RGBDImage with intensity, tensor depth Image) of a frame; depth metres, 0 = none."""
        if self.K is not None and K != self.K:
            from rgb2depth.geometry.frames import ReconstructionError

            raise ReconstructionError(f"intrinsics changed within the sequence ({self.K} -> {K})")
        self.K = K
        o3d = self.o3d
        d = o3d_depth(depth, self.depth_min, self.depth_max)
        legacy = o3d.geometry.RGBDImage.create_from_color_and_depth(
            o3d.geometry.Image(np.ascontiguousarray(rgb)), o3d.geometry.Image(d), depth_scale=1.0,
            depth_trunc=self.depth_max, convert_rgb_to_intensity=True,
        )
        return legacy, o3d.t.geometry.Image(self.o3c.Tensor(d))

    def frame_to_frame(self, cur, K: Intrinsics, init: np.ndarray):
        """Hybrid RGB-D odometry of ``cur`` against the last tracked frame from ``init``
        (``T_prev_cur``): ``(T_prev_cur, fitness)`` or a reason string when it fails."""
        o3d = self.o3d
        intr = o3d.camera.PinholeCameraIntrinsic(int(K.width), int(K.height), K.fx, K.fy, K.cx, K.cy)
        ok, T, info = o3d.pipelines.odometry.compute_rgbd_odometry(cur[0], self.prev[0], intr, init, self.hybrid,
                                                                   self.option)
        if not ok or not np.all(np.isfinite(T)):
            return "frame-to-frame odometry did not converge"
        # The information matrix's translation block counts the correspondences.
        return T, float(info[5, 5]) / (K.width * K.height)

    def point_to_plane(self, cur, target_depth: np.ndarray, K: Intrinsics, init: np.ndarray):
        """Point-to-plane ICP of ``cur`` against the depth map ``target_depth`` from ``init``
        (``T_target_cur``; open3d's tensor multi-scale odometry): ``(T_target_cur, fitness,
        inlier_rmse)`` or a reason string when the solver fails (a singular system: the
        geometry does not fix the pose, or nothing to align).

        ``fitness`` is the fraction of all pixels with an inlier correspondence at the finest
        level; ``inlier_rmse`` their RMS point-to-plane residual in metres.
        """
        o3d, o3c = self.o3d, self.o3c
        tpipe = o3d.t.pipelines.odometry
        color = o3d.t.geometry.Image(o3c.Tensor(np.zeros((K.height, K.width), np.float32)))  # unused by ICP
        src = o3d.t.geometry.RGBDImage(color, cur[1])
        dst = o3d.t.geometry.RGBDImage(color, o3d.t.geometry.Image(o3c.Tensor(np.nan_to_num(target_depth, nan=0.0))))
        try:
            r = tpipe.rgbd_odometry_multi_scale(src, dst, o3c.Tensor(K.matrix()), o3c.Tensor(init), 1.0,
                                                self.depth_max, self.criteria, tpipe.Method.PointToPlane, self.params)
        except RuntimeError as e:
            msg = str(e).split("] ")[-1].splitlines()[0].strip() if str(e) else "RuntimeError"
            return f"the solver failed ({msg.rstrip('.')})"
        # open3d's ``inlier_rmse`` is the mean squared (robust) residual of the inliers: rooted here.
        return r.transformation.numpy(), float(r.fitness), math.sqrt(max(float(r.inlier_rmse), 0.0))

    def _first(self, cur) -> Step:
        self.pose, self.prev, self.velocity = self.initial_pose.copy(), cur, np.eye(4)
        self.prev_rgbd = self._rgbd
        return Step(True, self.pose.copy(), np.eye(4), fitness=1.0, inlier_rmse=0.0, translation=0.0, rotation_deg=0.0)

    def _accept(self, cur, pose: np.ndarray, fitness: float, rmse: float, retried: bool, source: str) -> Step:
        motion = np.linalg.inv(self.pose) @ pose
        self.velocity, self.pose, self.prev, self.prev_rgbd = motion, pose, cur, self._rgbd
        return Step(True, pose.copy(), motion, fitness=fitness, inlier_rmse=rmse,
                    translation=float(np.linalg.norm(motion[:3, 3])), rotation_deg=rotation_deg(motion), retried=retried,
                    source=source)

    def _fail(self, reason: str, fitness=math.nan, rmse=math.nan, motion=None) -> Step:
        self.failures += 1
        self.velocity = np.eye(4)  # the motion prior is reset: the next frame starts from the last pose
        finite = motion is not None and np.all(np.isfinite(motion))
        return Step(False, None, None, reason=reason, fitness=fitness, inlier_rmse=rmse,
                    translation=float(np.linalg.norm(motion[:3, 3])) if finite else math.nan,
                    rotation_deg=rotation_deg(motion) if finite else math.nan, retried=True)

    def _attempt(self, cur, K: Intrinsics, guess: np.ndarray):
        """(pose, fitness, rmse, reason, source) of one tracking attempt from ``guess``
        (camera-to-world); ``reason`` is "" when the registration converged."""
        raise NotImplementedError

    def track(self, rgb: np.ndarray, depth: np.ndarray, K: Intrinsics) -> Step:
        """Track one frame (RGB uint8, depth metres with NaN = invalid): its checked pose."""
        cur = self.images(rgb, depth, K)
        self._rgbd = (rgb, depth)
        valid = float(np.mean(np.isfinite(depth) & (depth >= self.depth_min) & (depth <= self.depth_max)))
        if valid < self.limits.min_fitness:
            reason = f"only {valid:.0%} of the pixels have depth in [{self.depth_min}, {self.depth_max}] m"
            if self.pose is None:  # nothing to start from yet: the next frame becomes the first
                self.failures += 1
                return Step(False, None, reason=reason, fitness=valid)
            return self._fail(reason, fitness=valid)
        if self.pose is None:
            return self._first(cur)
        # Guesses in turn: the motion prior (constant velocity); ORB features matched to the last
        # tracked frame; the last pose itself (the motion prior reset). The feature pose is also
        # independent evidence: a dense result far from it fell into another minimum (measured:
        # 7-Scenes kitchen at stride 5, one step 31 cm off with fitness 0.53 and ICP agreeing).
        feature = self._feature_guess()
        guesses = [self.pose @ self.velocity, feature, self.pose.copy()]
        last, tried = None, []
        for guess in guesses:
            if guess is None or any(np.allclose(guess, g, atol=1e-6) for g in tried):
                continue
            tried.append(guess)
            pose, fitness, rmse, reason, source = self._attempt(cur, K, guess)
            if not reason:
                reason = check_step(np.linalg.inv(self.pose) @ pose, fitness, rmse, self.limits)
            if not reason and feature is not None:
                off = np.linalg.inv(feature) @ pose
                dt, dr = float(np.linalg.norm(off[:3, 3])), rotation_deg(off)
                if dt > self.limits.max_icp_correction or dr > self.limits.max_icp_correction_deg:
                    reason = f"dense registration and feature matches disagree by {dt * 100:.0f} cm, {dr:.0f} deg"
            if not reason:
                return self._accept(cur, pose, fitness, rmse, len(tried) > 1, source)
            last = (reason, fitness, rmse, None if pose is None else np.linalg.inv(self.pose) @ pose)
        return self._fail(*last)

    def replace_depth(self, rgb: np.ndarray, depth: np.ndarray, K: Intrinsics) -> None:
        """Use ``depth`` for the last tracked frame from now on (its depth rescaled after
        tracking), as the reference of the next frame-to-frame step."""
        self.prev, self.prev_rgbd = self.images(rgb, depth, K), (rgb, depth)

    def feature_pose(self, rgb: np.ndarray) -> np.ndarray | None:
        """Camera-to-world pose of a new frame from ORB features matched to the last tracked
        frame (:func:`feature_motion`; uses that frame's depth, not the new one's), or None."""
        if self.pose is None or self.K is None:
            return None
        T, _ = feature_motion(self.prev_rgbd[0], self.prev_rgbd[1], rgb, self.K)
        return None if T is None else self.pose @ T

    def _feature_guess(self) -> np.ndarray | None:
        return self.feature_pose(self._rgbd[0])


class RGBDOdometry(_Tracker):
    """Frame-to-frame dense RGB-D odometry (hybrid photometric + depth term) against the last
    tracked frame, every step checked (see the module docstring). The legacy solver reports
    no residual, so ``inlier_rmse`` is not checked."""

    def _attempt(self, cur, K, guess):
        r = self.frame_to_frame(cur, K, np.linalg.inv(self.pose) @ guess)
        if isinstance(r, str):
            return None, math.nan, math.nan, r, ""
        return self.pose @ r[0], r[1], math.nan, "", "frame"


class ModelTracker(_Tracker):
    """Frame-to-model tracking against ``fusion`` (KinectFusion-style; see the module docstring).

    The caller integrates each accepted frame into ``fusion`` at the returned pose before
    tracking the next one; a failed frame must not be integrated.
    """

    def __init__(self, fusion, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fusion = fusion

    def _attempt(self, cur, K, guess):
        # 1. Frame to frame (photometric + depth) from the guess: a wide basin for the rotation.
        ff = self.frame_to_frame(cur, K, np.linalg.inv(self.pose) @ guess)
        if not isinstance(ff, str):
            guess = self.pose @ ff[0]
        # 2. Frame to model: point-to-plane ICP against the TSDF rendered from that guess.
        depth, _ = self.fusion.raycast(K, guess)
        cover = float(np.isfinite(depth).mean())
        if cover < self.limits.min_fitness:
            return None, math.nan, math.nan, f"the model covers only {cover:.0%} of the view", ""
        if icp_conditioning(depth, K) < MIN_ICP_CONDITIONING:
            # The model's geometry does not pin the pose down (a plane): keep the photometric result.
            if isinstance(ff, str):
                return None, math.nan, math.nan, f"{ff}, and the model's geometry does not fix the pose", ""
            return guess, ff[1], math.nan, "", "frame"
        r = self.point_to_plane(cur, depth, K, np.eye(4))
        if isinstance(r, str):
            return None, math.nan, math.nan, r if isinstance(ff, str) else f"{r} after frame-to-frame odometry", ""
        T, fitness, rmse = r
        pose = guess @ T
        dt, dr = float(np.linalg.norm(T[:3, 3])), rotation_deg(T)
        lim = self.limits
        if not isinstance(ff, str) and (dt > lim.max_icp_correction or dr > lim.max_icp_correction_deg):
            return None, fitness, rmse, (f"frame-to-model ICP and frame-to-frame odometry disagree by "
                                         f"{dt * 100:.0f} cm, {dr:.0f} deg"), ""
        return pose, fitness, rmse, "", "model"
