"""Joint RGB / depth / mask transforms on sample dicts (docs/DEVELOPING.md), built from a config.

Every geometric transform is applied identically to ``rgb``, ``depth`` and ``valid`` and updates
the intrinsics ``K``. Depth is resampled with nearest neighbour (pixel-centre aligned,
``cv2.INTER_NEAREST_EXACT``) or, on request, *validity-aware* bilinear/area resampling
(normalised convolution: interpolate ``depth * valid`` and ``valid`` and divide, keeping only
pixels whose support is at least ``min_valid_fraction`` valid). Depth is never interpolated
bilinearly across invalid pixels. Regions brought in from outside the image (rotation, scale
< 1) are invalid (NaN depth, black RGB).

Augmentations from the papers:

- paper 000, Sec. 4 (training): random horizontal flip and random rotation up to 15 degrees.
- Eigen et al. 2014 (the method of papers 001/004): scale s in [1, 1.5] with depth divided by
  s, in-plane rotation up to 5 degrees, random crops, colour multiplied per channel by a value in
  [0.8, 1.2], horizontal flips with probability 0.5.
- paper 003, Sec. 4.1 (NYU): frames downsampled by 2 and centre-cropped to 304x228 (W x H).
  Make3D protocol (Sec. 4.2): resize to 345x460 (H x W), mask depths over 70 m.
- paper 002: grayscale input (the ``gray`` flag makes DepthDataset emit one channel).

Config (the trainer's YAML passes this dict through; all keys optional)::

    preset:        name from PRESETS, its keys are defaults the other keys override
    downsample:    integer factor applied first (train and eval)          default 1
    center_crop:   [h, w] preprocessing crop (train and eval)             default none
    resize:        [h, w] before augmentation; default the ``size`` argument unless ``crop``
    scale:         [lo, hi] random zoom s, depth /= s, output keeps size  (train) none
    zoom:          [lo, hi] random zoom s, depth kept, fx and fy *= s      (train) none
                   (a longer lens: for networks that predict depth for a canonical camera
                   and take each sample's focal length from K)
    rotate:        max |angle| in degrees, about the principal point      (train) 0
    crop:          [h, w] random crop in training, centre crop in eval    none
    hflip:         probability of a horizontal flip                      (train) 0
    color:         {brightness, contrast, saturation: x -> factor in [1-x, 1+x];
                    gain: [lo, hi] per-channel factor (Eigen);
                    gamma: [lo, hi] exponent on [0, 1] intensities;
                    hue: x -> hue rotated by up to +-x of a turn}        (train) none
    texture:       {p: probability, amount: [lo, hi] std in 0..255 units,
                    sigma: [lo, hi] high-pass scale in pixels}            (train) none
                   (fine surface detail unrelated to the geometry, in patches: photographs
                   carry several times the fine detail of rendered rooms, and a network
                   trained on both can read that detail as nearness; see
                   :func:`texture_detail`)
    camera:        {blur: p, blur_sigma: [lo, hi], noise: [lo, hi] std in 0..255 units,
                    jpeg: p, jpeg_quality: [lo, hi]}                      (train) none
                   (domain randomisation: the defocus, sensor noise and compression of real
                   cameras, which rendered images lack, so that a network trained on both
                   cannot tell them apart by these cues alone)
    grayscale:     true -> RGB -> luma replicated to 3 channels, ``gray`` = True
    min_depth, max_depth: depths outside become invalid (Make3D: max_depth 70)
    depth_resample: "nearest" (default) or "valid"
    min_valid_fraction: for "valid" resampling (default 1.0: all contributing pixels valid)

Training order: downsample, center_crop, resize, scale, zoom, rotate, crop, hflip, color, texture, camera,
grayscale, depth range, final resize to ``size`` when the shape still differs. Evaluation: the same without
the random steps (crop is central). Deterministic: all randomness comes from the generator
passed with each call. Keys other than rgb/depth/valid/K/pose (e.g. a loader's ``disparity``)
pass through untransformed. ``crop`` is taken at the working resolution (``resize`` if given,
else the source's), so give ``resize`` when the source is larger than intended.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import cv2
import numpy as np

from rgb2depth.geometry.camera import Intrinsics

Sample = dict
Transform = Callable[[dict, np.random.Generator], dict]

PRESETS: dict[str, dict] = {
    # paper 000 Sec. 4: random horizontal flip, random rotation up to 15 degrees.
    "paper000": {"hflip": 0.5, "rotate": 15.0},
    # Eigen et al. 2014 augmentation (used by papers 001/004).
    "eigen": {"hflip": 0.5, "rotate": 5.0, "scale": [1.0, 1.5], "color": {"gain": [0.8, 1.2]}},
    # paper 003 NYU preprocessing: downsample by 2, centre-crop 304x228.
    "paper003_nyu": {"downsample": 2, "center_crop": [228, 304]},
    # paper 003 Make3D: resize to 345x460, mask > 70 m.
    "paper003_make3d": {"resize": [345, 460], "max_depth": 70.0},
    # paper 002: grayscale input.
    "paper002_gray": {"grayscale": True},
}

KNOWN_KEYS = {
    "preset", "downsample", "center_crop", "resize", "scale", "zoom", "rotate", "crop", "hflip", "color",
    "texture", "camera", "grayscale", "min_depth", "max_depth", "depth_resample", "min_valid_fraction",
}
COLOR_KEYS = {"brightness", "contrast", "saturation", "gain", "gamma", "hue"}
CAMERA_KEYS = {"blur", "blur_sigma", "noise", "jpeg", "jpeg_quality"}
TEXTURE_KEYS = {"p", "amount", "sigma"}
RANGE_KEYS = {"gain", "gamma", "blur_sigma", "noise", "jpeg_quality", "amount", "sigma"}
#: ITU-R 601 luma weights of R, G, B (also the Y row of the YIQ transform of :func:`rotate_hue`).
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


# ----------------------------------------------------------------------------- primitives


def _copy(s: dict) -> dict:
    return dict(s)


def _set_depth(s: dict, depth: np.ndarray) -> None:
    depth = depth.astype(np.float32, copy=False)
    valid = np.isfinite(depth) & (depth > 0)
    depth[~valid] = np.nan
    s["depth"], s["valid"] = depth, valid


def _resample_depth(depth: np.ndarray, valid: np.ndarray, fn, mode: str, min_frac: float, linear_flag: int,
                    nearest_flag: int = cv2.INTER_NEAREST) -> np.ndarray:
    """Apply the geometric resampler ``fn(image, interpolation, border_value)`` to depth."""
    if mode == "nearest":
        return fn(np.where(valid, depth, np.nan).astype(np.float32), nearest_flag, np.nan)
    if mode != "valid":
        raise ValueError(f"depth_resample must be 'nearest' or 'valid', got {mode!r}")
    v = valid.astype(np.float32)
    num = fn(np.where(valid, depth, 0).astype(np.float32), linear_flag, 0.0)
    den = fn(v, linear_flag, 0.0)
    out = np.full(num.shape, np.nan, np.float32)
    ok = den >= min_frac - 1e-4
    out[ok] = num[ok] / den[ok]
    return out


def resize(s: dict, h: int, w: int, depth_mode: str = "nearest", min_frac: float = 1.0) -> dict:
    """Resize to h x w; K scaled with the pixel-centre convention."""
    H, W = s["depth"].shape
    if (H, W) == (h, w):
        return s
    s = _copy(s)
    shrink = h < H and w < W
    rgb_interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR

    def fn(img, interp, _border):
        # INTER_NEAREST_EXACT: pixel-centre aligned nearest, consistent with Intrinsics.scaled.
        return cv2.resize(img, (w, h), interpolation=interp)

    s["rgb"] = cv2.resize(s["rgb"], (w, h), interpolation=rgb_interp)
    _set_depth(s, _resample_depth(s["depth"], s["valid"], fn, depth_mode, min_frac, rgb_interp, cv2.INTER_NEAREST_EXACT))
    if s.get("K") is not None:
        s["K"] = s["K"].scaled(w, h)
    return s


def crop(s: dict, top: int, left: int, h: int, w: int) -> dict:
    H, W = s["depth"].shape
    if top < 0 or left < 0 or top + h > H or left + w > W:
        raise ValueError(f"{s.get('id')}: crop {h}x{w} at ({top},{left}) outside a {H}x{W} image")
    s = _copy(s)
    s["rgb"] = s["rgb"][top : top + h, left : left + w]
    s["depth"] = s["depth"][top : top + h, left : left + w]
    s["valid"] = s["valid"][top : top + h, left : left + w]
    if s.get("K") is not None:
        s["K"] = s["K"].cropped(top, left, h, w)
    return s


def center_crop(s: dict, h: int, w: int) -> dict:
    H, W = s["depth"].shape
    return crop(s, (H - h) // 2, (W - w) // 2, h, w)


def random_crop(s: dict, h: int, w: int, rng: np.random.Generator) -> dict:
    H, W = s["depth"].shape
    if h > H or w > W:
        raise ValueError(f"{s.get('id')}: crop {h}x{w} larger than the {H}x{W} image")
    return crop(s, int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1)), h, w)


def hflip(s: dict) -> dict:
    """Mirror left-right. cx -> (W - 1) - cx. A mirror is not a rigid motion: ``pose`` is dropped."""
    s = _copy(s)
    s["rgb"] = cv2.flip(np.ascontiguousarray(s["rgb"]), 1)
    s["depth"] = cv2.flip(np.ascontiguousarray(s["depth"]), 1)
    s["valid"] = np.ascontiguousarray(s["valid"][:, ::-1])
    K = s.get("K")
    if K is not None:
        s["K"] = replace(K, cx=(K.width - 1) - K.cx)
    s.pop("pose", None)
    return s


def _warp(s: dict, M: np.ndarray, h: int, w: int, depth_mode: str, min_frac: float) -> dict:
    """Affine warp (dst pixel centre x maps from src M^-1 x; nearest rounds to the closest centre)."""
    s = _copy(s)

    def fn(img, interp, border):
        return cv2.warpAffine(img, M, (w, h), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=border)

    s["rgb"] = cv2.warpAffine(s["rgb"], M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    _set_depth(s, _resample_depth(s["depth"], s["valid"], fn, depth_mode, min_frac, cv2.INTER_LINEAR))
    return s


def rotate(s: dict, angle_deg: float, depth_mode: str = "nearest", min_frac: float = 1.0) -> dict:
    """Rotate the image by ``angle_deg`` (counter-clockwise on screen) about the principal point
    (the image centre when K is unknown). About the principal point with fx = fy this is exactly
    a roll of the camera about its optical axis, so K is unchanged and ``pose`` (camera-to-world)
    becomes ``pose @ Rz^T``; with fx != fy it is the usual small-angle approximation."""
    if angle_deg == 0:
        return s
    H, W = s["depth"].shape
    K = s.get("K")
    center = (K.cx, K.cy) if K is not None else ((W - 1) / 2, (H - 1) / 2)
    M = cv2.getRotationMatrix2D(center, angle_deg, 1.0)
    s = _warp(s, M, H, W, depth_mode, min_frac)
    if s.get("pose") is not None:
        # dst offset = [[c, s], [-s, c]] @ src offset, i.e. p_new = Rz p_old in the camera frame.
        c, sn = M[0, 0], M[0, 1]
        Rz = np.array([[c, sn, 0], [-sn, c, 0], [0, 0, 1.0]])
        T = np.eye(4)
        T[:3, :3] = Rz.T
        s["pose"] = s["pose"] @ T
    return s


def scale_zoom(s: dict, factor: float, rng: np.random.Generator | None, depth_mode: str = "nearest", min_frac: float = 1.0,
               keep_depth: bool = False) -> dict:
    """Eigen 2014 scale augmentation: zoom the image by ``factor`` (output keeps its size, window
    placed at random, or centred when ``rng`` is None) and divide depth by ``factor``.
    K: fx, fy multiply by the factor, the principal point follows the window. ``pose`` is dropped
    (the scaled scene is no longer the captured one). ``keep_depth=True`` is the physical zoom of
    a longer lens: depth unchanged, only K says the focal length grew."""
    H, W = s["depth"].shape
    # Pixel-centre convention: u' + 0.5 = f (u + 0.5) - ox
    ex, ey = factor * W - W, factor * H - H
    if rng is None:
        ox, oy = ex / 2, ey / 2
    else:
        ox = float(rng.uniform(min(0.0, ex), max(0.0, ex)))
        oy = float(rng.uniform(min(0.0, ey), max(0.0, ey)))
    tx, ty = 0.5 * factor - 0.5 - ox, 0.5 * factor - 0.5 - oy
    M = np.array([[factor, 0, tx], [0, factor, ty]], dtype=np.float64)
    depth_scaled = dict(s)
    if not keep_depth:
        depth_scaled["depth"] = s["depth"] / np.float32(factor)
    out = _warp(depth_scaled, M, H, W, depth_mode, min_frac)
    K = s.get("K")
    if K is not None:
        out["K"] = Intrinsics(K.fx * factor, K.fy * factor, K.cx * factor + tx, K.cy * factor + ty, W, H)
    out.pop("pose", None)
    return out


def color_jitter(s: dict, rng: np.random.Generator, brightness: float = 0.0, contrast: float = 0.0,
                 saturation: float = 0.0, gain: tuple[float, float] | None = None,
                 gamma: tuple[float, float] | None = None, hue: float = 0.0) -> dict:
    """Photometric jitter on the RGB only. Hand-written in numpy because samples are uint8
    arrays before tensor conversion (kornia's ColorJitter works on torch batches)."""
    img = s["rgb"].astype(np.float32)
    if brightness:
        img *= rng.uniform(1 - brightness, 1 + brightness)
    if contrast:
        m = (img @ LUMA).mean()
        img = (img - m) * rng.uniform(1 - contrast, 1 + contrast) + m
    if saturation:
        g = (img @ LUMA)[..., None]
        img = (img - g) * rng.uniform(1 - saturation, 1 + saturation) + g
    if gain is not None:
        img *= rng.uniform(gain[0], gain[1], size=3).astype(np.float32)
    if gamma is not None:
        img = 255.0 * (np.clip(img, 0, 255) / 255.0) ** rng.uniform(gamma[0], gamma[1])
    if hue:
        img = rotate_hue(img, float(rng.uniform(-hue, hue)))
    s = _copy(s)
    s["rgb"] = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    return s


def rotate_hue(img: np.ndarray, turns: float) -> np.ndarray:
    """Rotate the hue of float RGB (0..255) by ``turns`` of a full turn, keeping luma: a rotation
    about the grey axis in YIQ space (one 3x3 matrix, so no HSV round trip and its clipping)."""
    a = 2.0 * math.pi * turns
    to_yiq = np.array([LUMA, [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float32)
    rot = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]], np.float32)
    m = np.linalg.inv(to_yiq) @ rot @ to_yiq
    return img @ m.T.astype(np.float32)


