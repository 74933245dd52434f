"""Cameras for the synthetic rooms: where a person or a robot would hold an RGB-D camera, and
the intrinsics of common RGB-D cameras.

View kinds (``VIEW_KINDS``):

- ``classic``: the original sampler (height 1.0-1.8 m, sometimes 0.6-1.0 m, pitch -40..+8
  degrees, roll +-4), kept unchanged so earlier seeds give the same views;
- ``handheld``: a person holding a phone or camera, 1.2-1.8 m high, pitch -35..+10 degrees,
  roll +-4 degrees, aimed at furniture or into the room (along the corridor in corridors);
- ``robot``: a camera on a mobile robot, 0.3-1.0 m high, pitch -20..+12, roll +-2 degrees;
- ``closeup``: looking down at a desk, table, counter or washbasin from 0.4-1.2 m (camera to
  the surface point in the image centre), pitch -30..-70 degrees, as a person photographing
  what lies on it.

``random_intrinsics`` draws a pinhole camera like those of Kinect, RealSense, Xtion or Azure
Kinect colour streams: focal length 500-640 px at 640x480 (about 53-65 degrees horizontal
field of view), principal point within a few pixels of the centre, square pixels; scaled to
the output size as the fixed NYU camera is (cover, centre-crop). The focal length is what a
network needs to know to predict metric depth from an unknown camera, so training can use the
sample's ``K``.
"""

from __future__ import annotations

import math

import numpy as np

from rgb2depth.geometry.camera import Intrinsics

from .scene import Scene, obb_overlap

#: View kinds ``sample_view`` takes.
VIEW_KINDS = ("classic", "handheld", "robot", "closeup")

#: The widened generator's mix of view kinds (close-ups only where the room has a support top).
DEFAULT_VIEWS = {"handheld": 0.55, "robot": 0.2, "closeup": 0.25}

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


def random_intrinsics(rng: np.random.Generator, height: int, width: int, focal_range=(500.0, 640.0),
                      centre_jitter: float = 6.0) -> Intrinsics:
    """A 640x480 camera with focal length uniform in ``focal_range`` (pixels), principal point
    within +-``centre_jitter`` px of the centre and fy/fx within 0.3%, fitted to the output."""
    f = rng.uniform(*focal_range)
    cx = 319.5 + rng.uniform(-centre_jitter, centre_jitter)
    cy = 239.5 + rng.uniform(-centre_jitter, centre_jitter)
    base = Intrinsics(f, f * (1 + rng.uniform(-0.003, 0.003)), cx, cy, 640, 480)
    return default_intrinsics(height, width, base)


