"""NYU Depth v2 in its public formats (Silberman et al. 2012), all returned in metres.

- ``nyu_labeled``: ``nyu_depth_v2_labeled.mat`` is a MATLAB v7.3 file, i.e. HDF5 (read with
  h5py). MATLAB stores arrays column-major, so h5py sees them transposed: ``images`` is
  (N, 3, W, H) uint8 and ``depths``/``rawDepths`` (N, W, H) float32 metres; sample i is
  ``images[i].transpose(2, 1, 0)`` and ``depths[i].T``. The official split is ``splits.mat``
  (MATLAB v5, scipy): ``trainNdxs`` (795) and ``testNdxs`` (654), 1-based.
- ``nyu_csv``: the DenseDepth layout, ``nyu2_train.csv`` / ``nyu2_test.csv`` with
  ``rgb_path,depth_path`` rows. Training depth PNGs are 8-bit, metres = value / 255 * 10
  (0..10 m quantised to 256 levels); test depth PNGs are 16-bit millimetres. The format is
  detected per file from the PNG bit depth (``train_max_depth`` sets the 8-bit range).
- ``nyu_h5``: the sparse-to-dense (Ma & Karaman) folders of ``.h5`` files, each with
  ``rgb`` (3, H, W) uint8 and ``depth`` (H, W) float32 metres.
- ``nyu_raw``: raw Kinect frames ``r-<time>-<n>.ppm`` (RGB) and ``d-<time>-<n>.pgm``
  (disparity, little-endian uint16 despite the PGM header). metres = 351.3 / (1092.5 - raw),
  raw >= 2047 invalid (NYU toolbox ``depth_rel2depth_abs``). Paper 004, Sec. 4: each depth
  frame is paired with the closest RGB frame in time, RGB frames claimed by more than one depth
  frame are dropped, depth is projected into the RGB camera with the toolbox calibration
  (``register=True``), and ``mask_min_max=True`` masks depths equal to the per-image minimum or
  maximum (windows, open doors, specular surfaces).

Intrinsics: the NYU toolbox RGB camera (fx 518.858, fy 519.470, cx 325.582, cy 253.736 at
640x480), used for every format here whose images are full 640x480 RGB frames.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from rgb2depth.geometry.camera import Intrinsics

from .base import Source, make_sample
from .depth_io import (
    DataError,
    mask_min_max,
    nyu_raw_to_metres,
    read_mat,
    read_pgm_le16,
    read_raw,
    read_rgb,
    scaled_to_metres,
)

# NYU toolbox camera_params.m (RGB and depth cameras of the Kinect used for NYU Depth v2).
NYU_RGB = (5.1885790117450188e02, 5.1946961112127485e02, 3.2558244941119034e02, 2.5373616633400465e02)
NYU_DEPTH = (5.8262448167737955e02, 5.8269103270988637e02, 3.1304475870804731e02, 2.3844389626620386e02)
# depth -> rgb camera rotation rows and translation (metres), toolbox camera_params.m.
NYU_R_ROWS = np.array(
    [
        [9.9997798940829263e-01, 5.0518419386157446e-03, 4.3011152014118693e-03],
        [-5.0359919480810989e-03, 9.9998051861143999e-01, -3.6879781309514218e-03],
        [-4.3196624923060242e-03, 3.6662365748484798e-03, 9.9998394948385538e-01],
    ]
)
NYU_T = np.array([2.5031875059141302e-02, 6.6238747008330102e-04, -2.9342312935846411e-04])  # t_x, t_y, t_z


def nyu_intrinsics(width: int = 640, height: int = 480) -> Intrinsics:
    K = Intrinsics(*NYU_RGB, 640, 480)
    return K if (width, height) == (640, 480) else K.scaled(width, height)


# ---------------------------------------------------------------------------------- labeled


class NYULabeled(Source):
    """The 1449 labeled frames; ``split`` = "train" (795), "test" (654) or "all"."""

    name = "nyu_labeled"

    def __init__(self, path: str | Path, split: str = "train", splits: str | Path | None = None,
                 depth: str = "filled") -> None:
        import h5py

        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(self.path, "file not found")
        if depth not in ("filled", "raw"):
            raise ValueError(f"depth must be 'filled' or 'raw', got {depth!r}")
        try:
            with h5py.File(self.path, "r") as f:
                for key in ("images", "depths"):
                    if key not in f:
                        raise DataError(self.path, f"no {key!r} dataset (not the NYU labeled .mat)")
                n = f["images"].shape[0]
                if f["images"].ndim != 4 or f["images"].shape[1] != 3:
                    raise DataError(self.path, f"'images' has shape {f['images'].shape}, expected (N, 3, W, H)")
        except OSError as e:
            raise DataError(self.path, f"not an HDF5 (MATLAB v7.3) file: {e}") from None
        self.key = "depths" if depth == "filled" else "rawDepths"
        if split == "all":
            idx = list(range(n))
        elif split in ("train", "test"):
            sp = Path(splits) if splits is not None else self.path.parent / "splits.mat"
            idx = [i - 1 for i in read_nyu_splits(sp)[split]]
            if idx and max(idx) >= n:
                raise DataError(sp, f"split index {max(idx) + 1} beyond the {n} images of {self.path.name}")
        else:
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
        self.indices = idx
        self.ids = [f"nyu_labeled_{i + 1:04d}" for i in idx]
        self._f = None
        self._pid = -1

    def _file(self):
        # opened lazily and once per process: an HDF5 handle must not be shared across fork()
        # (DataLoader workers), so a child re-opens the file
        import os

        if self._f is None or self._pid != os.getpid():
            import h5py

            self._f = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._f

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_f"] = None
        return d

    def load(self, i: int) -> dict:
        f = self._file()
        j = self.indices[i]
        rgb = np.ascontiguousarray(f["images"][j].transpose(2, 1, 0))
        depth = np.ascontiguousarray(f[self.key][j].T).astype(np.float32)
        return make_sample(rgb, depth, nyu_intrinsics(rgb.shape[1], rgb.shape[0]), self.ids[i])


def read_nyu_splits(path: str | Path) -> dict[str, list[int]]:
    """``splits.mat`` -> {"train": [...795], "test": [...654]} (1-based, as stored)."""
    path = Path(path)
    m = read_mat(path, "file not found (the official NYU split file)")
    try:
        return {"train": m["trainNdxs"].ravel().astype(int).tolist(), "test": m["testNdxs"].ravel().astype(int).tolist()}
    except KeyError as e:
        raise DataError(path, f"no {e.args[0]} variable") from None


# ---------------------------------------------------------------------------------- CSV


class NYUCsv(Source):
    """DenseDepth CSV layout. Paths in the CSV are resolved against ``root`` (default: the CSV's
    folder, then its parent - the zip root the DenseDepth CSVs are written for)."""

    name = "nyu_csv"

    def __init__(self, csv_path: str | Path, root: str | Path | None = None, train_max_depth: float = 10.0) -> None:
        self.csv = Path(csv_path)
        if not self.csv.is_file():
            raise DataError(self.csv, "file not found")
        rows = []
        with open(self.csv, newline="") as fh:
            for ln, row in enumerate(csv.reader(fh), 1):
                if not row or not row[0].strip():
                    continue
                if len(row) < 2:
                    raise DataError(self.csv, f"line {ln}: expected 'rgb_path,depth_path'")
                if ln == 1 and not Path(row[0]).suffix:
                    continue  # header
                if row[0].strip().lower() in ("image_path", "rgb", "image"):
                    continue
                rows.append((row[0].strip(), row[1].strip()))
        if not rows:
            raise DataError(self.csv, "no rows")
        bases = [Path(root)] if root is not None else [self.csv.parent, self.csv.parent.parent]
        base = next((b for b in bases if (b / rows[0][0]).is_file()), bases[0])
        self.items = [(base / r, base / d) for r, d in rows]
        self.ids = [str(Path(r).with_suffix("")).replace("/", "_").replace("\\", "_") for r, _ in rows]
        self.train_max_depth = float(train_max_depth)

    def load(self, i: int) -> dict:
        rp, dp = self.items[i]
        rgb = read_rgb(rp)
        raw = read_raw(dp, dtype=None)
        if raw.dtype == np.uint16:
            depth = scaled_to_metres(raw, 1000.0)  # test split: millimetres
        elif raw.dtype == np.uint8:
            depth = scaled_to_metres(raw, 255.0 / self.train_max_depth)  # train split: v/255*10 m
        else:
            raise DataError(dp, f"unsupported depth PNG dtype {raw.dtype}")
        if depth.shape != rgb.shape[:2]:
            raise DataError(dp, f"depth {depth.shape} does not match rgb {rgb.shape[:2]}")
        return make_sample(rgb, depth, nyu_intrinsics(rgb.shape[1], rgb.shape[0]), self.ids[i])


# ---------------------------------------------------------------------------------- h5


class NYUH5(Source):
    """Every ``*.h5`` under ``root`` (recursively, sorted), sparse-to-dense format."""

    name = "nyu_h5"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if self.root.is_file():
            self.files = [self.root]
            self.root = self.root.parent
        elif self.root.is_dir():
            self.files = sorted(self.root.rglob("*.h5"))
        else:
            raise DataError(self.root, "not found")
        if not self.files:
            raise DataError(self.root, "no .h5 files")
        self.ids = [str(p.relative_to(self.root).with_suffix("")).replace("/", "_") for p in self.files]

    def load(self, i: int) -> dict:
        import h5py

        p = self.files[i]
        try:
            with h5py.File(p, "r") as f:
                if "rgb" not in f or "depth" not in f:
                    raise DataError(p, "missing 'rgb' or 'depth' dataset")
                rgb = np.asarray(f["rgb"])
                depth = np.asarray(f["depth"], dtype=np.float32)
        except OSError as e:
            raise DataError(p, f"not an HDF5 file: {e}") from None
        if rgb.ndim != 3 or rgb.shape[0] != 3:
            raise DataError(p, f"'rgb' has shape {rgb.shape}, expected (3, H, W)")
        rgb = np.ascontiguousarray(rgb.transpose(1, 2, 0)).astype(np.uint8)
        return make_sample(rgb, depth, nyu_intrinsics(rgb.shape[1], rgb.shape[0]), self.ids[i])


# ---------------------------------------------------------------------------------- raw


def register_depth(depth_d: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Project a depth-camera z-map (metres) into the RGB camera (NYU toolbox calibration):
    back-project with the depth intrinsics, X_rgb = R X_d + t, project with the RGB
    intrinsics, keep the nearest point per pixel (z-buffer). Lens distortion is ignored."""
    h, w = depth_d.shape if shape is None else shape
    v, u = np.nonzero(np.isfinite(depth_d) & (depth_d > 0))
    z = depth_d[v, u].astype(np.float64)
    fx, fy, cx, cy = NYU_DEPTH
    P = np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z])
    # toolbox: R = inv(R'), depth_world2rgb_world subtracts the baseline (rgb is to the left).
    Q = np.linalg.inv(NYU_R_ROWS) @ P - NYU_T[:, None]
    fx, fy, cx, cy = NYU_RGB
    ur = np.rint(Q[0] * fx / Q[2] + cx).astype(np.int64)
    vr = np.rint(Q[1] * fy / Q[2] + cy).astype(np.int64)
    ok = (Q[2] > 0) & (ur >= 0) & (ur < w) & (vr >= 0) & (vr < h)
    ur, vr, zr = ur[ok], vr[ok], Q[2][ok]
    out = np.full(h * w, np.inf)
    np.minimum.at(out, vr * w + ur, zr)
    out[~np.isfinite(out)] = np.nan
    return out.reshape(h, w).astype(np.float32)


