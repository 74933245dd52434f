"""Decoding of the real depth encodings, one documented conversion per format.

Every reader returns depth in metres (float32) with invalid pixels as NaN, never 0 m
(docs/DEVELOPING.md). Formats (see ../shared/data/README.md for the real files):

- 16-bit PNG with a scale (TUM: value / 5000, 7-Scenes and NYU DenseDepth test: value / 1000,
  KITTI: value / 256); 0 = invalid.
- SUN RGB-D: the 16-bit value is bit-rotated, metres = (((v >> 3) | (v << 13)) & 0xFFFF) / 1000.
- NYU raw Kinect disparity PGM (little-endian uint16 despite the big-endian PGM convention):
  metres = 351.3 / (1092.5 - raw), raw >= 2047 invalid (the NYU toolbox ``depth_rel2depth_abs``).
- PFM (Middlebury 2014 ground truth): float32 disparity, bottom-to-top rows, inf = unknown.

OpenCV decodes PNG/JPEG here (``cv2.imread`` with ``IMREAD_UNCHANGED`` keeps 16-bit PNGs) since
it is the fastest decoder installed; bad files raise :class:`DataError` naming the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from rgb2depth.fileio import atomic_path, imwrite

from .base import DataError

__all__ = ["DataError"]  # re-exported: historically defined here

#: NYU Depth v2 raw Kinect constants (toolbox depth_rel2depth_abs.m; data README).
NYU_RAW_A = 351.3
NYU_RAW_B = 1092.5
NYU_RAW_INVALID = 2047


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise DataError(path, "file not found")


_REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def read_mat(path: str | Path, missing: str = "file not found") -> dict:
    """Variables of a MATLAB v5 ``.mat`` file (scipy), with one-line errors naming the file."""
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise DataError(path, missing)
    try:
        return scipy.io.loadmat(path)
    except Exception as e:  # scipy raises several types for bad files
        raise DataError(path, f"cannot read MATLAB file: {e}") from None


def read_rgb(path: str | Path, reduce: int = 1) -> np.ndarray:
    """An 8-bit colour image as HxWx3 uint8 RGB (grayscale files are replicated to 3 channels).

    ``reduce`` (2, 4 or 8) returns the image at 1/reduce size: JPEGs are decoded directly at that
    size (libjpeg DCT scaling, several times faster than decoding and resizing), other formats
    are decoded and area-averaged.
    """
    path = Path(path)
    _check_exists(path)
    if reduce not in (1, 2, 4, 8):
        raise ValueError(f"reduce must be 1, 2, 4 or 8, got {reduce}")
    if reduce > 1:
        if path.suffix.lower() in (".jpg", ".jpeg"):
            img = cv2.imread(str(path), _REDUCED[reduce])
            if img is None:
                raise DataError(path, "cannot decode image (corrupt or unsupported format)")
            return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        full = read_rgb(path)
        h, w = full.shape[:2]
        return cv2.resize(full, ((w + reduce - 1) // reduce, (h + reduce - 1) // reduce), interpolation=cv2.INTER_AREA)
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DataError(path, "cannot decode image (corrupt or unsupported format)")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise DataError(path, f"unsupported image dtype {img.dtype}")
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)  # ~20x faster than a reversed-axis copy


def read_raw(path: str | Path, dtype: np.dtype | type | None = np.uint16) -> np.ndarray:
    """A single-channel image decoded unchanged (16-bit PNG stays uint16)."""
    path = Path(path)
    _check_exists(path)
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DataError(path, "cannot decode image (corrupt or unsupported format)")
    if img.ndim == 3:
        if img.shape[2] >= 3 and np.array_equal(img[:, :, 0], img[:, :, 1]):
            img = img[:, :, 0]
        else:
            raise DataError(path, f"expected a single-channel depth image, got {img.shape[2]} channels")
    if dtype is not None and img.dtype != np.dtype(dtype):
        raise DataError(path, f"expected {np.dtype(dtype).name} pixels, got {img.dtype.name}")
    return img


def reduce_depth(depth: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour (never blended) depth at ``shape`` = (h, w), a 1/r-size image: takes the
    sample nearest each output pixel centre (pixel-centre convention, as Intrinsics.scaled)."""
    H, W = depth.shape
    h, w = shape
    if (H, W) == (h, w):
        return depth
    return cv2.resize(depth, (w, h), interpolation=cv2.INTER_NEAREST_EXACT)


def scaled_to_metres(raw: np.ndarray, scale: float) -> np.ndarray:
    """``raw / scale`` in metres, 0 -> NaN (invalid)."""
    depth = raw.astype(np.float32) / np.float32(scale)
    depth[raw == 0] = np.nan
    return depth


def read_depth_png(path: str | Path, scale: float) -> np.ndarray:
    """A 16-bit depth PNG with ``metres = value / scale``; 0 is invalid."""
    return scaled_to_metres(read_raw(path, np.uint16), scale)


def metres_to_uint16(depth: np.ndarray, scale: float, path: str | Path = "<array>") -> np.ndarray:
    """Inverse of :func:`scaled_to_metres`: NaN/<=0 -> 0; values that do not fit raise."""
    d = np.asarray(depth, dtype=np.float64)
    ok = np.isfinite(d) & (d > 0)
    v = np.zeros(d.shape, dtype=np.uint16)
    q = np.rint(d[ok] * scale)
    if q.size and q.max() > 65535:
        raise DataError(
            path, f"depth {d[ok].max():.3f} m does not fit uint16 at scale {scale} (max {65535 / scale:.3f} m)"
        )
    q[q < 1] = 1  # a valid depth never becomes the invalid code 0
    v[ok] = q.astype(np.uint16)
    return v


