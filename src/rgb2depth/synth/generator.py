"""``SynthDataset``: synthetic indoor RGB-D samples rendered on the fly.

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
``intrinsics="fx,fy,cx,cy"`` (for the output size) or an ``Intrinsics`` overrides them, and
``focal_range=(500, 640)`` draws a camera per room (focal length in pixels at 640x480, as
common RGB-D cameras have), returned in each sample's ``K``.

Room types (``scene_types``), camera kinds (``views``) and random focal lengths make the
widened generator (offices, kitchens, bathrooms, bedrooms, living rooms, corridors; hand-held,
robot and close-up views); see ``SynthDataset``.

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

from .camera import (
    DEFAULT_VIEWS,
    NYU_INTRINSICS,
    VIEW_KINDS,
    default_intrinsics,
    good_view,
    look_pose,
    random_intrinsics,
    sample_view,
)
from .render import Renderer, develop
from .rooms import DEFAULT_MIX, ROOM_TYPES, random_room
from .scene import Scene
from .sensor import KinectModel, apply_kinect

__all__ = ["NYU_INTRINSICS", "SynthDataset", "default_intrinsics", "parse_size", "parse_weights"]


def parse_weights(spec, names: Sequence[str], default: dict, what: str) -> dict[str, float]:
    """Weights per name from ``spec``: ``"mix"`` (``default``), one name, ``"a,b"`` (equal
    weights), ``"a:2,b:1"`` or a mapping; normalised to sum 1. Unknown names: ValueError."""
    if isinstance(spec, str):
        if spec == "mix":
            spec = dict(default)
        else:
            items = [t.strip() for t in spec.split(",") if t.strip()]
            spec = {}
            for t in items:
                name, _, w = t.partition(":")
                try:
                    spec[name.strip()] = float(w) if w else 1.0
                except ValueError:
                    raise ValueError(f"{what}: weight of {name!r} must be a number, got {w!r}") from None
    elif isinstance(spec, Sequence):
        spec = {str(n): 1.0 for n in spec}
    spec = {str(k): float(v) for k, v in dict(spec).items()}
    bad = [k for k in spec if k not in names]
    if bad:
        raise ValueError(f"{what}: unknown {', '.join(map(repr, bad))}; expected 'mix' or names of {', '.join(names)}")
    if any(v < 0 for v in spec.values()) or sum(spec.values()) <= 0:
        raise ValueError(f"{what}: weights must be >= 0 with a positive sum, got {spec}")
    total = sum(spec.values())
    return {k: v / total for k, v in spec.items() if v > 0}


def _choose(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    return names[int(rng.choice(len(names), p=np.array([weights[n] for n in names])))]


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

    The widened generator (what real indoor photographs show) is switched on by three options;
    their defaults keep the original generator (the same images for the same seed):

    - ``scene_types``: room types and their weights (``rooms.ROOM_TYPES``): ``"mix"`` (the
      default mix ``rooms.DEFAULT_MIX``), a name, ``"office,kitchen"``, ``"office:2,kitchen:1"``
      or a mapping; None: the original ``generic`` rooms;
    - ``views``: camera kinds and weights (``camera.VIEW_KINDS``: hand-held, robot, close-up
      views down at desks and tables) in the same forms (``"mix"`` is ``camera.DEFAULT_VIEWS``);
      None: the original sampler. With ``scene_types`` set and ``views`` None, ``"mix"`` is used;
    - ``focal_range``: (lo, hi) focal lengths in pixels at 640x480 (e.g. (500, 640), common
      RGB-D cameras): each room draws its camera (``camera.random_intrinsics``), scaled to
      ``size`` and returned as the sample's ``K``; ``ds.K`` is then None. None: fixed
      ``intrinsics`` (NYU by default).

    With ``views`` set the camera exposure varies more (metering on bright windows sometimes)
    and pixels that see the outdoor backdrop through a window are invalid (NaN depth), as an
    RGB-D sensor measures nothing through glass.
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
        scene_types: str | dict | Sequence[str] | None = None,
        views: str | dict | Sequence[str] | None = None,
        focal_range: Sequence[float] | None = None,
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
        if focal_range is not None:
            if intrinsics is not None:
                raise ValueError("give either intrinsics or focal_range, not both")
            lo, hi = (float(v) for v in focal_range)
            if not 0 < lo <= hi:
                raise ValueError(f"focal_range must be (lo, hi) with 0 < lo <= hi pixels at 640x480, got {focal_range!r}")
            self.focal_range: tuple[float, float] | None = (lo, hi)
            self.K = None
        else:
            self.focal_range = None
        self.scene_types = None if scene_types is None else parse_weights(scene_types, ROOM_TYPES, DEFAULT_MIX, "scene_types")
        if views is None and scene_types is not None:
            views = "mix"
        self.views = None if views is None else parse_weights(views, VIEW_KINDS, DEFAULT_VIEWS, "views")
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
    def intrinsics(self, scene_index: int) -> Intrinsics:
        """The camera of scene ``scene_index`` (all its frames): fixed, or drawn from ``(seed, scene)``."""
        if self.focal_range is None:
            return self.K
        H, W = self.size
        return random_intrinsics(np.random.default_rng([self.seed, scene_index, 13]), H, W, self.focal_range)

    def scene_and_poses(self, scene_index: int) -> tuple[Scene, Renderer, list[np.ndarray]]:
        """The room and camera poses of scene ``scene_index`` (cached for trajectories)."""
        # the cache belongs to the process that built it (a forked DataLoader worker rebuilds)
        if self._cache is not None and self._cache[0] == (scene_index, os.getpid()):
            return self._cache[1:4]
        rng = np.random.default_rng([self.seed, scene_index, 7])
        K = self.intrinsics(scene_index)
        pw = 40
        probe = K.scaled(pw, max(4, round(pw * K.height / K.width)))
        pick = np.random.default_rng([self.seed, scene_index, 17])  # room type and view kind
        for _room_try in range(20):
            kind = "generic" if self.scene_types is None else _choose(pick, self.scene_types)
            scene = random_room(rng, kind)
            renderer = Renderer(scene, threads=self.threads)
            for _cam_try in range(25):
                view = "classic" if self.views is None else _choose(pick, self.views)
                if view == "closeup" and self.trajectory:
                    view = "handheld"  # trajectories move 1-4 cm per frame: a close-up would leave the top
                got = sample_view(rng, scene, view)
                if got is None:
                    continue
                pose, (p, yaw, pitch, roll) = got
                poses = [pose] if not self.trajectory else _trajectory(rng, p, yaw, pitch, roll, self.frames_per_scene)
                if all(good_view(renderer, q, probe, scene, view) for q in poses):
                    self._cache = ((scene_index, os.getpid()), scene, renderer, poses, view)
                    return scene, renderer, poses
        raise RuntimeError(f"seed {self.seed}, scene {scene_index}: no usable camera found")

    def render(self, i: int) -> tuple[dict, dict]:
        """Sample ``i`` and the renderer's extra maps (normals, albedo, object ids, ...,
        ``scene_type``: the room type, ``view``: the camera kind)."""
        si, fi = divmod(i, self.frames_per_scene)
        scene, renderer, poses = self.scene_and_poses(si)
        K = self.intrinsics(si)
        pose = poses[fi]
        rng = np.random.default_rng([self.seed, si, fi, 11])
        out = renderer.render(pose, K, rng, ao_samples=self.ao_samples)
        if self.views is None:
            rgb = develop(out["radiance"], rng, out["emissive"])
        else:
            meter = bool(rng.random() < 0.3)
            rgb = develop(out["radiance"], rng, out["emissive"], exposure_jitter=0.5, meter_emissive=meter)
        depth = out["depth"]
        valid = np.isfinite(depth) & (depth > 0)
        if self.views is not None and scene.outdoor:
            # no depth through windows, as an RGB-D sensor sees none through glass (the backdrop
            # is a painted plane 5-100 m out, whose distance means nothing)
            valid &= ~np.isin(out["object"], scene.outdoor)
        if self.sensor_noise:
            depth, valid = apply_kinect(depth, valid, K, rng, albedo=out["albedo"], specular=out["specular"],
                                        cos_incidence=out["cos_incidence"], model=self.sensor)
        depth = np.where(valid, depth, np.nan).astype(np.float32)
        sample = {"rgb": rgb, "depth": depth, "valid": valid, "K": K, "id": f"{i:06d}", "pose": pose.copy()}
        out["scene_type"], out["view"] = scene.kind, self._cache[4]
        return sample, out


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