_RAW_NAME = re.compile(r"^([rd])-(\d+(?:\.\d+)?)-(\d+)\.(ppm|pgm)$")


def associate_raw(rgb_times: list[float], depth_times: list[float]) -> list[tuple[int, int]]:
    """Paper 004: each depth frame takes the RGB frame closest in time; RGB frames taken by more
    than one depth frame are dropped (with all their depth frames)."""
    rt = np.asarray(rgb_times)
    if rt.size == 0:
        return []
    pick = [int(np.argmin(np.abs(rt - t))) for t in depth_times]
    counts = np.bincount(pick, minlength=len(rt))
    return [(r, d) for d, r in enumerate(pick) if counts[r] == 1]


class NYURaw(Source):
    """Raw NYU frames: a scene folder (``root``) or explicit ``pairs`` of (rgb.ppm, depth.pgm).

    ``register`` (default True) projects the depth into the RGB camera so that depth and RGB
    pixels correspond; with ``register=False`` the depth stays in the depth camera's frame and
    K is the depth camera's. ``mask_min_max`` applies paper 004's masking.
    """

    name = "nyu_raw"

    def __init__(self, root: str | Path | None = None, pairs: list[tuple[str, str]] | None = None,
                 register: bool = True, mask_min_max: bool = False) -> None:
        if (root is None) == (pairs is None):
            raise ValueError("give either root (a raw scene folder) or pairs")
        if pairs is not None:
            self.items = [(Path(r), Path(d)) for r, d in pairs]
        else:
            self.root = Path(root)
            if not self.root.is_dir():
                raise DataError(self.root, "raw scene folder not found")
            rgbs, deps = [], []
            for p in sorted(self.root.iterdir()):
                m = _RAW_NAME.match(p.name)
                if m:
                    (rgbs if m.group(1) == "r" else deps).append((float(m.group(2)), p))
            if not deps:
                raise DataError(self.root, "no d-*.pgm raw depth frames")
            pr = associate_raw([t for t, _ in rgbs], [t for t, _ in deps])
            self.items = [(rgbs[r][1], deps[d][1]) for r, d in pr]
        self.ids = [d.stem for _, d in self.items]
        self.register = register
        self.mask = mask_min_max

    def load(self, i: int) -> dict:
        rp, dp = self.items[i]
        rgb = read_rgb(rp)
        raw = read_pgm_le16(dp)
        depth = nyu_raw_to_metres(raw)
        if self.mask:
            depth = mask_min_max(depth)
        if self.register:
            depth = register_depth(depth, rgb.shape[:2])
            K = nyu_intrinsics(rgb.shape[1], rgb.shape[0])
        else:
            K = Intrinsics(*NYU_DEPTH, raw.shape[1], raw.shape[0])
        if depth.shape != rgb.shape[:2]:
            raise DataError(dp, f"depth {depth.shape} does not match rgb {rgb.shape[:2]}")
        return make_sample(rgb, depth, K, self.ids[i], raw_disparity=raw)
