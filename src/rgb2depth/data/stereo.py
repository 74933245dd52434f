"""Stereo-derived depth targets (paper 002, Sec. 4.1: KITTI targets made from the stereo pairs
with semi-global matching / block matching, and in the end with ELAS).

Pipeline on a rectified pair (left = reference):

1. disparity with OpenCV's ``StereoSGBM`` (Hirschmueller's semi-global matching) or
   ``StereoBM`` (block matching); ``sgbm_wls`` adds the weighted-least-squares filter of
   ``cv2.ximgproc`` (opencv-contrib, the OpenCV build this package depends on); ``elas`` is
   Geiger et al.'s ELAS (data/elas.py: support points, Delaunay prior, dense matching under
   it, its own left-right check, small-segment removal, gap interpolation and smoothing; it
   takes ``lr_max_diff``, ``speckle_window``, ``speckle_range`` and ``equalize`` from the
   config, the rest from ``StereoConfig.elas``; the texture mask does not apply to it: its prior
   is what fills weakly textured areas).
   Both images are first contrast-equalised (CLAHE on lightness; ``equalize=False`` skips it:
   measured on the pairs below it lowers the bad-pixel rate and keeps more pixels everywhere).
2. unreliable pixels removed: the matcher's own rejections (uniqueness), a left-right
   consistency check (|d_L(x) - d_R(x - d_L(x))| <= ``lr_max_diff`` px, the right disparity
   computed by matching the mirrored pair), low texture (mean |d/dx| of the left image over
   the matching window below ``texture``), and speckles (``cv2.filterSpeckles``: connected
   regions under ``speckle_window`` px whose disparity varies by <= ``speckle_range``);
3. depth = f * B / (d + doffs) (doffs = x-offset of the principal points, Middlebury's
   ``doffs``; 0 for KITTI), NaN where rejected;
4. targets written in the folder layout (docs/DEVELOPING.md) that ``data.create("folder")`` reads.

``evaluate_disparity`` gives the bad-pixel rate (> 3 px) and mean end-point error on the pixels
a method keeps, and the fraction of ground-truth pixels kept; benchmarks/bench_stereo.py prints
the table over the real pairs in ../shared/data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .depth_io import DataError, read_rgb
from .disparity import depth_to_disparity, disparity_to_depth, lr_consistent
from .elas import ElasParams, elas_disparity
from .middlebury import read_middlebury_calib

__all__ = [
    "METHODS", "StereoConfig", "StereoResult", "compute_disparity", "depth_to_disparity", "disparity_to_depth",
    "evaluate_disparity", "read_stereo_calib", "stereo_calibration", "make_target", "write_targets",
    "load_benchmark_pair", "BENCHMARK_PAIRS", "has_wls", "equalize",
]

METHODS = ("sgbm", "bm", "sgbm_wls", "elas")


def has_wls() -> bool:
    return hasattr(cv2, "ximgproc") and hasattr(cv2.ximgproc, "createDisparityWLSFilter")


@dataclass
class StereoConfig:
    """Matching and filtering settings (defaults follow OpenCV's samples; see module doc)."""

    method: str = "sgbm"
    num_disparities: int | None = None  # multiple of 16; None: ceil(width / 6) rounded up to 16
    min_disparity: int = 0
    block_size: int | None = None  # SGBM 5, BM 15
    uniqueness: int = 10
    equalize: bool = True  # CLAHE on the lightness of both images first (helps dark scenes)
    lr_max_diff: float | None = 1.0  # None disables the left-right check
    texture: float | None = 2.0  # mean |Sobel x| over the window; None disables
    speckle_window: int | None = None  # 0 disables; None: 100 (sgbm, bm), 200 (elas, libelas's)
    speckle_range: float | None = None  # px; None: 2 (sgbm, bm), 1 (elas, libelas's)
    wls_lambda: float = 8000.0
    wls_sigma: float = 1.5
    elas: ElasParams = field(default_factory=ElasParams)  # method "elas" only

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"stereo method must be one of {METHODS}, got {self.method!r}")
        if self.num_disparities is not None and (self.num_disparities <= 0 or self.num_disparities % 16):
            raise ValueError(f"num_disparities must be a positive multiple of 16, got {self.num_disparities}")
        elas = self.method == "elas"
        if self.speckle_window is None:
            self.speckle_window = 200 if elas else 100
        if self.speckle_range is None:
            self.speckle_range = 1.0 if elas else 2.0
        if elas and self.min_disparity < 0:
            raise ValueError(f"method elas searches disparities >= 0, got min_disparity {self.min_disparity}")


