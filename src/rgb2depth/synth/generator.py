"""``SynthDataset``: synthetic indoor RGB-D samples rendered on the fly (issue 7).

Why: paper 000 (Sec. 2.1) notes that realistic synthetic data trains depth networks well, and
paper 001 (Sec. IV, its last experiment) trains and evaluates on a computer-simulated set; the
real data here is two short indoor sequences. With ``sensor_noise=True`` the depth carries
Kinect-like holes, which the losses mask as paper 001 does for raw NYU depth (Sec. III-B).

Each index ``i`` is rendered deterministically from ``(seed, i)`` (numpy ``SeedSequence``), so
``ds[i]`` is the same image on every call, machine and worker order. Samples follow
docs/DEVELOPING.md: ``rgb`` HxWx3 uint8, ``depth`` HxW float32 **z-depth** in metres (NaN
invalid), ``valid`` bool, ``K`` (``geometry.camera.Intrinsics``), ``id`` (``"%06d" % i``) and
``pose`` (4x4 float64 camera-to-world, world z up, OpenCV camera axes).

Cameras default to the NYU Depth v2 Kinect colour intrinsics (640x480, fx 518.86, fy 519.47,
cx 325.58, cy 253.74), scaled to the output size with square pixels kept: scaled to cover
the size, then centre-cropped (so 320x240 is exactly half, and 256x256 a centre crop).
``intrinsics="fx,fy,cx,cy"`` (for the output size) or an ``Intrinsics`` overrides them.

With ``trajectory=True`` consecutive indices form short smooth camera paths through one room
(``frames_per_scene`` frames, a few cm and about a degree between frames), for the
reconstruction work; the poses share the room's world frame.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence

import numpy as np

from rgb2depth.geometry.camera import Intrinsics

from .render import Renderer, develop
from .scene import Scene, look_pose, obb_overlap, random_room, sample_camera
from .sensor import KinectModel, apply_kinect

#: NYU Depth v2 colour camera (the Kinect v1 RGB intrinsics of the NYU toolbox).
NYU_INTRINSICS = Intrinsics(518.8579, 519.4696, 325.5824, 253.7362, 640, 480)


def default_intrinsics(height: int, width: int, base: Intrinsics = NYU_INTRINSICS) -> Intrinsics:
    """``base`` scaled (square pixels kept) to cover ``height`` x ``width``, centre-cropped."""
    s = max(width / base.width, height / base.height)
    sw, sh = base.width * s, base.height * s
    return Intrinsics(
        base.fx * s,
        base.fy * s,
        (base.cx + 0.5) * s - 0.5 - (sw - width) / 2,
        (base.cy + 0.5) * s - 0.5 - (sh - height) / 2,
        int(width),
        int(height),
    )


def parse_size(text: str) -> tuple[int, int]:
    """``"HxW"`` -> (H, W)."""
    try:
        h, w = (int(t) for t in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must be HxW (e.g. 240x320), got {text!r}") from None
    if h < 8 or w < 8:
        raise ValueError(f"size must be at least 8x8, got {text!r}")
    return h, w


class SynthDataset(Sequence):
    """Synthetic indoor RGB-D samples, rendered on the fly; a ``Sequence`` and an iterable.

    Options: ``trajectory`` (bool), ``frames_per_scene`` (int, trajectory mode),
    ``sensor_noise`` (bool: Kinect-like holes and noise, see ``synth.sensor``),
    ``intrinsics`` (Intrinsics or ``"fx,fy,cx,cy"``), ``ao_samples`` (ambient-occlusion rays per
    pixel), ``threads`` (ray-casting threads; 1 suits data-loader workers), ``min_depth`` /
    ``max_depth`` (the sensor's range with ``sensor_noise``; default 0.5 / 6.0 m).
    """

    def __init__(
        self,
        count: int = 1000,
        size: tuple[int, int] = (240, 320),
        seed: int = 0,
        *,
        trajectory: bool = False,
        frames_per_scene: int = 10,
        sensor_noise: bool = False,
        intrinsics: Intrinsics | str | None = None,
        ao_samples: int = 3,
        threads: int = 1,
        min_depth: float = 0.0,
        max_depth: float = 0.0,
    ) -> None:
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        if isinstance(size, str):
            size = parse_size(size)
        self.count, self.size, self.seed = int(count), (int(size[0]), int(size[1])), int(seed)
        H, W = self.size
        if intrinsics is None:
            self.K = default_intrinsics(H, W)
        elif isinstance(intrinsics, str):
            self.K = Intrinsics.parse(intrinsics, W, H)
        else:
            self.K = intrinsics if (intrinsics.width, intrinsics.height) == (W, H) else intrinsics.scaled(W, H)
        self.trajectory = bool(trajectory)
        self.frames_per_scene = max(1, int(frames_per_scene)) if trajectory else 1
        self.sensor_noise = bool(sensor_noise)
        self.ao_samples = int(ao_samples)
        self.threads = int(threads)
        self.sensor = KinectModel(
            min_depth=min_depth or KinectModel.min_depth, max_depth=max_depth or KinectModel.max_depth
        )
        self._cache: tuple | None = None

    def __getstate__(self) -> dict:  # the open3d scene is rebuilt in each worker
        d = dict(self.__dict__)
        d["_cache"] = None
        return d

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples")
        return self.render(i)[0]

    def __iter__(self) -> Iterator[dict]:
        for i in range(len(self)):
            yield self[i]

    def stream(self, start: int = 0) -> Iterator[dict]:
        """Endless samples ``start, start + 1, ...`` (indices beyond ``count`` are new images)."""
        i = start
        while True:
            yield self.render(i)[0]
            i += 1

    # -- rendering ----------------------------------------------------------------------------
    def scene_and_poses(self, scene_index: int) -> tuple[Scene, Renderer, list[np.ndarray]]:
        """The room and camera poses of scene ``scene_index`` (cached for trajectories)."""
        # the cache belongs to the process that built it (a forked DataLoader worker rebuilds)
        if self._cache is not None and self._cache[0] == (scene_index, os.getpid()):
            return self._cache[1:]
        rng = np.random.default_rng([self.seed, scene_index, 7])
        pw = 40
        probe = self.K.scaled(pw, max(4, round(pw * self.K.height / self.K.width)))
        for _room_try in range(20):
            scene = random_room(rng)
            renderer = Renderer(scene, threads=self.threads)
            for _cam_try in range(25):
                pose, (p, yaw, pitch, roll) = sample_camera(rng, scene)
                poses = [pose] if not self.trajectory else _trajectory(rng, p, yaw, pitch, roll, self.frames_per_scene)
                if all(_good_view(renderer, q, probe, scene) for q in poses):
                    self._cache = ((scene_index, os.getpid()), scene, renderer, poses)
                    return scene, renderer, poses
        raise RuntimeError(f"seed {self.seed}, scene {scene_index}: no usable camera found")

    def render(self, i: int) -> tuple[dict, dict]:
        """Sample ``i`` and the renderer's extra maps (normals, albedo, object ids, ...)."""
        si, fi = divmod(i, self.frames_per_scene)
        scene, renderer, poses = self.scene_and_poses(si)
        pose = poses[fi]
        rng = np.random.default_rng([self.seed, si, fi, 11])
        out = renderer.render(pose, self.K, rng, ao_samples=self.ao_samples)
        rgb = develop(out["radiance"], rng, out["emissive"])
        depth = out["depth"]
        valid = np.isfinite(depth) & (depth > 0)
        if self.sensor_noise:
            depth, valid = apply_kinect(depth, valid, self.K, rng, albedo=out["albedo"], specular=out["specular"],
                                        cos_incidence=out["cos_incidence"], model=self.sensor)
        depth = np.where(valid, depth, np.nan).astype(np.float32)
        sample = {"rgb": rgb, "depth": depth, "valid": valid, "K": self.K, "id": f"{i:06d}", "pose": pose.copy()}
        return sample, out


def _good_view(renderer: Renderer, pose: np.ndarray, K: Intrinsics, scene: Scene) -> bool:
    """Reject views into a nearby surface, out of the room or at bare walls: every probe ray must
    hit, at most 5% closer than 0.5 m, median depth at least 1.2 m, and at least 15% of the view
    on furniture, clutter or pictures."""
    X, Y, H = scene.room
    p = pose[:3, 3]
    if not (0.25 < p[0] < X - 0.25 and 0.25 < p[1] < Y - 0.25 and 0.3 < p[2] < H - 0.2):
        return False
    probe = (p[0], p[1], 0.25, 0.25, 0.0)
    if any(obb_overlap(probe, o) and o[5] > p[2] - 0.5 for o in scene.obstacles):
        return False
    z, obj = renderer.probe(pose, K)
    if not np.isfinite(z).all():
        return False
    content = float((obj >= scene.content_from).mean())
    return float((z < 0.5).mean()) <= 0.05 and float(np.median(z)) >= 1.2 and content >= 0.15


def _trajectory(rng, p0, yaw0, pitch0, roll0, n: int) -> list[np.ndarray]:
    """A smooth hand-held path of ``n`` frames centred on the start pose: constant velocity
    (1-4 cm per frame, horizontal) plus a slow sway, slowly turning heading and pitch."""
    speed = rng.uniform(0.01, 0.04)
    heading = rng.uniform(0, 2 * math.pi)
    v = np.array([math.cos(heading), math.sin(heading), 0.0]) * speed
    yaw_rate = math.radians(rng.uniform(-1.5, 1.5))
    pitch_rate = math.radians(rng.uniform(-0.5, 0.5))
    sway_a, sway_f, sway_ph = rng.uniform(0.005, 0.02), rng.uniform(0.2, 0.6), rng.uniform(0, 2 * math.pi)
    poses = []
    for k in range(n):
        t = k - (n - 1) / 2
        p = np.asarray(p0, np.float64) + v * t + np.array([0, 0, sway_a * math.sin(sway_f * t + sway_ph)])
        poses.append(look_pose(p, yaw0 + yaw_rate * t, pitch0 + pitch_rate * t, roll0 + 0.3 * pitch_rate * t))
    return poses
