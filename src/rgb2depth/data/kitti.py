"""KITTI: camera images with Velodyne scans projected into the image (sparse ground truth), the
depth-completion annotated PNGs, and Eigen-split file lists.

Projection (``project_velodyne``): a LiDAR point X (homogeneous, metres) maps to the rectified
reference camera as ``Xc = R0_rect @ Tr_velo_to_cam @ X``, to pixels as ``P2 @ Xc``; depth is
``Xc.z`` (metres along the optical axis), pixel = nearest integer of (u, v), points behind the
camera or outside the image dropped, and several points in one pixel keep the nearest. This
reproduces the shipped ``proj_depth_x256`` PNGs of ../shared/data/kitti exactly (same pixel
set; 99.99 % of values identical at 1/256 m, the rest 1/256 m apart; tests check it).

Calibration files understood:
- object benchmark ``calib/NNNNNN.txt``: ``P2``, ``R0_rect``, ``Tr_velo_to_cam`` (row-major);
- raw recordings ``<date>/calib_cam_to_cam.txt`` (``P_rect_0k``, ``R_rect_00``) and
  ``calib_velo_to_cam.txt`` (``R``, ``T``);
- JSON with ``lidar2cam`` (4x4) and ``cam2img`` (3x4 or 4x4), e.g. ``calib_cam2.json``.

Depth-completion PNGs (``proj_depth/groundtruth`` or ``velodyne_raw``): uint16, metres =
value / 256, 0 = no measurement.

Eigen split files: lines ``<date>/<drive> <frame> l|r`` (monodepth2 style) or
``<date>/<drive>/image_02/data/<frame>.png [right image path]`` (Eigen's original lists).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rgb2depth.geometry.camera import Intrinsics

from .base import Source, make_sample
from .depth_io import DataError, read_depth_png, read_rgb

KITTI_SCALE = 256.0


@dataclass
class VeloCalib:
    """LiDAR -> rectified camera (4x4) and camera -> image (3x4)."""

    velo_to_rect: np.ndarray
    P: np.ndarray

    def intrinsics(self, width: int, height: int) -> Intrinsics:
        return Intrinsics(float(self.P[0, 0]), float(self.P[1, 1]), float(self.P[0, 2]), float(self.P[1, 2]), width, height)


def read_calib_txt(path: str | Path) -> dict[str, np.ndarray]:
    """``key: numbers`` lines (KITTI calibration text files)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    out = {}
    for ln, line in enumerate(path.read_text().splitlines(), 1):
        if ":" not in line:
            continue
        k, v = line.split(":", 1)
        try:
            out[k.strip()] = np.array([float(x) for x in v.split()], dtype=np.float64)
        except ValueError:
            if k.strip() == "calib_time":
                continue
            raise DataError(path, f"line {ln}: non-numeric values for {k.strip()!r}") from None
    return out


def _need(d: dict, key: str, n: int, path) -> np.ndarray:
    if key not in d:
        raise DataError(path, f"missing {key!r}")
    if d[key].size != n:
        raise DataError(path, f"{key!r} has {d[key].size} values, expected {n}")
    return d[key]


def calib_from_object(path: str | Path, camera: int = 2) -> VeloCalib:
    d = read_calib_txt(path)
    P = _need(d, f"P{camera}", 12, path).reshape(3, 4)
    R0 = np.eye(4)
    R0[:3, :3] = _need(d, "R0_rect", 9, path).reshape(3, 3)
    Tr = np.eye(4)
    Tr[:3] = _need(d, "Tr_velo_to_cam", 12, path).reshape(3, 4)
    return VeloCalib(R0 @ Tr, P)


def calib_from_raw(date_dir: str | Path, camera: int = 2) -> VeloCalib:
    date_dir = Path(date_dir)
    c2c = date_dir / "calib_cam_to_cam.txt"
    v2c = date_dir / "calib_velo_to_cam.txt"
    d = read_calib_txt(c2c)
    P = _need(d, f"P_rect_{camera:02d}", 12, c2c).reshape(3, 4)
    R0 = np.eye(4)
    R0[:3, :3] = _need(d, "R_rect_00", 9, c2c).reshape(3, 3)
    v = read_calib_txt(v2c)
    Tr = np.eye(4)
    Tr[:3, :3] = _need(v, "R", 9, v2c).reshape(3, 3)
    Tr[:3, 3] = _need(v, "T", 3, v2c)
    return VeloCalib(R0 @ Tr, P)


def calib_from_json(path: str | Path) -> VeloCalib:
    path = Path(path)
    try:
        d = json.loads(path.read_text())
        L2C = np.asarray(d["lidar2cam"], dtype=np.float64).reshape(4, 4)
        C2I = np.asarray(d["cam2img"], dtype=np.float64)
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except (json.JSONDecodeError, KeyError, ValueError) as e:
        raise DataError(path, f"bad calibration JSON ({type(e).__name__}: {e}); need lidar2cam, cam2img") from None
    return VeloCalib(L2C, C2I[:3, :4] if C2I.shape[1] >= 4 else np.c_[C2I[:3, :3], np.zeros(3)])


