"""Preview images of a reconstruction: a z-buffer rendering of the coloured point cloud.

open3d's offscreen renderer needs EGL or a GPU, which a CPU-only install does not have, so
:func:`render_points` projects the points with numpy (nearest point wins per pixel) and draws
the camera path with OpenCV.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from rgb2depth.geometry.camera import Intrinsics, project


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
    uv, z = project(pc, K)
    u, v = np.round(uv).astype(np.int64).T
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
            uv, _ = project(pp, K)
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
    """Write an RGB uint8 image as PNG (atomically: a temporary file, then renamed)."""
    import cv2

    from rgb2depth.fileio import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{path}: could not write PNG")
    return path
