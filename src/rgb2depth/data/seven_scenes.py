"""Microsoft 7-Scenes sequences (``seq-XX/`` or the flat ``redkitchen_seq`` sample).

Files per frame: ``frame-NNNNNN.color.png|jpg``, ``frame-NNNNNN.depth.png`` (uint16
millimetres; 0 and 65535 are invalid), ``frame-NNNNNN.pose.txt`` (4x4 camera-to-world).
Intrinsics: ``camera-intrinsics.txt`` (3x3) when present, else the published fx = fy = 585,
cx = 320, cy = 240 at 640x480 (those are the depth camera's; the dataset's RGB and depth are
NOT registered: depth edges sit ~20-27 px off the RGB edges at 640x480, so use it at low
resolution or for reconstruction).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from rgb2depth.geometry.camera import Intrinsics

from .base import Source, make_sample
from .depth_io import DataError, read_raw, read_rgb, reduce_depth

SEVEN_SCENES_K = (585.0, 585.0, 320.0, 240.0)
_FRAME = re.compile(r"^frame-(\d+)\.color\.(png|jpg)$")


def read_pose_matrix(path: str | Path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        T = np.array(path.read_text().split(), dtype=np.float64)
    except ValueError:
        raise DataError(path, "non-numeric pose values") from None
    if T.size != 16:
        raise DataError(path, f"expected a 4x4 matrix (16 numbers), got {T.size}")
    T = T.reshape(4, 4)
    if not np.isfinite(T).all():
        raise DataError(path, "pose has non-finite values (tracking lost)")
    return T


class SevenScenes(Source):
    name = "seven_scenes"

    def __init__(self, root: str | Path, stride: int = 1, reduce: int = 1) -> None:
        self.root = Path(root)
        self.reduce = int(reduce)
        if not self.root.is_dir():
            raise DataError(self.root, "7-Scenes folder not found")
        frames = []
        for p in sorted(self.root.rglob("frame-*.color.*")):
            m = _FRAME.match(p.name)
            if m:
                frames.append(p)
        if not frames:
            raise DataError(self.root, "no frame-NNNNNN.color.png|jpg files")
        self.items = frames[::stride]
        self.ids = [f"{p.parent.name}_{p.name.split('.')[0]}" for p in self.items]
        kf = self.root / "camera-intrinsics.txt"
        if kf.is_file():
            k = np.array(kf.read_text().split(), dtype=np.float64)
            if k.size != 9:
                raise DataError(kf, f"expected a 3x3 matrix, got {k.size} numbers")
            self.K = Intrinsics(float(k[0]), float(k[4]), float(k[2]), float(k[5]), 640, 480)
        else:
            self.K = Intrinsics(*SEVEN_SCENES_K, 640, 480)

    def load(self, i: int) -> dict:
        p = self.items[i]
        stem = p.name.split(".")[0]
        rgb = read_rgb(p, self.reduce)
        raw = read_raw(p.parent / f"{stem}.depth.png", np.uint16)
        depth = raw.astype(np.float32) / np.float32(1000.0)
        depth[(raw == 0) | (raw == 65535)] = np.nan
        depth = reduce_depth(depth, rgb.shape[:2])
        pp = p.parent / f"{stem}.pose.txt"
        pose = read_pose_matrix(pp) if pp.is_file() else None
        K = self.K if (self.K.width, self.K.height) == (rgb.shape[1], rgb.shape[0]) else self.K.scaled(rgb.shape[1], rgb.shape[0])
        return make_sample(rgb, depth, K, self.ids[i], pose=pose)