def read_calib(path: str | Path, camera: int = 2) -> VeloCalib:
    path = Path(path)
    if path.is_dir():
        return calib_from_raw(path, camera)
    if path.suffix.lower() == ".json":
        return calib_from_json(path)
    return calib_from_object(path, camera)


def read_velodyne(path: str | Path) -> np.ndarray:
    """A KITTI ``.bin`` scan: float32 (x, y, z, reflectance) rows."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    raw = np.fromfile(path, dtype=np.float32)
    if raw.size % 4:
        raise DataError(path, f"{raw.size} floats is not a whole number of (x, y, z, r) points")
    return raw.reshape(-1, 4)


def project_velodyne(points: np.ndarray, calib: VeloCalib, height: int, width: int) -> np.ndarray:
    """Sparse z-depth (metres, NaN where no point) of LiDAR ``points`` in the image."""
    X = np.c_[points[:, :3].astype(np.float64), np.ones(len(points))].T
    cam = calib.velo_to_rect @ X
    pix = calib.P @ cam
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.rint(pix[0] / pix[2])
        v = np.rint(pix[1] / pix[2])
    ok = (pix[2] > 0) & (cam[2] > 0) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    idx = v[ok].astype(np.int64) * width + u[ok].astype(np.int64)
    out = np.full(height * width, np.inf)
    np.minimum.at(out, idx, cam[2][ok])
    out[~np.isfinite(out)] = np.nan
    return out.reshape(height, width).astype(np.float32)


# ---------------------------------------------------------------------------------- split lists


_FRAME_PATH = re.compile(r"^(?P<folder>.+?)/image_0(?P<cam>[23])/data/(?P<frame>\d+)\.(png|jpg)$")


def read_split_file(path: str | Path) -> list[tuple[str, int, int]]:
    """(``<date>/<drive>``, frame, camera 2|3) per line of an Eigen-split file list."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    out = []
    for ln, line in enumerate(path.read_text().splitlines(), 1):
        t = line.split()
        if not t:
            continue
        m = _FRAME_PATH.match(t[0])
        if m:
            out.append((m.group("folder"), int(m.group("frame")), int(m.group("cam"))))
        elif len(t) >= 2 and t[1].isdigit():
            side = t[2] if len(t) > 2 else "l"
            if side not in ("l", "r"):
                raise DataError(path, f"line {ln}: side must be l or r, got {side!r}")
            out.append((t[0], int(t[1]), 2 if side == "l" else 3))
        else:
            raise DataError(path, f"line {ln}: not an Eigen split entry: {line.strip()!r}")
    return out


def _image_path(folder: Path, cam: int, frame: int) -> Path:
    p = folder / f"image_0{cam}" / "data" / f"{frame:010d}.png"
    return p if p.is_file() or not p.with_suffix(".jpg").is_file() else p.with_suffix(".jpg")


# ---------------------------------------------------------------------------------- loaders


class KITTIRaw(Source):
    """Images + Velodyne scans -> sparse depth.

    Layouts: the object benchmark folder (``image_2/``, ``velodyne/``, ``calib/``); a raw
    recordings root with ``files`` (an Eigen split list or a list of entries); a single raw
    drive folder (``<date>/<drive>``, calibration in its parent); or explicit ``items`` of
    (image, velodyne .bin, calibration file) triples.
    """

    name = "kitti_raw"

    def __init__(self, root: str | Path | None = None, files=None, camera: int = 2,
                 items: list[tuple[str, str, str]] | None = None, max_depth: float | None = None) -> None:
        self.camera = camera
        self.max_depth = max_depth
        self.items: list[tuple[Path, Path, Path, int]] = []  # image, scan, calibration, camera
        if items is not None:
            self.items = [(Path(a), Path(b), Path(c), camera) for a, b, c in items]
        elif root is None:
            raise ValueError("kitti_raw needs root or items")
        else:
            root = Path(root)
            if not root.is_dir():
                raise DataError(root, "KITTI folder not found")
            if (root / f"image_{camera}").is_dir() and (root / "velodyne").is_dir():
                for img in sorted((root / f"image_{camera}").glob("*.png")):
                    self.items.append((img, root / "velodyne" / f"{img.stem}.bin", root / "calib" / f"{img.stem}.txt", camera))
            elif files is not None:
                entries = read_split_file(files) if isinstance(files, (str, Path)) else list(files)
                for folder, frame, cam in entries:
                    d = root / folder
                    self.items.append((_image_path(d, cam, frame), d / "velodyne_points" / "data" / f"{frame:010d}.bin",
                                       d.parent, cam))
            elif (root / f"image_0{camera}" / "data").is_dir():
                for img in sorted((root / f"image_0{camera}" / "data").iterdir()):
                    self.items.append((img, root / "velodyne_points" / "data" / f"{img.stem}.bin", root.parent, camera))
            else:
                raise DataError(root, "not a KITTI object folder (image_2/, velodyne/, calib/) or raw drive; give files=")
        if not self.items:
            raise DataError(root or "items", "no KITTI frames found")
        self.ids = [
            f"{img.parents[2].name}_{img.stem}_{cam}" if img.parent.name == "data" else img.stem
            for img, _, _, cam in self.items
        ]
        self._calib: dict[str, VeloCalib] = {}

    def calib(self, path: Path, camera: int) -> VeloCalib:
        key = f"{path}#{camera}"
        if key not in self._calib:
            self._calib[key] = read_calib(path, camera)
        return self._calib[key]

    def load(self, i: int) -> dict:
        img, velo, cal, cam = self.items[i]
        rgb = read_rgb(img)
        c = self.calib(cal, cam)
        h, w = rgb.shape[:2]
        depth = project_velodyne(read_velodyne(velo), c, h, w)
        if self.max_depth is not None:
            depth[depth > self.max_depth] = np.nan
        return make_sample(rgb, depth, c.intrinsics(w, h), self.ids[i])