@dataclass
class StereoResult:
    disparity: np.ndarray  # float32 px, NaN = rejected
    raw: np.ndarray  # float32 px before the reliability masks (NaN where the matcher failed)
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # True = rejected by that stage


def _gray(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img


def equalize(img: np.ndarray) -> np.ndarray:
    """Contrast-limited histogram equalisation (OpenCV CLAHE) of the lightness channel."""
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    if img.ndim == 2:
        return clahe.apply(img)
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)
    lab[..., 0] = clahe.apply(np.ascontiguousarray(lab[..., 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def _matcher(cfg: StereoConfig, ndisp: int, channels: int):
    if cfg.method == "bm":
        bs = cfg.block_size or 15
        m = cv2.StereoBM.create(numDisparities=ndisp, blockSize=bs)
        m.setMinDisparity(cfg.min_disparity)
        m.setUniquenessRatio(max(cfg.uniqueness, 15))
        m.setTextureThreshold(10)
        m.setPreFilterCap(31)
        m.setSpeckleWindowSize(0)  # speckles are filtered explicitly below
        return m, bs
    bs = cfg.block_size or 5
    m = cv2.StereoSGBM.create(
        minDisparity=cfg.min_disparity,
        numDisparities=ndisp,
        blockSize=bs,
        P1=8 * channels * bs * bs,
        P2=32 * channels * bs * bs,
        disp12MaxDiff=-1,
        preFilterCap=63,
        uniquenessRatio=cfg.uniqueness,
        speckleWindowSize=0,
        speckleRange=0,
        mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY,
    )
    return m, bs


def compute_disparity(left: np.ndarray, right: np.ndarray, cfg: StereoConfig | None = None, **kw) -> StereoResult:
    """Disparity of the left image of a rectified pair (uint8 RGB or gray), in pixels."""
    cfg = cfg or StereoConfig(**kw)
    if left.shape != right.shape:
        raise ValueError(f"left {left.shape} and right {right.shape} images differ in size")
    h, w = left.shape[:2]
    ndisp = cfg.num_disparities or int(np.ceil(w / 6 / 16) * 16)
    if cfg.equalize:
        left, right = equalize(left), equalize(right)
    if cfg.method == "elas":
        disp, raw, masks = elas_disparity(_gray(left), _gray(right), ndisp, cfg.min_disparity, cfg.elas,
                                          cfg.lr_max_diff, cfg.speckle_window, cfg.speckle_range)
        return StereoResult(disp, raw, masks)
    use_color = cfg.method != "bm" and left.ndim == 3
    L = left if use_color else _gray(left)
    R = right if use_color else _gray(right)
    m, bs = _matcher(cfg, ndisp, 3 if use_color else 1)
    d16 = m.compute(L, R)  # int16, 16 * disparity; < min_disparity * 16 = no match
    invalid_code = (cfg.min_disparity - 1) * 16
    masks: dict[str, np.ndarray] = {}
    masks["matcher"] = d16 <= invalid_code
    # right view disparity by matching the mirrored pair (the right image becomes the reference)
    need_right = cfg.lr_max_diff is not None or cfg.method == "sgbm_wls"
    if need_right:
        dR16 = m.compute(np.ascontiguousarray(R[:, ::-1]), np.ascontiguousarray(L[:, ::-1]))[:, ::-1]
    if cfg.method == "sgbm_wls":
        if not has_wls():
            raise RuntimeError("method 'sgbm_wls' needs cv2.ximgproc: this OpenCV is not the contrib build "
                               "(opencv-contrib-python-headless)")
        wls = cv2.ximgproc.createDisparityWLSFilter(m)
        wls.setLambda(cfg.wls_lambda)
        wls.setSigmaColor(cfg.wls_sigma)
        # the filter expects the right matcher's (negative) disparities
        d16 = wls.filter(d16, L, disparity_map_right=np.ascontiguousarray(-dR16), right_view=R)
        masks["matcher"] = d16 <= invalid_code
    raw = d16.astype(np.float32) / 16.0
    raw[masks["matcher"]] = np.nan
    rejected = masks["matcher"].copy()
    if cfg.lr_max_diff is not None:
        dR = dR16.astype(np.float32) / 16.0
        dR[dR16 <= invalid_code] = np.nan
        masks["lr_check"] = ~rejected & ~lr_consistent(raw, dR, cfg.lr_max_diff)
        rejected |= masks["lr_check"]
    if cfg.texture is not None and cfg.texture > 0:
        g = _gray(left).astype(np.float32)
        gx = np.abs(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)) / 4.0  # ~ intensity change per pixel
        energy = cv2.boxFilter(gx, -1, (bs, bs))
        masks["texture"] = ~rejected & (energy < cfg.texture)
        rejected |= masks["texture"]
    if cfg.speckle_window > 0:
        tmp = np.where(rejected, invalid_code, d16).astype(np.int16)
        cv2.filterSpeckles(tmp, invalid_code, cfg.speckle_window, int(round(cfg.speckle_range * 16)))
        masks["speckle"] = ~rejected & (tmp == invalid_code)
        rejected |= masks["speckle"]
    disp = raw.copy()
    disp[rejected] = np.nan
    return StereoResult(disp, raw, masks)


def evaluate_disparity(pred: np.ndarray, gt: np.ndarray, threshold: float = 3.0, mask: np.ndarray | None = None) -> dict:
    """Bad-pixel rate (|pred - gt| > threshold px) and mean end-point error over the pixels
    where both are valid (the pixels the method keeps), and ``kept`` = that count / valid GT."""
    g = np.isfinite(gt) & (gt > 0)
    if mask is not None:
        g &= mask
    both = g & np.isfinite(pred)
    n_gt, n = int(g.sum()), int(both.sum())
    err = np.abs(pred[both] - gt[both])
    return {
        "bad": float((err > threshold).mean()) if n else float("nan"),
        "epe": float(err.mean()) if n else float("nan"),
        "kept": n / n_gt if n_gt else float("nan"),
        "n_gt": n_gt,
    }


# ---------------------------------------------------------------------------------- calibration


def read_stereo_calib(path: str | Path) -> dict:
    """focal (px), baseline (m), doffs (px) and the left principal point (cx, cy) from a
    Middlebury ``calib.txt`` or a KITTI calibration (object ``calib/*.txt`` with P2/P3, or raw
    ``calib_cam_to_cam.txt`` with P_rect_02/03)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    text = path.read_text()
    if "baseline=" in text.replace(" ", ""):
        c = read_middlebury_calib(path)
        K = c["cam0"]
        return {"focal": float(K[0, 0]), "baseline": float(c["baseline"]) / 1000.0, "doffs": float(c["doffs"]),
                "cx": float(K[0, 2]), "cy": float(K[1, 2]), "fy": float(K[1, 1])}
    from .kitti import read_calib_txt

    d = read_calib_txt(path)
    for a, b in (("P2", "P3"), ("P_rect_02", "P_rect_03")):
        if a in d and b in d:
            P2, P3 = d[a].reshape(3, 4), d[b].reshape(3, 4)
            f = float(P2[0, 0])
            # P_k[0, 3] = -f * x_k (camera k's x position in the rectified frame)
            return {"focal": f, "baseline": float((P2[0, 3] - P3[0, 3]) / f), "doffs": float(P2[0, 2] - P3[0, 2]),
                    "cx": float(P2[0, 2]), "cy": float(P2[1, 2]), "fy": float(P2[1, 1])}
    raise DataError(path, "no stereo calibration (Middlebury calib.txt, or KITTI P2/P3)")


def stereo_calibration(path: str | Path) -> tuple[float, float, float]:
    """(focal px, baseline m, doffs px); see :func:`read_stereo_calib`."""
    c = read_stereo_calib(path)
    return c["focal"], c["baseline"], c["doffs"]


# ---------------------------------------------------------------------------------- targets


def make_target(left_path, right_path, focal: float, baseline: float, doffs: float = 0.0,
                cfg: StereoConfig | None = None) -> tuple[np.ndarray, np.ndarray, StereoResult]:
    """(left RGB, depth metres NaN-invalid, stereo result) for one rectified pair of files."""
    left, right = read_rgb(left_path), read_rgb(right_path)
    if left.shape != right.shape:
        raise DataError(right_path, f"size {right.shape[1]}x{right.shape[0]} differs from the left image {left.shape[1]}x{left.shape[0]}")
    res = compute_disparity(left, right, cfg)
    return left, disparity_to_depth(res.disparity, focal, baseline, doffs), res


def write_targets(pairs, out_dir, focal: float, baseline: float, doffs: float = 0.0,
                  cfg: StereoConfig | None = None, depth_scale: float = 256.0, K=None,
                  on_error=None, max_depth: float | None = None) -> list[str]:
    """Stereo depth targets for every (stem, left, right) in ``pairs`` written as a folder
    dataset (rgb/, depth/ uint16 value / ``depth_scale`` m, meta.json, intrinsics.json when ``K``
    is given, stereo.json with the settings); depths over ``max_depth`` are rejected. Returns the stems written; a bad pair calls ``on_error(stem, exc)`` (default:
    raise) and the batch goes on."""
    from .folder import FolderWriter

    cfg = cfg or StereoConfig()
    out = Path(out_dir)
    wr = FolderWriter(out, depth_scale=depth_scale)
    done = []
    for stem, lp, rp in pairs:
        try:
            left, depth, _ = make_target(lp, rp, focal, baseline, doffs, cfg)
            from rgb2depth.geometry.camera import Intrinsics

            k = K if K is None or isinstance(K, Intrinsics) else None
            too_far = np.isfinite(depth) & (depth * depth_scale > 65535)
            if max_depth is not None:  # sub-pixel disparities give unreliable far depths
                too_far |= np.isfinite(depth) & (depth > max_depth)
            depth[too_far] = np.nan  # beyond the uint16 range of this scale: unreliable anyway
            wr.write(stem, left, depth, k)
            done.append(stem)
        except (DataError, ValueError, OSError) as e:
            if on_error is None:
                raise
            on_error(stem, e)
    from rgb2depth.fileio import write_text

    write_text(out / "stereo.json", __import__("json").dumps(
        {"focal": focal, "baseline": baseline, "doffs": doffs, **asdict(cfg)}, indent=1) + "\n")
    return done


# ---------------------------------------------------------------------------------- benchmark pairs

#: Rectified pairs with ground-truth disparity in ../shared/data (and Debian's opencv-doc), with
#: the disparity search range used for them (multiple of 16 covering the GT maximum).
BENCHMARK_PAIRS = {
    "kitti2015/000046_10": 128,
    "kitti2015/000104_10": 128,
    "middlebury2003/cones": 64,
    "middlebury2003/teddy": 64,
    "middlebury2014Q/Motorcycle": 80,
    "middlebury2006/Aloe": 80,
    # Middlebury v3 training scenes at quarter size, one of each (not the E/L/P variants;
    # its Motorcycle and Teddy are the pairs above)
    **{f"middeval3Q/{k}": v for k, v in {
        "Adirondack": 80, "ArtL": 64, "Jadeplant": 160, "Piano": 80, "Pipes": 80, "Playroom": 96,
        "Playtable": 80, "Recycle": 80, "Shelves": 64, "Vintage": 192}.items()},
    "aloe (opencv-doc)": 224,
}
ALOE_DIR = Path("/usr/share/doc/opencv-doc/examples/data")


def load_benchmark_pair(name: str, data_dir: str | Path | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
    """(left, right, GT disparity px NaN-unknown, num_disparities), or None when absent."""
    from .depth_io import read_pfm, read_raw

    d = Path(data_dir) if data_dir is not None else None
    if name.startswith("kitti2015/"):
        k = name.split("/")[1]
        if d is None:
            return None
        root = d / "kitti" / "stereo2015" / "training"
        files = [root / "image_2" / f"{k}.png", root / "image_3" / f"{k}.png", root / "disp_occ_0" / f"{k}.png"]
        scale = 256.0
    elif name.startswith("middlebury2003/"):
        if d is None:
            return None
        root = d / "middlebury" / "2003" / name.split("/")[1]
        files = [root / "im2.png", root / "im6.png", root / "disp2.png"]
        scale = 4.0
    elif name.startswith(("middlebury2014Q/", "middeval3Q/")):
        if d is None:
            return None
        sub = ("2014", "trainingQ") if name.startswith("middlebury2014Q/") else ("MiddEval3", "trainingQ")
        root = d / "middlebury" / sub[0] / sub[1] / name.split("/")[1]
        files = [root / "im0.png", root / "im1.png", root / "disp0GT.pfm"]
        scale = 1.0
    elif name.startswith("middlebury2006/"):
        if d is None:
            return None
        root = d / "middlebury" / "2006" / name.split("/")[1]
        files = [root / "view1.png", root / "view5.png", root / "disp1.png"]
        scale = 3.0  # third size: pixels = value / 3
    elif name.startswith("aloe"):
        files = [ALOE_DIR / "aloeL.jpg", ALOE_DIR / "aloeR.jpg", ALOE_DIR / "aloeGT.png"]
        scale = 1.0
    else:
        raise KeyError(f"unknown benchmark pair {name!r} (known: {', '.join(BENCHMARK_PAIRS)})")
    if not all(f.is_file() for f in files):
        return None
    if files[2].suffix == ".pfm":
        gt = read_pfm(files[2])
        gt[~np.isfinite(gt)] = np.nan
    else:
        raw = read_raw(files[2], dtype=None)
        gt = raw.astype(np.float32) / np.float32(scale)
        gt[raw == 0] = np.nan
    return read_rgb(files[0]), read_rgb(files[1]), gt, BENCHMARK_PAIRS[name]
