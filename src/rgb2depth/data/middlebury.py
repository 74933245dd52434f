"""Middlebury stereo scenes as depth samples (left view).

- 2014/2021 layout: ``im0.png``, ``im1.png``, ``disp0GT.pfm`` (or ``disp0.pfm``; float32 pixels,
  inf = unknown), ``calib.txt`` (``cam0=[f 0 cx; 0 f cy; 0 0 1]``, ``doffs``, ``baseline`` mm):
  depth_mm = baseline * f / (d + doffs)  (Middlebury's own formula), here in metres.
- 2001/2003 layout: ``im2.png``, ``im6.png``, ``disp2.png`` (8-bit, pixels = value / ``disp_scale``
  (4 at quarter size), 0 = unknown). These scenes publish no calibration: pass ``focal`` (px) and
  ``baseline`` (m) to get metres (depth = focal * baseline / d), else a one-line error says so.

The sample also carries ``disparity`` (float32 pixels, NaN unknown) and, for 2014, ``nonocc``
(bool, from ``mask0nocc.png`` = 255).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from rgb2depth.geometry.camera import Intrinsics

from .base import Source, make_sample
from .depth_io import DataError, read_pfm, read_raw, read_rgb
from .disparity import depth_to_disparity, disparity_to_depth

__all__ = ["Middlebury", "depth_to_disparity", "disparity_to_depth", "read_middlebury_calib"]


def read_middlebury_calib(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    out: dict = {}
    for line in path.read_text().splitlines():
        if "=" not in line:
            continue
        k, v = (t.strip() for t in line.split("=", 1))
        if v.startswith("["):
            nums = [float(x) for x in re.split(r"[\s;\[\]]+", v) if x]
            if len(nums) != 9:
                raise DataError(path, f"{k} is not a 3x3 matrix")
            out[k] = np.array(nums).reshape(3, 3)
        else:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    for k in ("cam0", "doffs", "baseline"):
        if k not in out:
            raise DataError(path, f"missing {k}")
    return out


def _is_scene(p: Path) -> bool:
    return (p / "im0.png").is_file() or (p / "im2.png").is_file()


class Middlebury(Source):
    name = "middlebury"

    def __init__(self, root: str | Path, focal: float | None = None, baseline: float | None = None,
                 disp_scale: float = 4.0) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(self.root, "Middlebury folder not found")
        self.scenes = [self.root] if _is_scene(self.root) else sorted(p for p in self.root.iterdir() if p.is_dir() and _is_scene(p))
        if not self.scenes:
            raise DataError(self.root, "no Middlebury scene (im0.png or im2.png) found")
        self.ids = [p.name for p in self.scenes]
        self.focal, self.baseline, self.disp_scale = focal, baseline, disp_scale

    def load(self, i: int) -> dict:
        d = self.scenes[i]
        if (d / "im0.png").is_file():
            rgb = read_rgb(d / "im0.png")
            gt = d / "disp0GT.pfm" if (d / "disp0GT.pfm").is_file() else d / "disp0.pfm"
            disp = read_pfm(gt)
            disp[~np.isfinite(disp)] = np.nan
            c = read_middlebury_calib(d / "calib.txt")
            f = float(c["cam0"][0, 0])
            depth = disparity_to_depth(disp, f, c["baseline"] / 1000.0, c["doffs"])
            K = Intrinsics(f, float(c["cam0"][1, 1]), float(c["cam0"][0, 2]), float(c["cam0"][1, 2]), rgb.shape[1], rgb.shape[0])
            extra = {}
            if (d / "mask0nocc.png").is_file():
                extra["nonocc"] = read_raw(d / "mask0nocc.png", np.uint8) == 255
        else:
            rgb = read_rgb(d / "im2.png")
            raw = read_raw(d / "disp2.png", np.uint8)
            disp = raw.astype(np.float32) / np.float32(self.disp_scale)
            disp[raw == 0] = np.nan
            if self.focal is None or self.baseline is None:
                raise DataError(d, "Middlebury 2001/2003 scenes have no calib.txt: pass focal= (px) and baseline= (m)")
            depth = disparity_to_depth(disp, self.focal, self.baseline)
            K = Intrinsics(self.focal, self.focal, (rgb.shape[1] - 1) / 2, (rgb.shape[0] - 1) / 2, rgb.shape[1], rgb.shape[0])
            extra = {}
        if disp.shape != rgb.shape[:2]:
            raise DataError(d, f"disparity {disp.shape} does not match image {rgb.shape[:2]}")
        return make_sample(rgb, depth, K, self.ids[i], disparity=disp, **extra)