def look_pose(position, yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """Camera-to-world 4x4 (OpenCV camera axes) at ``position`` looking along heading ``yaw``
    (radians from +x, counter-clockwise seen from above), ``pitch`` up (+) / down (-), ``roll``."""
    cp, sp = math.cos(pitch), math.sin(pitch)
    f = np.array([cp * math.cos(yaw), cp * math.sin(yaw), sp])
    r = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
    d = np.cross(f, r)
    cr, sr = math.cos(roll), math.sin(roll)
    r, d = cr * r + sr * d, -sr * r + cr * d
    T = np.eye(4)
    T[:3, :3] = np.stack([r, d, f], 1)
    T[:3, 3] = position
    return T


def sample_camera(rng: np.random.Generator, scene: Scene, clearance: float = 0.35) -> tuple[np.ndarray, tuple]:
    """A plausible hand-held / head-height camera in free space of ``scene``'s room (``classic``).

    Height 1.0-1.8 m (sometimes 0.6-1.0 m), roll +-4 degrees, aimed (+-12 degrees heading, +-8
    pitch) at a piece of furniture (75%) or a random point of the room, pitch within -40..+8. Returns (pose, (position, yaw, pitch, roll)).
    """
    X, Y, H = scene.room
    for _ in range(200):
        p = np.array([rng.uniform(0.4, X - 0.4), rng.uniform(0.4, Y - 0.4), 0.0])
        p[2] = rng.uniform(1.0, min(1.8, H - 0.3)) if rng.random() < 0.85 else rng.uniform(0.6, 1.0)
        probe = (p[0], p[1], clearance, clearance, 0.0)
        if any(obb_overlap(probe, o) and o[5] > p[2] - 0.6 for o in scene.obstacles):
            continue
        furniture = [o for o in scene.obstacles if o[5] < 5]
        if furniture and rng.random() < 0.75:  # look at a piece of furniture
            o = furniture[int(rng.integers(0, len(furniture)))]
            target = np.array([o[0], o[1], o[5] * rng.uniform(0.2, 0.8)])
        else:
            target = np.array([rng.uniform(0.2, X - 0.2), rng.uniform(0.2, Y - 0.2), rng.uniform(0.3, 1.2)])
        dist = np.linalg.norm(target[:2] - p[:2])
        if dist < 1.2:
            continue
        yaw = math.atan2(target[1] - p[1], target[0] - p[0]) + math.radians(rng.uniform(-12, 12))
        pitch = math.atan2(target[2] - p[2], dist) + math.radians(rng.uniform(-8, 8))
        pitch = float(np.clip(pitch, math.radians(-40), math.radians(8)))
        roll = math.radians(rng.uniform(-4, 4))
        return look_pose(p, yaw, pitch, roll), (p, yaw, pitch, roll)
    raise RuntimeError("no free camera position found in the room")


def _standing(rng, scene: Scene, kind: str, tries: int = 200):
    """``handheld`` and ``robot`` views: a free floor position, aimed at furniture or into the room."""
    X, Y, H = scene.room
    small = min(X, Y)
    min_dist = min(1.2, 0.45 * max(X, Y))
    clearance = 0.3 if kind == "handheld" else 0.25
    lo, hi, pr, rr = ((1.2, min(1.8, H - 0.3), (-35, 10), 4.0) if kind == "handheld" else (0.3, 1.0, (-20, 12), 2.0))
    for _ in range(tries):
        p = np.array([rng.uniform(0.35, X - 0.35), rng.uniform(0.35, Y - 0.35), rng.uniform(lo, hi)])
        probe = (p[0], p[1], clearance, clearance, 0.0)
        if any(obb_overlap(probe, o) and o[5] > p[2] - 0.4 for o in scene.obstacles):
            continue
        furniture = [o for o in scene.obstacles if o[5] < 5]
        if scene.kind == "corridor" and rng.random() < 0.65:  # along the corridor
            heading = (0.0 if p[0] < X / 2 else math.pi) + math.radians(rng.uniform(-25, 25))
            target = p + np.array([math.cos(heading), math.sin(heading), 0.0]) * X / 2
            target[2] = rng.uniform(0.6, 1.4)
        elif furniture and rng.random() < 0.7:
            o = furniture[int(rng.integers(0, len(furniture)))]
            target = np.array([o[0], o[1], o[5] * rng.uniform(0.2, 0.9)])
        else:
            target = np.array([rng.uniform(0.2, X - 0.2), rng.uniform(0.2, Y - 0.2), rng.uniform(0.3, 1.4)])
        dist = np.linalg.norm(target[:2] - p[:2])
        if dist < min_dist * (0.7 if small < 2.5 else 1.0):
            continue
        yaw = math.atan2(target[1] - p[1], target[0] - p[0]) + math.radians(rng.uniform(-15, 15))
        pitch = math.atan2(target[2] - p[2], dist) + math.radians(rng.uniform(-8, 8))
        pitch = float(np.clip(pitch, math.radians(pr[0]), math.radians(pr[1])))
        roll = math.radians(rng.uniform(-rr, rr))
        return look_pose(p, yaw, pitch, roll), (p, yaw, pitch, roll)
    return None


def _closeup(rng, scene: Scene, tries: int = 60):
    """Looking down at a support top from 0.4-1.2 m, pitch -30..-70 degrees."""
    X, Y, H = scene.room
    if not scene.surfaces:
        return None
    area = np.sqrt([t[2] * t[3] for t in scene.surfaces])  # desks and tables more than nightstands
    for _ in range(tries):
        cx, cy, w, d, syaw, z = scene.surfaces[int(rng.choice(len(area), p=area / area.sum()))]
        lx, ly = rng.uniform(-0.4, 0.4) * w, rng.uniform(-0.4, 0.4) * d
        c, s = math.cos(syaw), math.sin(syaw)
        target = np.array([cx + c * lx - s * ly, cy + s * lx + c * ly, z])
        pitch = -math.radians(rng.uniform(30, 70))
        dist = rng.uniform(0.4, 1.2)
        # mostly from the front of the furniture (its +y side), as one stands at a desk
        heading = syaw - math.pi / 2 + math.radians(rng.uniform(-40, 40)) if rng.random() < 0.7 else rng.uniform(0, 2 * math.pi)
        f = np.array([math.cos(pitch) * math.cos(heading), math.cos(pitch) * math.sin(heading), math.sin(pitch)])
        p = target - dist * f
        if not (0.15 < p[0] < X - 0.15 and 0.15 < p[1] < Y - 0.15 and p[2] < H - 0.25):
            continue
        roll = math.radians(rng.uniform(-4, 4))
        return look_pose(p, heading, pitch, roll), (p, heading, pitch, roll)
    return None


def sample_view(rng: np.random.Generator, scene: Scene, kind: str = "handheld"):
    """A camera pose of view ``kind`` (see ``VIEW_KINDS``) in ``scene``; returns (pose, (position,
    yaw, pitch, roll)), or None when the room offers no such view (no support top for a close-up)."""
    if kind == "classic":
        return sample_camera(rng, scene)
    if kind == "closeup":
        return _closeup(rng, scene)
    if kind in ("handheld", "robot"):
        return _standing(rng, scene, kind)
    raise ValueError(f"unknown view kind {kind!r}; expected one of {', '.join(VIEW_KINDS)}")


def good_view(renderer, pose: np.ndarray, K: Intrinsics, scene: Scene, kind: str = "classic") -> bool:
    """Whether ``pose`` is a usable view of ``kind``, from a small probe render with ``K``.

    ``classic``: the camera is in the room and clear of furniture, every ray hits, at most 5%
    closer than 0.5 m, median depth at least 1.2 m, at least 15% furniture, clutter or
    pictures. Standing views: the same with the median bound relaxed in small rooms (bathrooms,
    corridors) and less content asked of corridors and bathrooms. Close-ups: every ray hits, at
    most 2% closer than 0.15 m (the camera is not inside an object), median depth under 1.3 m,
    at least 25% content.
    """
    X, Y, H = scene.room
    p = pose[:3, 3]
    m = 0.25 if kind == "classic" else 0.12
    if not (m < p[0] < X - m and m < p[1] < Y - m and (0.3 if kind == "classic" else 0.2) < p[2] < H - 0.2):
        return False
    if kind == "classic":
        probe = (p[0], p[1], 0.25, 0.25, 0.0)
        if any(obb_overlap(probe, o) and o[5] > p[2] - 0.5 for o in scene.obstacles):
            return False
    z, obj = renderer.probe(pose, K)
    if not np.isfinite(z).all():
        return False
    content = float((obj >= scene.content_from).mean())
    med = float(np.median(z))
    if kind == "closeup":
        return float((z < 0.15).mean()) <= 0.02 and med < 1.3 and content >= 0.25
    if kind == "classic":
        return float((z < 0.5).mean()) <= 0.05 and med >= 1.2 and content >= 0.15
    min_med = min(1.2, 0.4 * max(X, Y))
    need = 0.04 if scene.kind in ("corridor", "bathroom") else 0.12
    return float((z < 0.4).mean()) <= 0.05 and med >= min_med and content >= need
