"""Robust image decoding for inference: any common image a user has -> HxWx3 uint8 RGB.

Everything a user may hand to ``predict`` goes through :func:`read_image` (files) or
:func:`to_rgb_array` (PIL images, numpy arrays), so every input is checked the same way:

- **Orientation**: the EXIF orientation tag is applied (``PIL.ImageOps.exif_transpose``), so
  the returned pixels -- and the depth predicted from them -- are oriented like the image a
  viewer displays. PIL images handed in directly get the same treatment.
- **Modes**: grayscale (``1``, ``L``, ``I;16``, ``I``, ``F``) is replicated to three channels;
  16-bit grayscale is scaled by 255/65535 (16-bit RGB PNGs are reduced to their high byte by
  Pillow itself); palette images are expanded through their palette; ``RGBA``/``LA``/``PA``
  drop the alpha channel and keep the colour values as stored; ``CMYK``, ``YCbCr``, ``LAB``
  and ``HSV`` are converted with Pillow's conversions.
- **Limits**: an image with more than :data:`DEFAULT_MAX_PIXELS` pixels (100 megapixels) is
  rejected *before* its pixels are decoded (decompression-bomb guard); the limit is a
  parameter and the ``RGB2DEPTH_MAX_PIXELS`` environment variable overrides the default. An
  image whose shorter side is below :data:`MIN_SIDE` (32 px) is rejected as too small: the
  networks downsample by 16-32, so such an image has no spatial structure left to read depth
  from.
- **Errors**: every problem raises :class:`ImageReadError` whose message is one line,
  ``"<path>: <problem>"`` (empty file, not an image, truncated or corrupt data, too large,
  too small, missing file), so a batch can report it and go on.

Pillow is used for decoding (it reads EXIF and every mode above); OpenCV only for resizing.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

#: Largest image accepted by default, in pixels (width x height): 100 megapixels.
DEFAULT_MAX_PIXELS = 100_000_000
#: Smallest accepted side length in pixels (an 8x8 image is refused with a clear message).
MIN_SIDE = 32

#: File extensions treated as images when scanning folders (lower case).
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm", ".gif"}
)
#: File extensions treated as videos.
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg"})


class ImageReadError(ValueError):
    """An input image could not be used; ``str(err)`` is one line naming the file and problem."""


def max_pixels_default() -> int:
    """The pixel limit in force: ``RGB2DEPTH_MAX_PIXELS`` if set, else 100 megapixels."""
    env = os.environ.get("RGB2DEPTH_MAX_PIXELS")
    if env:
        try:
            return int(float(env))
        except ValueError:
            raise ValueError(f"RGB2DEPTH_MAX_PIXELS must be a number, got {env!r}") from None
    return DEFAULT_MAX_PIXELS


def check_size(width: int, height: int, name: str, max_pixels: int | None = None) -> None:
    """Raise :class:`ImageReadError` if ``width`` x ``height`` is too large or too small."""
    limit = max_pixels_default() if max_pixels is None else int(max_pixels)
    if limit > 0 and width * height > limit:
        raise ImageReadError(
            f"{name}: image is {width}x{height} = {width * height / 1e6:.3g} megapixels, above the "
            f"limit of {limit / 1e6:g} megapixels (decompression-bomb guard; raise it with "
            f"--max-pixels or RGB2DEPTH_MAX_PIXELS)"
        )
    if min(width, height) < MIN_SIDE:
        raise ImageReadError(
            f"{name}: image is {width}x{height}, too small (each side must be at least {MIN_SIDE} px)"
        )


def _pil_to_array(img, name: str) -> np.ndarray:
    """Oriented, converted HxWx3 uint8 array from an opened PIL image (pixels loaded here)."""
    from PIL import ImageOps

    img = ImageOps.exif_transpose(img)  # loads the pixels; returns a copy when rotated
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(img)
        if a.dtype != np.uint16 and a.size and (a.min() < 0 or a.max() > 65535):
            raise ImageReadError(f"{name}: 32-bit integer image with values outside 0..65535")
        gray = np.round(a.astype(np.float32) * (255.0 / 65535.0)).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
    if mode == "F":
        a = np.asarray(img, dtype=np.float32)
        if not np.isfinite(a).all():
            raise ImageReadError(f"{name}: floating-point image contains NaN or infinity")
        hi = 1.0 if a.size and a.max() <= 1.0 else 255.0
        gray = np.round(np.clip(a / hi, 0, 1) * 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
    if mode in ("1", "L"):
        gray = np.asarray(img.convert("L"))
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def _decode_pil(img, name: str) -> np.ndarray:
    """Decode a PIL image (file-backed or in memory) with :func:`_pil_to_array`; Pillow's
    decoding errors become a one-line :class:`ImageReadError` naming ``name``."""
    try:
        img.load()
        return _pil_to_array(img, name)
    except ImageReadError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        raise ImageReadError(f"{name}: truncated or corrupt image data ({msg})") from None


def read_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Decode an image file to an HxWx3 uint8 RGB array, oriented as displayed.

    Raises :class:`ImageReadError` with a one-line ``"<path>: <problem>"`` message for a missing,
    empty, non-image, truncated, corrupt, too large or too small file.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    name = str(path)
    if not path.exists():
        raise ImageReadError(f"{name}: no such file")
    if path.is_dir():
        raise ImageReadError(f"{name}: is a folder, not an image")
    try:
        nbytes = path.stat().st_size
    except OSError as e:
        raise ImageReadError(f"{name}: cannot read ({e.strerror or e})") from None
    if nbytes == 0:
        raise ImageReadError(f"{name}: empty file (0 bytes)")

    # Pillow's own bomb check (a warning above 89 MP, an error above 179 MP) is replaced by
    # check_size below, which applies our documented, configurable limit before decoding.
    saved = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None
        try:
            img = Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    except UnidentifiedImageError:
        raise ImageReadError(f"{name}: not an image file (unrecognised format)") from None
    except OSError as e:
        raise ImageReadError(f"{name}: cannot read ({e.strerror or e})") from None
    with img:
        w, h = img.size
        check_size(w, h, name, max_pixels)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return _decode_pil(img, name)


def to_rgb_array(image, name: str = "<array>", max_pixels: int | None = None) -> np.ndarray:
    """HxWx3 uint8 RGB from a path, a PIL image or a numpy array (checked like a file).

    Arrays must be uint8: HxWx3 (RGB), HxW (grayscale) or HxWx4 (RGBA; alpha dropped).
    """
    if isinstance(image, (str, os.PathLike)):
        return read_image(image, max_pixels=max_pixels)
    if isinstance(image, np.ndarray):
        a = image
        if a.dtype != np.uint8:
            raise ImageReadError(
                f"{name}: expected a uint8 array (H, W, 3) with values 0..255, got dtype {a.dtype}"
            )
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        elif a.ndim == 3 and a.shape[2] == 4:
            a = a[..., :3]
        elif a.ndim == 3 and a.shape[2] == 1:
            a = np.repeat(a, 3, axis=2)
        elif not (a.ndim == 3 and a.shape[2] == 3):
            raise ImageReadError(f"{name}: expected an array of shape (H, W, 3), got {a.shape}")
        check_size(a.shape[1], a.shape[0], name, max_pixels)
        return np.ascontiguousarray(a)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        check_size(image.width, image.height, name, max_pixels)
        return _decode_pil(image, name)
    raise ImageReadError(
        f"{name}: unsupported input type {type(image).__name__} (give a path, a PIL image or a "
        "uint8 numpy array)"
    )


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def is_video_path(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def find_images(folder: str | os.PathLike) -> list[Path]:
    """Image files under ``folder`` (recursive, by extension, sorted; hidden files skipped)."""
    folder = Path(folder)
    out = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.is_file() and is_image_path(p):
            out.append(p)
    return sorted(out)


#: Diagonal of a 36 x 24 mm frame: the reference of EXIF's 35 mm-equivalent focal length.
FULL_FRAME_DIAGONAL_MM = float(np.hypot(36.0, 24.0))


def exif_focal_px(image) -> float | None:
    """Horizontal focal length in pixels of the displayed image, from its EXIF data, or None.

    ``image``: a path or a PIL image. Uses ``FocalLengthIn35mmFilm`` (0xA405; equivalent focal
    length on a 36x24 mm frame, matched by diagonal: ``f_px = f35 * diag_px / 43.27``), else
    ``FocalLength`` (0x920A, mm) with ``FocalPlaneXResolution`` (0xA20E) and its unit (0xA210).
    Anything missing, zero or unreadable gives None (the caller then assumes a default camera).
    """
    from PIL import Image

    try:
        img = Image.open(image) if isinstance(image, (str, os.PathLike)) else image
        if not isinstance(img, Image.Image):
            return None
        exif = img.getexif()
        sub = exif.get_ifd(0x8769)  # the Exif sub-IFD holds the focal tags
        w, h = img.size
        if int(exif.get(0x0112, 1) or 1) in (5, 6, 7, 8):  # displayed rotated by 90 degrees
            w, h = h, w
        f35 = float(sub.get(0xA405) or 0)
        if f35 > 0:
            return f35 * float(np.hypot(w, h)) / FULL_FRAME_DIAGONAL_MM
        f_mm = float(sub.get(0x920A) or 0)
        xres = float(sub.get(0xA20E) or 0)
        unit = int(sub.get(0xA210) or 2)
        per_mm = {2: 1 / 25.4, 3: 0.1, 4: 1.0}.get(unit)
        if f_mm > 0 and xres > 0 and per_mm is not None:
            # the resolution refers to the sensor's own pixel grid, stored landscape
            return f_mm * xres * per_mm * (max(w, h) / max(img.size))
    except Exception:  # noqa: BLE001 - EXIF is advisory: a broken tag means "unknown"
        return None
    return None
