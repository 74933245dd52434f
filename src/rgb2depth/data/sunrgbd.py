"""SUN RGB-D (Song et al. 2015): per-frame folders ``image/<name>.jpg``, ``depth/<name>.png``
(or the refined ``depth_bfx/``) and ``intrinsics.txt`` (3x3, row-major).

Depth PNGs store millimetres with the 16 bits rotated left by 3 (the SUN RGB-D toolbox's
``read3dPoints``): metres = (((v >> 3) | (v << 13)) & 0xFFFF) / 1000; 0 = invalid. The toolbox
clips at 8 m; ``max_depth`` (default None) marks deeper pixels invalid instead, if given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rgb2depth.geometry.camera import Intrinsics

from .base import Source, make_sample
from .depth_io import DataError, read_raw, read_rgb, sun_rgbd_to_metres


def _first(folder: Path, exts) -> Path | None:
    if not folder.is_dir():
        return None
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in exts:
            return p
    return None


class SUNRGBD(Source):
    """``root``: a tree of SUN RGB-D frame folders (each with image/ and depth/), or explicit
    ``pairs`` of (image, depth png) with optional ``K``."""

    name = "sun_rgbd"

    def __init__(self, root: str | Path | None = None, pairs=None, refined: bool = False,
                 max_depth: float | None = None, K: Intrinsics | None = None) -> None:
        self.items: list[tuple[Path, Path, Path | None]] = []
        dname = "depth_bfx" if refined else "depth"
        if pairs is not None:
            self.items = [(Path(a), Path(b), None) for a, b in pairs]
        else:
            if root is None:
                raise ValueError("sun_rgbd needs root or pairs")
            root = Path(root)
            if not root.is_dir():
                raise DataError(root, "SUN RGB-D folder not found")
            frames = [root] if (root / "image").is_dir() else sorted(p.parent for p in root.rglob("image") if p.is_dir())
            for f in frames:
                img = _first(f / "image", (".jpg", ".png"))
                dep = _first(f / dname, (".png",))
                if img is not None and dep is not None:
                    kp = f / "intrinsics.txt"
                    self.items.append((img, dep, kp if kp.is_file() else None))
            self.root = root
        if not self.items:
            raise DataError(root or "pairs", "no SUN RGB-D frames (image/ + depth/) found")
        self.ids = [p.parent.parent.name if p.parent.name == "image" else p.stem for p, _, _ in self.items]
        self.max_depth = max_depth
        self.K = K

    def load(self, i: int) -> dict:
        ip, dp, kp = self.items[i]
        rgb = read_rgb(ip)
        depth = sun_rgbd_to_metres(read_raw(dp, np.uint16))
        if self.max_depth is not None:
            with np.errstate(invalid="ignore"):
                depth[depth > self.max_depth] = np.nan
        K = self.K
        if kp is not None:
            k = np.array(kp.read_text().split(), dtype=np.float64)
            if k.size != 9:
                raise DataError(kp, f"expected a 3x3 matrix, got {k.size} numbers")
            K = Intrinsics(float(k[0]), float(k[4]), float(k[2]), float(k[5]), rgb.shape[1], rgb.shape[0])
        if depth.shape != rgb.shape[:2]:
            raise DataError(dp, f"depth {depth.shape} does not match image {rgb.shape[:2]}")
        return make_sample(rgb, depth, K, self.ids[i])
