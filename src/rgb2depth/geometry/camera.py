"""Pinhole cameras and back-projection of z-depth maps.

Depth everywhere in rgb2depth is z-depth (distance along the optical axis), not ray length.
A pixel (u, v) with depth z back-projects to ((u - cx) z / fx, (v - cy) z / fy, z) in the
camera frame (x right, y down, z forward; OpenCV convention), pixel centres at integer u, v.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

#: Horizontal field of view assumed when a user gives no intrinsics (NYU Kinect: ~62 degrees,
#: fx ~518 px at 640 px width). Documented in the CLI help of ``predict --save ply``.
DEFAULT_HFOV_DEG = 62.0


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels for an image of ``width`` x ``height``."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float = DEFAULT_HFOV_DEG) -> Intrinsics:
        f = 0.5 * width / math.tan(math.radians(hfov_deg) / 2)
        return cls(f, f, (width - 1) / 2, (height - 1) / 2, width, height)

    @classmethod
    def parse(cls, text: str, width: int, height: int) -> Intrinsics:
        """Parse ``"fx,fy,cx,cy"`` (as the CLI takes it)."""
        try:
            fx, fy, cx, cy = (float(t) for t in text.split(","))
        except ValueError:
            raise ValueError(f"intrinsics must be 'fx,fy,cx,cy', got {text!r}") from None
        if fx <= 0 or fy <= 0:
            raise ValueError(f"intrinsics focal lengths must be positive, got {text!r}")
        return cls(fx, fy, cx, cy, width, height)

    def scaled(self, width: int, height: int) -> Intrinsics:
        """The same camera for an image resized to ``width`` x ``height``.

        Uses the pixel-centre convention: u' + 0.5 = (u + 0.5) * s.
        """
        sx, sy = width / self.width, height / self.height
        return Intrinsics(
            self.fx * sx,
            self.fy * sy,
            (self.cx + 0.5) * sx - 0.5,
            (self.cy + 0.5) * sy - 0.5,
            width,
            height,
        )

    def cropped(self, top: int, left: int, height: int, width: int) -> Intrinsics:
        return Intrinsics(self.fx, self.fy, self.cx - left, self.cy - top, width, height)

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], dtype=np.float64)

    def to_dict(self) -> dict:
        return asdict(self)


def backproject(depth: np.ndarray, K: Intrinsics, valid: np.ndarray | None = None) -> np.ndarray:
    """Points (N, 3) in the camera frame for every valid pixel of a z-depth map (metres).

    Valid pixels: finite, > 0, and ``valid`` where given. Rows are in raster order.
    """
    depth = np.asarray(depth, dtype=np.float64)
    if depth.shape != (K.height, K.width):
        raise ValueError(f"depth shape {depth.shape} does not match intrinsics {K.height}x{K.width}")
    ok = np.isfinite(depth) & (depth > 0)
    if valid is not None:
        ok &= valid.astype(bool)
    v, u = np.nonzero(ok)
    z = depth[v, u]
    return np.stack([(u - K.cx) * z / K.fx, (v - K.cy) * z / K.fy, z], axis=1)


def project(points: np.ndarray, K: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (N, 2) and depth (N,) of camera-frame points (N, 3)."""
    z = points[:, 2]
    u = K.fx * points[:, 0] / z + K.cx
    v = K.fy * points[:, 1] / z + K.cy
    return np.stack([u, v], axis=1), z
