"""The generic folder layout of docs/DEVELOPING.md (written by ``rgb2depth synth`` and by the
stereo target writer, read here)::

    DIR/rgb/<stem>.png|jpg        DIR/depth/<stem>.png   uint16, metres = value / depth_scale
    DIR/intrinsics.json           {"fx","fy","cx","cy","width","height"} (optional; one camera)
    DIR/intrinsics.txt            "stem fx fy cx cy width height" per image (optional; a folder
                                  whose images come from different cameras; wins over the JSON)
    DIR/poses.txt                 "stem tx ty tz qx qy qz qw" camera-to-world (optional)
    DIR/meta.json                 {"depth_scale": 256} (optional; default 1000 = millimetres)

``reduce`` = 2/4/8 decodes at 1/reduce size (JPEG DCT scaling; depth nearest; K scaled).

0 in a depth PNG is invalid. Samples are the stems present in both rgb/ and depth/, sorted.
``depth_scale`` given to the loader overrides meta.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rgb2depth.fileio import write_text
from rgb2depth.geometry.camera import Intrinsics

from .base import Source, make_sample
from .depth_io import DataError, read_depth_png, read_rgb, reduce_depth, write_depth_png, write_rgb
from .poses import pose_matrix, read_trajectory

RGB_EXTS = (".png", ".jpg", ".jpeg")
DEFAULT_DEPTH_SCALE = 1000.0


def read_intrinsics_json(path: str | Path) -> Intrinsics:
    path = Path(path)
    try:
        d = json.loads(path.read_text())
        return Intrinsics(float(d["fx"]), float(d["fy"]), float(d["cx"]), float(d["cy"]), int(d["width"]), int(d["height"]))
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise DataError(path, f"bad intrinsics JSON ({type(e).__name__}: {e}); need fx, fy, cx, cy, width, height") from None


def read_intrinsics_txt(path: str | Path) -> dict[str, Intrinsics]:
    """Per-image cameras: lines ``stem fx fy cx cy width height`` (``#`` starts a comment)."""
    path = Path(path)
    out: dict[str, Intrinsics] = {}
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    for n, line in enumerate(lines, 1):
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        try:
            if len(parts) != 7:
                raise ValueError(f"{len(parts)} fields")
            fx, fy, cx, cy = (float(v) for v in parts[1:5])
            out[parts[0]] = Intrinsics(fx, fy, cx, cy, int(parts[5]), int(parts[6]))
        except ValueError as e:
            raise DataError(path, f"line {n}: need 'stem fx fy cx cy width height' ({e})") from None
    return out


def intrinsics_line(stem: str, K: Intrinsics) -> str:
    """One line of ``intrinsics.txt``."""
    return f"{stem} {K.fx:.9g} {K.fy:.9g} {K.cx:.9g} {K.cy:.9g} {K.width} {K.height}"


def write_intrinsics_txt(root: str | Path, lines: list[str]) -> None:
    """``root/intrinsics.txt`` (atomically) from :func:`intrinsics_line` lines."""
    write_text(Path(root) / "intrinsics.txt",
               "# stem fx fy cx cy width height (pixels of the image as stored)\n" + "\n".join(lines) + "\n")


class FolderDataset(Source):
    name = "folder"

    def __init__(self, root: str | Path, depth_scale: float | None = None, K: Intrinsics | None = None,
                 reduce: int = 1) -> None:
        self.root = Path(root)
        self.reduce = int(reduce)
        if not (self.root / "rgb").is_dir() or not (self.root / "depth").is_dir():
            raise DataError(self.root, "not a folder dataset (needs rgb/ and depth/ subfolders)")
        rgbs = {p.stem: p for p in sorted((self.root / "rgb").iterdir()) if p.suffix.lower() in RGB_EXTS}
        deps = {p.stem: p for p in sorted((self.root / "depth").iterdir()) if p.suffix.lower() == ".png"}
        self.ids = sorted(set(rgbs) & set(deps))
        if not self.ids:
            raise DataError(self.root, "no rgb/depth pairs with matching stems")
        self.rgb_paths, self.depth_paths = rgbs, deps
        meta = self.root / "meta.json"
        scale = DEFAULT_DEPTH_SCALE
        if meta.is_file():
            try:
                scale = float(json.loads(meta.read_text()).get("depth_scale", scale))
            except (json.JSONDecodeError, TypeError, ValueError) as e:
                raise DataError(meta, f"bad meta JSON: {e}") from None
        self.depth_scale = float(depth_scale) if depth_scale is not None else scale
        ij = self.root / "intrinsics.json"
        self.K = K if K is not None else (read_intrinsics_json(ij) if ij.is_file() else None)
        it = self.root / "intrinsics.txt"
        self.per_image_K = read_intrinsics_txt(it) if K is None and it.is_file() else {}
        self.poses: dict[str, np.ndarray] = {}
        pp = self.root / "poses.txt"
        if pp.is_file():
            keys, rows = read_trajectory(pp, keyed=True)
            self.poses = {k: pose_matrix(r[:3], r[3:7]) for k, r in zip(keys, rows, strict=True)}

    def load(self, i: int) -> dict:
        stem = self.ids[i]
        rgb = read_rgb(self.rgb_paths[stem], self.reduce)
        depth = read_depth_png(self.depth_paths[stem], self.depth_scale)
        if self.reduce > 1:
            H, W = depth.shape
            if (H + self.reduce - 1) // self.reduce != rgb.shape[0] or (W + self.reduce - 1) // self.reduce != rgb.shape[1]:
                raise DataError(self.depth_paths[stem], f"depth {depth.shape} does not match rgb (reduced x{self.reduce}) {rgb.shape[:2]}")
            depth = reduce_depth(depth, rgb.shape[:2])
        if rgb.shape[:2] != depth.shape:
            raise DataError(self.depth_paths[stem], f"depth {depth.shape} does not match rgb {rgb.shape[:2]}")
        K = self.per_image_K.get(stem, self.K)
        if K is not None and (K.width, K.height) != (rgb.shape[1], rgb.shape[0]):
            K = K.scaled(rgb.shape[1], rgb.shape[0])
        return make_sample(rgb, depth, K, stem, pose=self.poses.get(stem))


class FolderWriter:
    """Writes samples in the folder layout (used by the stereo targets and tests)."""

    def __init__(self, root: str | Path, depth_scale: float = DEFAULT_DEPTH_SCALE, rgb_ext: str = ".png") -> None:
        self.root = Path(root)
        (self.root / "rgb").mkdir(parents=True, exist_ok=True)
        (self.root / "depth").mkdir(parents=True, exist_ok=True)
        self.depth_scale = float(depth_scale)
        self.rgb_ext = rgb_ext
        self._poses: list[str] = []
        self._K: Intrinsics | None = None
        self._Ks: list[str] = []  # per-image lines, written once a second camera shows up
        if self.depth_scale != DEFAULT_DEPTH_SCALE:
            write_text(self.root / "meta.json", json.dumps({"depth_scale": self.depth_scale}) + "\n")

    def write(self, stem: str, rgb: np.ndarray, depth: np.ndarray, K: Intrinsics | None = None, pose: np.ndarray | None = None) -> None:
        write_rgb(self.root / "rgb" / f"{stem}{self.rgb_ext}", rgb)
        write_depth_png(self.root / "depth" / f"{stem}.png", depth, self.depth_scale)
        if K is not None:
            self._Ks.append(intrinsics_line(stem, K))
            if self._K is None:
                self._K = K
                write_text(self.root / "intrinsics.json", json.dumps(K.to_dict(), indent=1) + "\n")
            if K != self._K or (self.root / "intrinsics.txt").is_file():
                # cameras differ: every image's own camera (intrinsics.json stays the first's)
                write_intrinsics_txt(self.root, self._Ks)
        if pose is not None:
            from scipy.spatial.transform import Rotation

            q = Rotation.from_matrix(pose[:3, :3]).as_quat()
            t = pose[:3, 3]
            self._poses.append(f"{stem} " + " ".join(f"{v:.9g}" for v in (*t, *q)))
            write_text(self.root / "poses.txt", "\n".join(self._poses) + "\n")
