"""Kinect-like (structured light, first generation) sensor effects applied to exact depth.

Optional sensor effects: the ground truth of the generator is exact; for realism a
depth map can be degraded the way a Kinect v1 / NYU raw depth map is. Every effect either
*removes* pixels (sets ``valid`` False and depth NaN) or *perturbs* valid depth within a
documented bound; no effect ever creates a valid pixel. The effects, in order:

1. **Range limits**: ``min_depth <= z <= max_depth`` (default 0.5..6.0 m) stay valid.
2. **Projector shadow**: the IR projector sits ``baseline`` (7.5 cm) beside the IR camera along
   +x of the camera (``baseline`` < 0: along -x). A surface point lit by no projector ray gets no
   depth. With a rectified projector, pixel ``u`` at depth ``z`` is seen by the projector at
   ``u_p = u - fx * b / z``; the point is shadowed iff some pixel to its right on the same row
   (for b > 0) has a smaller ``u_p`` (a nearer surface shifted over it): a reverse cumulative
   minimum per row, exact for the rendered depth. This leaves bands of holes beside the left
   edges of foreground objects, as in NYU raw depth.
3. **Holes at depth edges**: pixels whose 3x3 neighbourhood spans more than ``edge_rel``
   of their depth are dropped with probability ``edge_drop`` (ragged borders).
4. **Dark and specular surfaces**: where the IR return is weak: albedo luminance below
   ``dark_threshold`` (dropped with probability ``dark_drop``), specular weight at least
   ``specular_threshold`` (TV screens, metal; dropped with probability ``specular_drop``),
   and grazing incidence ``|cos| < grazing_cos`` (always dropped).
5. **Axial noise** growing with z^2: Gaussian with ``sigma(z) = 0.0012 + 0.0019 (z - 0.4)^2``
   metres (Nguyen, Izadi and Lovell, "Modeling Kinect sensor noise", 3DIMPVT 2012, their
   axial-noise fit), then **disparity quantisation** to 1/8 pixel with the Kinect's
   ``fb = 580 px * 0.075 m``: ``z_q = fb / (round(8 fb / z) / 8)``. Hence for every valid pixel
   ``|z_out - z| <= 5 sigma(z) + 1.02 z'^2 / (16 fb)`` with ``z' = z + 5 sigma(z)`` (noise clipped
   at 5 sigma, plus half a quantisation step; 1.02 covers its curvature up to 6 m).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rgb2depth.geometry.camera import Intrinsics

KINECT_FB = 580.0 * 0.075  # focal length (px, at 640x480) x baseline (m) of the Kinect v1


@dataclass(frozen=True)
class KinectModel:
    min_depth: float = 0.5
    max_depth: float = 6.0
    baseline: float = 0.075
    shadow: bool = True
    edge_rel: float = 0.05
    edge_drop: float = 0.5
    dark_threshold: float = 0.03
    dark_drop: float = 0.7
    specular_threshold: float = 0.5
    specular_drop: float = 0.9
    grazing_cos: float = 0.1
    noise: bool = True
    quantize: bool = True


def noise_sigma(z: np.ndarray) -> np.ndarray:
    """Axial standard deviation (m) of Kinect v1 depth at distance ``z`` (Nguyen et al. 2012)."""
    return 0.0012 + 0.0019 * (np.asarray(z) - 0.4) ** 2


def max_perturbation(z: np.ndarray) -> np.ndarray:
    """Upper bound on ``|z_out - z|`` documented above (noise clip + half a disparity step)."""
    zz = np.asarray(z) + 5 * noise_sigma(z)
    return 5 * noise_sigma(z) + 1.02 * zz**2 / (16 * KINECT_FB) + 1e-6


def projector_shadow(depth: np.ndarray, K: Intrinsics, baseline: float) -> np.ndarray:
    """True where the projector (``baseline`` metres along camera +x) cannot see the surface."""
    z = np.where(np.isfinite(depth) & (depth > 0), depth, np.inf).astype(np.float64)
    u = np.arange(depth.shape[1], dtype=np.float64)[None, :]
    k = K.fx * abs(baseline)
    tol = 0.05
    if baseline >= 0:
        up = u - k / z
        # min over pixels strictly to the right
        right_min = np.minimum.accumulate(up[:, ::-1], axis=1)[:, ::-1]
        right_min = np.concatenate([right_min[:, 1:], np.full((z.shape[0], 1), np.inf)], 1)
        shadow = right_min < up - tol
    else:
        up = u + k / z
        left_max = np.maximum.accumulate(up, axis=1)
        left_max = np.concatenate([np.full((z.shape[0], 1), -np.inf), left_max[:, :-1]], 1)
        shadow = left_max > up + tol
    return shadow & np.isfinite(z)


def depth_edges(depth: np.ndarray, rel: float) -> np.ndarray:
    """Pixels whose 3x3 neighbourhood spans more than ``rel`` x their depth."""
    import cv2

    z = np.where(np.isfinite(depth), depth, 0).astype(np.float32)
    k = np.ones((3, 3), np.uint8)
    hi = cv2.dilate(z, k)
    zf = np.where(np.isfinite(depth), depth, 1e6).astype(np.float32)
    lo = cv2.erode(zf, k)
    return (hi - lo) > rel * np.maximum(z, 1e-6)


def apply_kinect(
    depth: np.ndarray,
    valid: np.ndarray,
    K: Intrinsics,
    rng: np.random.Generator,
    *,
    albedo: np.ndarray | None = None,
    specular: np.ndarray | None = None,
    cos_incidence: np.ndarray | None = None,
    model: KinectModel = KinectModel(),
    return_masks: bool = False,
):
    """Degrade exact ``depth`` (metres, NaN invalid) like a Kinect v1.

    Returns ``(depth, valid)`` (or ``(depth, valid, masks)`` with one bool map per removal
    reason). Optional per-pixel inputs enable the dark/specular/grazing holes.
    """
    depth = np.asarray(depth, np.float32)
    valid = np.asarray(valid, bool) & np.isfinite(depth)
    masks: dict[str, np.ndarray] = {}
    z = np.where(valid, depth, np.nan)
    with np.errstate(invalid="ignore"):
        masks["range"] = valid & ((z < model.min_depth) | (z > model.max_depth))
    if model.shadow and model.baseline != 0:
        masks["shadow"] = valid & projector_shadow(z, K, model.baseline)
    r = rng.random(depth.shape)
    if model.edge_drop > 0:
        masks["edge"] = valid & depth_edges(z, model.edge_rel) & (r < model.edge_drop)
    r2 = rng.random(depth.shape)
    if albedo is not None and model.dark_drop > 0:
        lum = np.asarray(albedo, np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)
        masks["dark"] = valid & (lum < model.dark_threshold) & (r2 < model.dark_drop)
    if specular is not None and model.specular_drop > 0:
        masks["specular"] = valid & (specular >= model.specular_threshold) & (r2 < model.specular_drop)
    if cos_incidence is not None and model.grazing_cos > 0:
        masks["grazing"] = valid & (cos_incidence < model.grazing_cos)
    out_valid = valid.copy()
    for m in masks.values():
        out_valid &= ~m
    out = np.where(out_valid, depth, np.nan).astype(np.float64)
    if model.noise:
        n = np.clip(rng.standard_normal(depth.shape), -5, 5)
        out = out + n * noise_sigma(np.where(out_valid, depth, 1.0))
    if model.quantize:
        with np.errstate(invalid="ignore", divide="ignore"):
            disp = np.round(8 * KINECT_FB / out) / 8
            out = np.where(disp > 0, KINECT_FB / disp, np.nan)
    out_valid &= np.isfinite(out) & (out > 0)
    out = np.where(out_valid, out, np.nan).astype(np.float32)
    if return_masks:
        return out, out_valid, masks
    return out, out_valid