def write_depth_png(path: str | Path, depth: np.ndarray, scale: float = 1000.0) -> None:
    """Metres -> uint16 PNG (value = metres * ``scale``, 0 = invalid), written atomically
    (:func:`rgb2depth.fileio.imwrite`; a failure raises its one-line ``OutputError``)."""
    path = Path(path)
    imwrite(path, metres_to_uint16(depth, scale, path))


def write_rgb(path: str | Path, rgb: np.ndarray, quality: int = 95) -> None:
    """An RGB uint8 image as PNG or JPEG (by suffix), written atomically."""
    path = Path(path)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    imwrite(path, cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR), params)


# --- SUN RGB-D -------------------------------------------------------------------------------


def sun_rgbd_to_metres(raw: np.ndarray) -> np.ndarray:
    """SUN RGB-D depth PNG value -> metres: rotate the 16 bits right by 3, then / 1000."""
    v = raw.astype(np.uint32)
    mm = ((v >> 3) | (v << 13)) & 0xFFFF
    depth = mm.astype(np.float32) / np.float32(1000.0)
    depth[mm == 0] = np.nan
    return depth


# --- NYU raw Kinect --------------------------------------------------------------------------


def read_pgm_le16(path: str | Path) -> np.ndarray:
    """NYU raw depth PGM: a P5 header with maxval > 255 but LITTLE-endian uint16 samples.

    Hand-written because every image library follows the PGM spec (big-endian) and would
    byte-swap these files.
    """
    path = Path(path)
    _check_exists(path)
    data = path.read_bytes()
    m = re.match(rb"P5\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s", data)
    if m is None:
        raise DataError(path, "not a binary PGM (P5) file")
    w, h, maxval = (int(g) for g in m.groups())
    n = w * h * (2 if maxval > 255 else 1)
    body = data[m.end() : m.end() + n]
    if len(body) != n:
        raise DataError(path, f"truncated PGM: {len(body)} of {n} pixel bytes")
    if maxval <= 255:
        return np.frombuffer(body, np.uint8).reshape(h, w).astype(np.uint16)
    return np.frombuffer(body, "<u2").reshape(h, w).copy()


def nyu_raw_to_metres(raw: np.ndarray) -> np.ndarray:
    """Kinect disparity -> metres: 351.3 / (1092.5 - raw); raw >= 2047 (or non-positive) invalid."""
    r = raw.astype(np.float64)
    bad = (raw >= NYU_RAW_INVALID) | (r >= NYU_RAW_B)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = NYU_RAW_A / (NYU_RAW_B - r)
    depth[bad | ~np.isfinite(depth) | (depth <= 0)] = np.nan
    return depth.astype(np.float32)


def mask_min_max(depth: np.ndarray) -> np.ndarray:
    """Paper 004's raw-frame preprocessing: pixels equal to the image's min or max depth are
    treated as invalid (they are the Kinect's saturated/clipped readings). Returns a copy."""
    d = depth.copy()
    ok = np.isfinite(d)
    if ok.any():
        lo, hi = d[ok].min(), d[ok].max()
        d[ok & ((d == lo) | (d == hi))] = np.nan
    return d


# --- PFM ---------------------------------------------------------------------------------------


def read_pfm(path: str | Path) -> np.ndarray:
    """A PFM image (Middlebury): float32, rows stored bottom-to-top; returns top-to-bottom.

    Hand-written: OpenCV reads PFM too, but does not report the scale/endianness line and
    silently returns None on malformed headers; this names the problem.
    """
    path = Path(path)
    _check_exists(path)
    with open(path, "rb") as f:
        kind = f.readline().strip()
        if kind not in (b"Pf", b"PF"):
            raise DataError(path, f"not a PFM file (header {kind[:10]!r})")
        dims = f.readline().split()
        while dims and dims[0].startswith(b"#"):
            dims = f.readline().split()
        try:
            w, h = int(dims[0]), int(dims[1])
            scale = float(f.readline().strip())
        except (ValueError, IndexError):
            raise DataError(path, "malformed PFM header") from None
        ch = 3 if kind == b"PF" else 1
        dt = "<f4" if scale < 0 else ">f4"
        body = f.read()
    n = w * h * ch
    if len(body) < 4 * n:
        raise DataError(path, f"truncated PFM: {len(body) // 4} of {n} floats")
    a = np.frombuffer(body[: 4 * n], dt).reshape(h, w, ch) if ch == 3 else np.frombuffer(body[: 4 * n], dt).reshape(h, w)
    return np.ascontiguousarray(np.flipud(a)).astype(np.float32)


def write_pfm(path: str | Path, image: np.ndarray) -> None:
    """Write a single-channel float32 PFM (little-endian, bottom-to-top rows)."""
    a = np.asarray(image, dtype="<f4")
    if a.ndim != 2:
        raise ValueError("write_pfm writes single-channel images")
    h, w = a.shape
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(b"Pf\n%d %d\n-1.0\n" % (w, h))
        f.write(np.ascontiguousarray(np.flipud(a)).tobytes())
