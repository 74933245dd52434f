"""Make3D (Saxena et al.): ``img-<name>.jpg`` (2272x1704 photos) and laser depth
``depth_sph_corr-<name>.mat`` (MATLAB v5, read with scipy) holding ``Position3DGrid``
(55x305x4): channel 1 vertical Y, 2 horizontal X, 3 projective depth Z, 4 depth d, metres.

Paper 003 protocol (Sec. 4.2, following Liu et al.): images and depth resized to 345x460, depths
over 70 m masked (sky and far returns are unreliable). The benchmark uses channel 4 (d) as the
ground truth; ``channel="z"`` gives the projective depth instead. The grid is upsampled with
nearest neighbour by default (``interp="bilinear"`` interpolates only between valid samples,
the normalised-convolution resampling of ``transforms``). Intrinsics are not published: K None.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .base import Source, make_sample
from .depth_io import DataError, read_mat, read_rgb
from .transforms import _resample_depth

MAKE3D_SIZE = (345, 460)
MAKE3D_MAX = 70.0


def read_make3d_depth(path: str | Path, channel: str = "d") -> np.ndarray:
    path = Path(path)
    m = read_mat(path)
    if "Position3DGrid" not in m:
        raise DataError(path, "no 'Position3DGrid' variable (not a Make3D depth file)")
    g = np.asarray(m["Position3DGrid"])
    if g.ndim != 3 or g.shape[2] != 4:
        raise DataError(path, f"Position3DGrid has shape {g.shape}, expected (rows, cols, 4)")
    return g[:, :, 3 if channel == "d" else 2].astype(np.float32)


class Make3D(Source):
    """``root`` holds the images and depth files (any sub-folders, e.g. Train400Img/ and
    Train400Depth/), or give explicit ``pairs`` of (image, .mat)."""

    name = "make3d"

    def __init__(self, root: str | Path | None = None, pairs=None, size: tuple[int, int] | None = MAKE3D_SIZE,
                 max_depth: float | None = MAKE3D_MAX, channel: str = "d", interp: str = "nearest") -> None:
        if channel not in ("d", "z"):
            raise ValueError(f"channel must be 'd' or 'z', got {channel!r}")
        if interp not in ("nearest", "bilinear"):
            raise ValueError(f"interp must be 'nearest' or 'bilinear', got {interp!r}")
        if pairs is not None:
            self.items = [(Path(a), Path(b)) for a, b in pairs]
        else:
            if root is None:
                raise ValueError("make3d needs root or pairs")
            root = Path(root)
            if not root.is_dir():
                raise DataError(root, "Make3D folder not found")
            mats = {p.name[len("depth_sph_corr-"):-4]: p for p in root.rglob("depth_sph_corr-*.mat")}
            imgs = {p.stem[len("img-"):]: p for p in root.rglob("img-*.jpg")}
            self.items = [(imgs[k], mats[k]) for k in sorted(set(mats) & set(imgs))]
        if not self.items:
            raise DataError(root or "pairs", "no img-*.jpg / depth_sph_corr-*.mat pairs")
        self.ids = [p.stem.replace("img-", "") for p, _ in self.items]
        self.size, self.max_depth, self.channel, self.interp = size, max_depth, channel, interp

    def load(self, i: int) -> dict:
        ip, dp = self.items[i]
        rgb = read_rgb(ip)
        grid = read_make3d_depth(dp, self.channel)
        h, w = self.size if self.size is not None else rgb.shape[:2]
        if rgb.shape[:2] != (h, w):
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        valid = np.isfinite(grid) & (grid > 0)
        mode = "nearest" if self.interp == "nearest" else "valid"

        def fn(img, interp, _b):
            return cv2.resize(img, (w, h), interpolation=interp)

        depth = _resample_depth(grid, valid, fn, mode, 1.0, cv2.INTER_LINEAR, cv2.INTER_NEAREST_EXACT)
        if self.max_depth is not None:
            with np.errstate(invalid="ignore"):
                depth[depth > self.max_depth] = np.nan
        return make_sample(rgb, depth, None, self.ids[i])
