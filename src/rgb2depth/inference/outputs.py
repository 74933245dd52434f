"""Writing predictions: raw metres (.npy), 16-bit millimetres (.png), colour maps, point clouds.

For an input ``foo.jpg`` and output folder ``OUT``:

- ``OUT/foo.npy``        float32 depth in metres, HxW (``np.load``);
- ``OUT/foo_depth.png``  uint16 depth in millimetres (rounded, clipped to 65535 = 65.5 m;
  0 = invalid, the convention of the datasets' depth PNGs);
- ``OUT/foo_color.png``  the depth colour-mapped (``viz.colorize``; near = low end of the
  colormap; display range = 2nd..98th percentile), optionally with a colour bar in metres;
- ``OUT/foo.ply``        coloured point cloud (binary PLY) back-projected with the given
  intrinsics or, without them, a 62-degree horizontal field of view
  (:data:`rgb2depth.geometry.camera.DEFAULT_HFOV_DEG`), at most ``ply_max_points`` points
  (every s-th pixel in both directions beyond that).

Large images are colour-mapped in bands of rows so that memory stays proportional to the image.
Every file is written atomically (temporary file in the same folder, fsync, rename): two runs
writing the same names leave complete files, a failed write leaves none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rgb2depth.fileio import imwrite, save_npy

SAVE_KINDS = ("npy", "png16", "color", "ply")
DEFAULT_SAVE = ("npy", "png16", "color")
DEFAULT_PLY_MAX_POINTS = 2_000_000


def parse_save(text: str | None, default=DEFAULT_SAVE) -> tuple[str, ...]:
    """``"npy,png16"`` -> ("npy", "png16"); ``None`` -> ``default``; "" or "none" -> ()."""
    if text is None:
        return tuple(default)
    items = [t.strip().lower() for t in text.split(",") if t.strip()]
    if items in ([], ["none"]):
        return ()
    bad = [t for t in items if t not in SAVE_KINDS]
    if bad:
        raise ValueError(f"--save: unknown kind(s) {', '.join(bad)} (choose from {', '.join(SAVE_KINDS)})")
    return tuple(dict.fromkeys(items))


def depth_to_png16(depth: np.ndarray) -> np.ndarray:
    """Metres -> uint16 millimetres (rounded; >65.535 m clipped; NaN/<=0 -> 0 = invalid)."""
    d = np.asarray(depth, dtype=np.float32)
    ok = np.isfinite(d) & (d > 0)
    mm = np.where(ok, np.clip(np.round(d * 1000.0), 1, 65535), 0)
    return mm.astype(np.uint16)


def display_range(depth: np.ndarray) -> tuple[float, float]:
    """``viz.depth_range`` (2nd..98th percentile), on a subsample for very large maps."""
    from rgb2depth.viz import depth_range

    d = np.asarray(depth)
    step = int(np.ceil(np.sqrt(d.size / 1_000_000))) if d.size > 1_000_000 else 1
    return depth_range(d[::step, ::step])


def colorize_banded(depth: np.ndarray, vmin: float, vmax: float, cmap: str = "turbo", rows: int = 256) -> np.ndarray:
    """``viz.colorize`` applied band by band (same result, bounded temporary memory)."""
    from rgb2depth.viz import colorize

    h, w = depth.shape
    out = np.empty((h, w, 3), dtype=np.uint8)
    for r in range(0, h, rows):
        out[r:r + rows] = colorize(depth[r:r + rows], vmin=vmin, vmax=vmax, cmap=cmap)
    return out


def add_colorbar(img: np.ndarray, vmin: float, vmax: float, cmap: str = "turbo") -> np.ndarray:
    """Append a vertical colour bar (far at the top) with tick labels in metres to ``img``."""
    import cv2
    from matplotlib.ticker import MaxNLocator

    from rgb2depth.viz import colorize

    h, w = img.shape[:2]
    scale = max(0.35, min(2.5, h / 700))
    thick = max(1, int(round(scale * 1.5)))
    margin = max(4, int(h * 0.04))
    bar_w = max(10, w // 30)
    bar_h = h - 2 * margin
    ticks = [t for t in MaxNLocator(nbins=6).tick_values(vmin, vmax) if vmin <= t <= vmax]
    labels = [f"{t:g} m" for t in ticks]
    text_w = max([cv2.getTextSize(s, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)[0][0] for s in labels] + [0])
    panel = np.full((h, bar_w + text_w + 3 * margin, 3), 255, dtype=np.uint8)
    ramp = np.linspace(vmax, vmin, max(bar_h, 1), dtype=np.float32)[:, None].repeat(bar_w, axis=1)
    panel[margin:margin + bar_h, margin:margin + bar_w] = colorize(ramp, vmin=vmin, vmax=vmax, cmap=cmap)
    for t, s in zip(ticks, labels, strict=True):
        y = margin + int(round((vmax - t) / max(vmax - vmin, 1e-9) * (bar_h - 1)))
        x0 = margin + bar_w
        cv2.line(panel, (x0, y), (x0 + margin // 2, y), (0, 0, 0), thick)
        th = cv2.getTextSize(s, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)[0][1]
        ty = min(max(y + th // 2, th), h - 1)
        cv2.putText(panel, s, (x0 + margin, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick, cv2.LINE_AA)
    return np.concatenate([img, panel], axis=1)


def color_image(depth: np.ndarray, cmap: str = "turbo", colorbar: bool = False,
                vrange: tuple[float, float] | None = None) -> np.ndarray:
    """The colour-mapped depth (HxWx3 uint8 RGB), with a colour bar appended if asked."""
    vmin, vmax = vrange if vrange is not None else display_range(depth)
    img = colorize_banded(depth, vmin, vmax, cmap)
    return add_colorbar(img, vmin, vmax, cmap) if colorbar else img


def _imwrite(path: Path, img: np.ndarray) -> None:
    if img.ndim == 3:
        img = np.ascontiguousarray(img[..., ::-1])  # RGB -> BGR for OpenCV
    imwrite(path, img)


@dataclass
class OutputWriter:
    """Writes the requested kinds of output for one prediction; see the module docstring."""

    outdir: Path
    save: tuple[str, ...] = DEFAULT_SAVE
    cmap: str = "turbo"
    colorbar: bool = False
    intrinsics: str | None = None  # "fx,fy,cx,cy" at the input image's resolution
    ply_max_points: int | None = DEFAULT_PLY_MAX_POINTS

    def __post_init__(self) -> None:
        import matplotlib

        self.outdir = Path(self.outdir)
        if self.cmap not in matplotlib.colormaps:
            raise ValueError(f"--cmap: unknown colormap {self.cmap!r}")
        if self.intrinsics is not None:
            from rgb2depth.geometry.camera import Intrinsics

            Intrinsics.parse(self.intrinsics, 1, 1)  # validate the text early

    def camera(self, width: int, height: int, focal: float | None = None):
        """The camera that back-projects the point cloud: ``intrinsics`` when given, else a
        centred camera of focal length ``focal`` (px; the one the depth was predicted for),
        else the default field of view."""
        from rgb2depth.geometry.camera import Intrinsics
        from rgb2depth.geometry.pointcloud import default_intrinsics

        if self.intrinsics is not None:
            return Intrinsics.parse(self.intrinsics, width, height)
        if focal is not None:
            return Intrinsics(float(focal), float(focal), (width - 1) / 2, (height - 1) / 2, width, height)
        return default_intrinsics(width, height)

    def write(self, stem: str | os.PathLike, depth: np.ndarray, rgb: np.ndarray | None,
              vrange: tuple[float, float] | None = None, focal: float | None = None) -> list[Path]:
        """Write ``OUT/<stem>.npy`` etc.; ``stem`` may contain sub-folders. Returns the paths.

        ``focal``: the horizontal focal length (px, at the depth map's resolution) the depth was
        predicted for, which the point cloud then uses unless ``intrinsics`` were given.

        Each file is written atomically (:mod:`rgb2depth.fileio`): a failure raises
        :class:`~rgb2depth.fileio.OutputError` (one line naming the file) and leaves no partial
        file; the files of this stem written before it stay.
        """
        from rgb2depth.geometry.pointcloud import depth_to_pointcloud, stride_for, write_ply

        base = self.outdir / Path(stem)
        written = []
        if "npy" in self.save:
            p = base.with_name(base.name + ".npy")
            save_npy(p, depth.astype(np.float32, copy=False))
            written.append(p)
        if "png16" in self.save:
            p = base.with_name(base.name + "_depth.png")
            _imwrite(p, depth_to_png16(depth))
            written.append(p)
        if "color" in self.save:
            p = base.with_name(base.name + "_color.png")
            _imwrite(p, color_image(depth, self.cmap, self.colorbar, vrange))
            written.append(p)
        if "ply" in self.save:
            p = base.with_name(base.name + ".ply")
            h, w = depth.shape
            cloud = depth_to_pointcloud(depth, self.camera(w, h, focal), rgb, stride=stride_for(h * w, self.ply_max_points))
            write_ply(p, cloud)
            written.append(p)
        return written