def camera_effects(s: dict, rng: np.random.Generator, blur: float = 0.0, blur_sigma: tuple[float, float] = (0.5, 1.5),
                   noise: tuple[float, float] | None = None, jpeg: float = 0.0,
                   jpeg_quality: tuple[float, float] = (40, 95)) -> dict:
    """What a real camera adds to an image, on the RGB only: with probability ``blur`` a Gaussian
    defocus of a random sigma, Gaussian sensor noise of a random std (0..255 units), and with
    probability ``jpeg`` a JPEG round trip at a random quality (OpenCV's encoder)."""
    img = np.ascontiguousarray(s["rgb"])
    if blur and rng.random() < blur:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(*blur_sigma)))
    if noise is not None:
        std = float(rng.uniform(*noise))
        if std > 0:
            img = np.clip(img + rng.normal(0.0, std, img.shape).astype(np.float32) + 0.5, 0, 255).astype(np.uint8)
    if jpeg and rng.random() < jpeg:
        q = int(rng.uniform(*jpeg_quality))
        _, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    s = _copy(s)
    s["rgb"] = img
    return s


def grayscale(s: dict) -> dict:
    """RGB -> luma (ITU-R 601, cv2) replicated to three channels; sets ``gray`` = True."""
    s = _copy(s)
    g = cv2.cvtColor(np.ascontiguousarray(s["rgb"]), cv2.COLOR_RGB2GRAY)
    s["rgb"] = np.repeat(g[:, :, None], 3, axis=2)
    s["gray"] = True
    return s