class KITTIDepth(Source):
    """Depth-completion annotated depth (value / 256).

    - ``root`` = the depth-completion root (``train/``, ``val/`` with
      ``<drive>/proj_depth/<kind>/image_0X/<frame>.png``) and ``raw_root`` = KITTI raw
      recordings (``<date>/<drive>/image_0X/data/<frame>.png``, calibration for K);
      ``split`` = "train" | "val"; ``files`` = an Eigen split list to keep only those frames;
      ``kind`` = "groundtruth" (annotated) or "velodyne_raw".
    - ``selection`` = a ``depth_selection/val_selection_cropped`` folder (``image/``,
      ``groundtruth_depth/``, ``intrinsics/``).
    """

    name = "kitti_depth"

    def __init__(self, root: str | Path | None = None, raw_root: str | Path | None = None, split: str = "val",
                 files=None, camera: int = 2, kind: str = "groundtruth", selection: str | Path | None = None) -> None:
        self.items: list[tuple[Path, Path, Path | None]] = []  # rgb, depth png, K source
        if selection is not None:
            sel = Path(selection)
            if not (sel / "image").is_dir() or not (sel / "groundtruth_depth").is_dir():
                raise DataError(sel, "not a val_selection_cropped folder (needs image/ and groundtruth_depth/)")
            for img in sorted((sel / "image").glob("*.png")):
                gt = sel / "groundtruth_depth" / img.name.replace("_image_", "_groundtruth_depth_", 1)
                self.items.append((img, gt, sel / "intrinsics" / f"{img.stem}.txt"))
        else:
            if root is None or raw_root is None:
                raise ValueError("kitti_depth needs root and raw_root (or selection=)")
            root, raw_root = Path(root), Path(raw_root)
            if not (root / split).is_dir():
                raise DataError(root / split, "depth-completion split folder not found")
            wanted = None
            if files is not None:
                entries = read_split_file(files) if isinstance(files, (str, Path)) else list(files)
                wanted = {(Path(f).name, fr, cam) for f, fr, cam in entries}
            for png in sorted((root / split).glob(f"*/proj_depth/{kind}/image_0{camera}/*.png")):
                drive = png.parents[3].name
                frame = int(png.stem)
                if wanted is not None and (drive, frame, camera) not in wanted:
                    continue
                date = drive[:10]
                rgb = _image_path(raw_root / date / drive, camera, frame)
                self.items.append((rgb, png, raw_root / date))
        if not self.items:
            raise DataError(selection or root, "no annotated depth maps found")
        self.ids = [d.stem if selection is not None else f"{d.parents[3].name}_{d.stem}" for _, d, _ in self.items]
        self.camera = camera
        self._K: dict[str, tuple[float, float, float, float] | None] = {}

    def _k(self, src: Path | None, w: int, h: int) -> Intrinsics | None:
        if src is None:
            return None
        key = str(src)
        if key not in self._K:
            if src.suffix == ".txt" and src.is_file():
                v = np.array(src.read_text().split(), dtype=np.float64)
                if v.size != 9:
                    raise DataError(src, f"expected 9 numbers (3x3 K), got {v.size}")
                self._K[key] = (float(v[0]), float(v[4]), float(v[2]), float(v[5]))
            elif src.is_dir() and (src / "calib_cam_to_cam.txt").is_file():
                P = _need(read_calib_txt(src / "calib_cam_to_cam.txt"), f"P_rect_{self.camera:02d}", 12,
                          src / "calib_cam_to_cam.txt").reshape(3, 4)
                self._K[key] = (float(P[0, 0]), float(P[1, 1]), float(P[0, 2]), float(P[1, 2]))
            else:
                self._K[key] = None
        k = self._K[key]
        return None if k is None else Intrinsics(*k, w, h)

    def load(self, i: int) -> dict:
        rp, dp, ks = self.items[i]
        rgb = read_rgb(rp)
        depth = read_depth_png(dp, KITTI_SCALE)
        if depth.shape != rgb.shape[:2]:
            raise DataError(dp, f"depth {depth.shape} does not match image {rgb.shape[:2]} of {rp.name}")
        return make_sample(rgb, depth, self._k(ks, rgb.shape[1], rgb.shape[0]), self.ids[i])
