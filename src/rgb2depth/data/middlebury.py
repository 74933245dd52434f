"""Middlebury stereo scenes as depth samples (left view).

- 2014/2021 layout: ``im0.png``, ``im1.png``, ``disp0GT.pfm`` (or ``disp0.pfm``; float32 pixels,
  inf = unknown), ``calib.txt`` (``cam0=[f 0 cx; 0 f cy; 0 0 1]``, ``doffs``, ``baseline`` mm):
  depth_mm = baseline * f / (d + doffs)  (Middlebury's own formula), here in metres.
- 2001/2003 layout: ``im2.png``, ``im6.png``, ``disp2.png`` (8-bit, pixels = value / ``disp_scale``
  (4 at quarter size), 0 = unknown). These scenes publish no calibration: pass ``focal`` (px) and
  ``baseline`` (m) to get metres (depth = focal * baseline / d), else a one-line error says so.

The sample also carries ``disparity`` (float32 pixels, NaN unknown) and, for 2014, ``nonocc``
(bool, from ``mask0nocc.png`` = 255).

:class:`MiddleburyRelative` reads the 2005/2006 layout (``view1.png``, ``view5.png``,
``disp1.png``, ``disp5.png``; 8-bit, pixels = value / 3 at third size, 0 = unknown). Those
scenes ship no ``doffs``: the stored disparity is the true one less an unknown offset, so their
depth is known only up to a scale and a shift of inverse depth. Its samples are marked
``relative_depth``; training uses them only through scale-and-shift-invariant losses
(:class:`rgb2depth.losses.ScaleShiftInvariantLoss`), as MiDaS mixes such data (Ranftl et al.,
TPAMI 2022, section 5).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from rgb2depth.geometry.camera import Intrinsics

from .base import Source, make_sample
from .depth_io import DataError, read_pfm, read_raw, read_rgb
from .disparity import depth_to_disparity, disparity_to_depth

__all__ = ["Middlebury", "MiddleburyRelative", "depth_to_disparity", "disparity_to_depth", "read_middlebury_calib",
           "read_png_disparity"]


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


def read_png_disparity(path: str | Path, disp_scale: float) -> np.ndarray:
    """An 8-bit Middlebury disparity PNG (2001-2006 layouts) as float32 pixels = value /
    ``disp_scale``, NaN where the value is 0 (unknown)."""
    raw = read_raw(path, np.uint8)
    disp = raw.astype(np.float32) / np.float32(disp_scale)
    disp[raw == 0] = np.nan
    return disp


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
            disp = read_png_disparity(d / "disp2.png", self.disp_scale)
            if self.focal is None or self.baseline is None:
                raise DataError(d, "Middlebury 2001/2003 scenes have no calib.txt: pass focal= (px) and baseline= (m)")
            depth = disparity_to_depth(disp, self.focal, self.baseline)
            K = Intrinsics(self.focal, self.focal, (rgb.shape[1] - 1) / 2, (rgb.shape[0] - 1) / 2, rgb.shape[1], rgb.shape[0])
            extra = {}
        if disp.shape != rgb.shape[:2]:
            raise DataError(d, f"disparity {disp.shape} does not match image {rgb.shape[:2]}")
        return make_sample(rgb, depth, K, self.ids[i], disparity=disp, **extra)


#: Middlebury 2005/2006 full-size focal length (px) and baseline (m), from the datasets' pages;
#: with the unknown disparity offset they give a depth that is *not* metric, only a positive
#: stand-in of a plausible size (a few metres) whose inverse is affine in the true inverse depth.
FOCAL_2006_FULL, BASELINE_2006 = 3740.0, 0.16


class MiddleburyRelative(Source):
    """Middlebury 2005/2006 views with disparity known up to an offset (relative depth).

    ``root``: one scene folder, a year folder (``2006/``) or the Middlebury folder (its
    ``2005/`` and ``2006/`` scenes); ``views``: which of the two views with ground truth (1 and
    5) to list per scene; ``disp_scale``: stored value per pixel of disparity (3 at third size;
    ``size_divisor`` the same factor for the focal length). ``depth`` is
    ``focal * baseline / disparity`` of the stored disparity, a stand-in whose inverse is the
    true inverse depth up to scale and shift (``relative_depth = True``); ``disparity`` is the
    stored disparity in pixels (NaN unknown).
    """

    name = "middlebury_relative"
    relative_depth = True

    def __init__(self, root: str | Path, views: tuple[int, ...] | list[int] = (1, 5), disp_scale: float = 3.0,
                 size_divisor: float = 3.0) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(self.root, "Middlebury 2005/2006 folder not found")
        bad = [v for v in views if v not in (1, 5)]
        if bad or not views:
            raise ValueError(f"middlebury_relative: views must be 1 and/or 5, got {list(views)}")
        found = sorted({p.parent for pat in ("view1.png", "*/view1.png", "*/*/view1.png") for p in self.root.glob(pat)})
        if not found:
            raise DataError(self.root, "no Middlebury 2005/2006 scene (view1.png + disp1.png) found")
        self.items = [(d, int(v)) for d in found for v in views]
        self.ids = [f"{d.parent.name}/{d.name}/view{v}" for d, v in self.items]  # year/scene/view
        self.disp_scale, self.focal = float(disp_scale), FOCAL_2006_FULL / float(size_divisor)

    def load(self, i: int) -> dict:
        d, v = self.items[i]
        rgb = read_rgb(d / f"view{v}.png")
        disp = read_png_disparity(d / f"disp{v}.png", self.disp_scale)
        if disp.shape != rgb.shape[:2]:
            raise DataError(d / f"disp{v}.png", f"disparity {disp.shape} does not match view{v}.png {rgb.shape[:2]}")
        depth = disparity_to_depth(disp, self.focal, BASELINE_2006)
        h, w = rgb.shape[:2]
        K = Intrinsics(self.focal, self.focal, (w - 1) / 2, (h - 1) / 2, w, h)
        return make_sample(rgb, depth, K, self.ids[i], disparity=disp)