def depth_range(s: dict, min_depth: float | None, max_depth: float | None) -> dict:
    d = s["depth"]
    bad = np.zeros(d.shape, bool)
    with np.errstate(invalid="ignore"):
        if min_depth is not None:
            bad |= d < min_depth
        if max_depth is not None:
            bad |= d > max_depth
    if not bad.any():
        return s
    s = _copy(s)
    d = d.copy()
    d[bad] = np.nan
    _set_depth(s, d)
    return s


def downsample(s: dict, factor: int, depth_mode: str = "nearest", min_frac: float = 1.0) -> dict:
    H, W = s["depth"].shape
    return resize(s, H // factor, W // factor, depth_mode, min_frac)


# ----------------------------------------------------------------------------- pipeline


def fractal_noise(h: int, w: int, rng: np.random.Generator, octaves: int = 5, first: int = 1) -> np.ndarray:
    """Zero-mean value noise with a 1/f-like spectrum, (h, w) float32: Gaussian lattices of cell
    size ``first * 2**k`` pixels, bicubically upsampled and summed with weights 1 / (1 + k).
    Written with OpenCV's resize: kornia's plasma noise works on torch batches and has no
    band limit, and this runs per sample on numpy arrays in the data loader."""
    out = np.zeros((h, w), np.float32)
    for k in range(octaves):
        cell = first * 2**k
        g = rng.standard_normal((h // cell + 2, w // cell + 2)).astype(np.float32)
        out += cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC) / (1.0 + k)
    return out - out.mean()


def high_pass(x: np.ndarray, sigma: float) -> np.ndarray:
    """``x`` minus its Gaussian blur of ``sigma`` pixels: the detail finer than ``sigma``, the
    quantity :func:`fine_detail_std` measures and :func:`texture_detail` adds."""
    return x - cv2.GaussianBlur(x, (0, 0), sigma)


def fine_detail_std(rgb: np.ndarray, sigma: float = 2.0) -> float:
    """How much fine detail an image carries: the standard deviation (0..255 units) of its luma
    minus a Gaussian blur of ``sigma`` pixels. Compare images at one size: the value depends on
    the resolution."""
    return float(high_pass(np.asarray(rgb, np.float32) @ LUMA, sigma).std())


def texture_detail(s: dict, rng: np.random.Generator, p: float = 1.0, amount: tuple[float, float] = (0.0, 16.0),
                   sigma: tuple[float, float] = (1.0, 3.0)) -> dict:
    """With probability ``p``, add fine luminance detail that has nothing to do with the scene's
    geometry, on the RGB only: fractal noise (finest cells of 1-3 pixels) high-passed at a random
    ``sigma`` (a Gaussian of that many pixels subtracted), scaled to a random std ``amount``
    (0..255 units) and faded in and out by a smooth random mask, so it covers some surfaces and
    spares others.

    Why: photographs carry several times the fine detail of the procedural renders
    (:func:`fine_detail_std`), and a network trained on both can learn to read detail as
    nearness; ``benchmarks/eval_camera_effects.py`` measures that on rendered rooms, and
    docs/results/default_model_v3.md has the figures. Detail added at random to every image,
    whatever its depth, carries no scale."""
    if not p or rng.random() >= p:
        return s
    img = s["rgb"].astype(np.float32)
    h, w = img.shape[:2]
    sig = float(rng.uniform(*sigma))
    n = fractal_noise(h, w, rng, first=int(rng.integers(1, 4)))
    hp = high_pass(n, sig)
    hp *= float(rng.uniform(*amount)) / max(float(hp.std()), 1e-6)
    mask = fractal_noise(h, w, rng, octaves=2, first=max(8, min(h, w) // 6))
    mask = np.clip(0.5 + mask / max(float(mask.std()), 1e-6), 0.0, 1.0)
    s = _copy(s)
    s["rgb"] = np.clip(img + (hp * mask)[..., None] + 0.5, 0, 255).astype(np.uint8)
    return s


def _hw(v, key: str) -> tuple[int, int] | None:
    if v is None:
        return None
    if isinstance(v, (int, float)):
        return int(v), int(v)
    try:
        h, w = (int(x) for x in v)
    except (TypeError, ValueError):
        raise ValueError(f"transform config {key!r} must be [height, width], got {v!r}") from None
    return h, w


def resolve(cfg: dict | None) -> dict:
    """The config with its preset(s) expanded and keys validated."""
    cfg = dict(cfg or {})
    presets = cfg.pop("preset", None)
    out: dict = {}
    for p in [presets] if isinstance(presets, str) else (presets or []):
        if p not in PRESETS:
            raise ValueError(f"unknown transform preset {p!r} (known: {', '.join(PRESETS)})")
        out.update(PRESETS[p])
    out.update(cfg)
    unknown = set(out) - KNOWN_KEYS
    if unknown:
        raise ValueError(f"unknown transform config keys {sorted(unknown)} (known: {sorted(KNOWN_KEYS)})")
    for key, known in (("color", COLOR_KEYS), ("texture", TEXTURE_KEYS), ("camera", CAMERA_KEYS)):
        if isinstance(out.get(key), dict):
            bad = set(out[key]) - known
            if bad:
                raise ValueError(f"unknown {key} augmentation keys {sorted(bad)} (known: {sorted(known)})")
    return out


def _options(d: dict | None) -> dict | None:
    """A color/texture/camera option dict with its [lo, hi] ranges as tuples and the rest as floats."""
    if not d:
        return None
    return {k: (tuple(float(x) for x in v) if k in RANGE_KEYS else float(v)) for k, v in d.items()}


class Compose:
    """The transform built by :func:`build`; ``steps`` lists what it does (for logs)."""

    def __init__(self, cfg: dict, train: bool, size: tuple[int, int] | None) -> None:
        self.cfg, self.train, self.size = cfg, train, size
        self.mode = cfg.get("depth_resample", "nearest")
        self.min_frac = float(cfg.get("min_valid_fraction", 1.0))
        self.downsample = int(cfg.get("downsample", 1))
        self.center_crop = _hw(cfg.get("center_crop"), "center_crop")
        self.crop = _hw(cfg.get("crop"), "crop")
        self.resize = _hw(cfg.get("resize"), "resize")
        if self.resize is None and self.crop is None and size is not None:
            self.resize = tuple(size)
        sc = cfg.get("scale")
        self.scale = None if sc is None else (float(sc[0]), float(sc[1]))
        zm = cfg.get("zoom")
        self.zoom = None if zm is None else (float(zm[0]), float(zm[1]))
        self.rotate = float(cfg.get("rotate", 0.0) or 0.0)
        self.hflip = float(cfg.get("hflip", 0.0) or 0.0)
        self.color = _options(cfg.get("color"))
        self.texture = _options(cfg.get("texture"))
        self.camera = _options(cfg.get("camera"))
        self.gray = bool(cfg.get("grayscale", False))
        self.min_depth, self.max_depth = cfg.get("min_depth"), cfg.get("max_depth")
        self.steps = self._describe()

    def _describe(self) -> list[str]:
        st = []
        if self.downsample > 1:
            st.append(f"downsample x{self.downsample}")
        if self.center_crop:
            st.append(f"center_crop {self.center_crop}")
        if self.resize:
            st.append(f"resize {self.resize}")
        if self.train and self.scale:
            st.append(f"scale {self.scale}")
        if self.train and self.zoom:
            st.append(f"zoom {self.zoom}")
        if self.train and self.rotate:
            st.append(f"rotate +-{self.rotate}")
        if self.crop:
            st.append(f"{'random' if self.train else 'center'}_crop {self.crop}")
        if self.train and self.hflip:
            st.append(f"hflip p={self.hflip}")
        if self.train and self.color:
            st.append(f"color {self.color}")
        if self.train and self.texture:
            st.append(f"texture {self.texture}")
        if self.train and self.camera:
            st.append(f"camera {self.camera}")
        if self.gray:
            st.append("grayscale")
        if self.min_depth is not None or self.max_depth is not None:
            st.append(f"depth range [{self.min_depth}, {self.max_depth}]")
        if self.size:
            st.append(f"size {tuple(self.size)}")
        return st

    def __repr__(self) -> str:
        return f"transforms({'train' if self.train else 'eval'}: {'; '.join(self.steps) or 'identity'})"

    def __call__(self, s: dict, rng: np.random.Generator | None = None) -> dict:
        if rng is None:
            rng = np.random.default_rng(0)
        m, f = self.mode, self.min_frac
        if self.downsample > 1:
            s = downsample(s, self.downsample, m, f)
        if self.center_crop:
            s = center_crop(s, *self.center_crop)
        if self.resize:
            s = resize(s, *self.resize, m, f)
        if self.train:
            if self.scale:
                s = scale_zoom(s, float(rng.uniform(*self.scale)), rng, m, f)
            if self.zoom:
                s = scale_zoom(s, float(rng.uniform(*self.zoom)), rng, m, f, keep_depth=True)
            if self.rotate:
                s = rotate(s, float(rng.uniform(-self.rotate, self.rotate)), m, f)
            if self.crop:
                s = random_crop(s, *self.crop, rng)
            if self.hflip and rng.random() < self.hflip:
                s = hflip(s)
            if self.color:
                s = color_jitter(s, rng, **self.color)
            if self.texture:
                s = texture_detail(s, rng, **self.texture)
            if self.camera:
                s = camera_effects(s, rng, **self.camera)
        elif self.crop:
            s = center_crop(s, *self.crop)
        if self.gray:
            s = grayscale(s)
        if self.min_depth is not None or self.max_depth is not None:
            s = depth_range(s, self.min_depth, self.max_depth)
        if self.size is not None and s["depth"].shape != tuple(self.size):
            s = resize(s, *self.size, m, f)
        return s


class ByIndex:
    """One transform per index range of a concatenated source: ``at(i)`` is ``transforms[k]``
    for ``offsets[k] <= i < offsets[k + 1]``.

    The trainer builds it when config items carry their own ``augment`` (for example camera
    effects on rendered images only, whose real photographs already have them); the randomness
    still comes from the generator of each call, so determinism is unchanged.
    """

    def __init__(self, offsets: Sequence[int], transforms: Sequence[Callable]) -> None:
        if len(offsets) != len(transforms) + 1:
            raise ValueError(f"ByIndex: {len(transforms)} transforms need {len(transforms) + 1} offsets, got {len(offsets)}")
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.transforms = list(transforms)

    def at(self, index: int) -> Callable:
        if not 0 <= index < int(self.offsets[-1]):
            raise IndexError(f"index {index} outside 0..{int(self.offsets[-1]) - 1}")
        return self.transforms[int(np.searchsorted(self.offsets, index, side="right")) - 1]

    def __repr__(self) -> str:
        parts = [f"[{int(a)}, {int(b)}): {t!r}" for a, b, t in zip(self.offsets[:-1], self.offsets[1:], self.transforms, strict=True)]
        return "by index(" + "; ".join(parts) + ")"


def build(cfg: dict | None, train: bool, size: tuple[int, int] | None = None) -> Compose:
    """Joint transform ``t(sample, rng) -> sample`` from a config dict (see module doc).

    ``size`` = (height, width) of the output, or None to keep what the steps produce.
    """
    return Compose(resolve(cfg), train, None if size is None else (int(size[0]), int(size[1])))


def rotation_border_free(angle_deg: float, h: int, w: int) -> tuple[int, int]:
    """Largest axis-aligned h x w window with the same aspect inside an image rotated by angle
    (about its centre) - useful to crop away the invalid corners."""
    a = abs(math.radians(angle_deg))
    c, s = math.cos(a), math.sin(a)
    k = min(w / (w * c + h * s), h / (w * s + h * c))
    return int(h * k), int(w * k)
