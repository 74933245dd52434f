"""ELAS: A. Geiger, M. Roser, R. Urtasun, "Efficient Large-Scale Stereo Matching", ACCV 2010,
pp. 25-38.

Paper 002 (Sec. 4.1, its reference [9]) made its KITTI depth targets with this matcher,
preferring it to semi-global and block matching for the quality of its maps. The steps follow
the paper and its authors' reference implementation, libelas, whose defaults for its
"robotics" setting are the defaults here unless ``ElasParams`` says otherwise:

1. **Descriptors**: every pixel gets 16 values of the horizontal and vertical 3x3 Sobel
   responses around it (12 of d/dx and 4 of d/dy on a 5x5 diamond, libelas's layout);
   matching costs are L1 distances between descriptors.
2. **Support points**: on a grid (every ``support_step`` px) a full search over the disparity
   range with the descriptors of the four pixels diagonally 2 px away;
   a point is kept when it has texture, its best cost is clearly below the second best
   (ratio ``support_threshold``, a uniqueness test) and matching back from the right image
   lands on the same disparity (left-right consistency). Points with too few agreeing
   neighbours are dropped as outliers; points in the middle of straight runs of equal
   disparity are dropped as redundant.
3. **Prior**: the Delaunay triangulation of the support points (``scipy.spatial.Delaunay``)
   gives a piecewise-planar disparity mu(u, v) (one plane per triangle). Triangles steeper than
   ``max_slope`` in either view (they bridge a depth discontinuity) carry no plane prior.
4. **Dense matching** (the paper's generative model, MAP per pixel): each pixel searches only
   the disparities within max(2, ``sigma`` * ``sradius``) px of mu (costed with the prior's
   negative log, a bonus that falls off as a Gaussian of width ``sigma`` over a floor
   ``gamma``, weighted by ``beta``) plus the support-point disparities (+-1) of its ``grid_size`` cell and the eight
   around it (no prior term); the minimum-energy disparity wins, refined to sub-pixel by a
   parabola through the energies at d - 1, d, d + 1. The right image is matched the same way
   with its own triangulation (support points at u - d).
5. **Post-processing** (libelas): left-right consistency check, removal of small segments
   (``cv2.filterSpeckles``), interpolation of gaps of up to ``gap_width`` px along rows and
   columns (the mean of the two ends when they agree within 3 px, else the smaller, i.e.
   background, disparity), and libelas's edge-preserving adaptive mean (or a 3x3 median).

The loops (cost search per support point and per pixel, triangle rasterisation, the
sequential support-point pruning, gap filling) are compiled with numba: they visit a different
candidate set at every pixel, which vectorised numpy can only do by costing the whole
disparity range (a full cost volume, several times the work). The numbers that chose that
and the settings are in docs/results/stereo.md (benchmarks/bench_stereo.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numba import njit

from .disparity import lr_consistent

__all__ = ["ElasParams", "dense_disparity", "descriptors", "elas_disparity", "support_points", "triangles"]

@dataclass
class ElasParams:
    """ELAS settings (libelas's defaults for its robotics setting unless noted)."""

    support_step: int = 5  # grid step of the support-point candidates (px)
    support_threshold: float = 0.85  # best cost < threshold * second best
    support_texture: int = 10  # min sum |descriptor - 128| at a support point
    incon_window: int = 5  # outlier removal: neighbourhood (grid steps)
    incon_threshold: int = 5  # ... within this many px of disparity
    incon_min_support: int = 5  # ... agreeing points needed (itself included)
    add_corners: bool = False  # support points at the image corners (nearest point's disparity)
    grid_size: int = 20  # cell size of the support-disparity candidate lists (px)
    beta: float = 0.02  # weight of the data term against the prior
    gamma: float = 3.0  # uniform floor of the prior
    sigma: float = 1.0  # width of the plane prior (px)
    sradius: float = 2.0  # band searched around the plane, in sigmas (at least 2 px)
    max_slope: float = 0.7  # |d disparity / d u| beyond which a triangle has no plane prior
    match_texture: int = 1  # min sum |descriptor - 128| of a matched pixel
    subpixel: bool = True  # parabola refinement (libelas returns integer disparities)
    gap_width: int = 3  # interpolate holes up to this long (px); 0 disables
    adaptive_mean: bool = True  # edge-preserving smoothing (libelas's robotics default)
    median: bool = False  # 3x3 median where all nine pixels have a value (instead, or after)


# ---------------------------------------------------------------------------------- descriptors


def descriptors(gray: np.ndarray) -> np.ndarray:
    """(H, W, 16) uint8 descriptors of a uint8 gray image: 3x3 Sobel d/dx at 12 and d/dy at 4
    positions of the 5x5 diamond around each pixel, stored as 128 + response / 4 (saturated)."""
    g = gray.astype(np.float32)
    du = np.clip(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 4 + 128, 0, 255).astype(np.uint8)
    dv = np.clip(cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 4 + 128, 0, 255).astype(np.uint8)
    pu = np.pad(du, 2, mode="edge")
    pv = np.pad(dv, 2, mode="edge")
    h, w = gray.shape

    def at(p, dy, dx):
        return p[2 + dy : 2 + dy + h, 2 + dx : 2 + dx + w]

    # libelas's layout, as (row, column) offsets: d/dx on the 5x5 diamond (the centre twice),
    # d/dy on the 4-neighbourhood
    du_at = [(-2, 0), (-1, -2), (-1, 0), (-1, 2), (0, -1), (0, 0), (0, 0), (0, 1), (1, -2), (1, 0), (1, 2), (2, 0)]
    dv_at = [(-1, 0), (0, -1), (0, 1), (1, 0)]
    planes = [at(pu, dy, dx) for dy, dx in du_at] + [at(pv, dy, dx) for dy, dx in dv_at]
    return np.ascontiguousarray(np.stack(planes, axis=-1))


@njit(cache=True)
def _sad(a, b):
    s = 0
    for i in range(16):
        s += abs(np.int32(a[i]) - np.int32(b[i]))
    return s


@njit(cache=True)
def _texture(a):
    s = 0
    for i in range(16):
        s += abs(np.int32(a[i]) - 128)
    return s


# ---------------------------------------------------------------------------------- support points


@njit(cache=True)
def _support_disparity(u, v, d1, d2, sign, dmin, dmax, threshold, texture):
    """Disparity of pixel (u, v) of the view of ``d1`` by a full search of ``d2`` at u + sign * d,
    comparing the descriptors at the four diagonal neighbours 2 px away; -1 when not unique
    enough. The runner-up is libelas's: a cost that beats the best so far replaces it without
    becoming the runner-up, so (scanning d upwards) it is mostly the best cost above the winner."""
    h, w = d1.shape[0], d1.shape[1]
    win, step = 3, 2
    if u < win + step or u > w - win - 1 - step or v < win + step or v > h - win - 1 - step:
        return -1
    if _texture(d1[v, u]) < texture:
        return -1
    hi = min(dmax, u - win - step) if sign < 0 else min(dmax, w - u - win - step - 1)
    if hi - dmin < 10:  # libelas: at least 10 disparities to compare
        return -1
    best, best_d, second = 1 << 30, -1, 1 << 30
    for d in range(dmin, hi + 1):
        uw = u + sign * d
        e = (_sad(d1[v - step, u - step], d2[v - step, uw - step])
             + _sad(d1[v - step, u + step], d2[v - step, uw + step])
             + _sad(d1[v + step, u - step], d2[v + step, uw - step])
             + _sad(d1[v + step, u + step], d2[v + step, uw + step]))
        if e < best:
            best, best_d = e, d
        elif e < second:
            second = e
    if best_d >= 0 and second < (1 << 30) and best < threshold * second:
        return best_d
    return -1


@njit(cache=True)
def _support_grid(dl, dr, step, dmin, dmax, threshold, texture, lr_max):
    """Grid (rows v = i * step, columns u = j * step) of left-right consistent unique matches."""
    h, w = dl.shape[0], dl.shape[1]
    gh, gw = (h + step - 1) // step, (w + step - 1) // step
    grid = np.full((gh, gw), -1, np.int32)
    for i in range(1, gh):
        for j in range(1, gw):
            u, v = j * step, i * step
            d = _support_disparity(u, v, dl, dr, -1, dmin, dmax, threshold, texture)
            if d >= 0:
                d2 = _support_disparity(u - d, v, dr, dl, 1, dmin, dmax, threshold, texture)
                if d2 >= 0 and abs(d - d2) <= lr_max:
                    grid[i, j] = d
    return grid


@njit(cache=True)
def _remove_inconsistent(grid, window, threshold, min_support):
    """Drop points with fewer than ``min_support`` points (itself included) within ``window``
    grid steps whose disparity is within ``threshold``; in place and in scan order, as libelas."""
    gh, gw = grid.shape
    for j in range(gw):
        for i in range(gh):
            d = grid[i, j]
            if d < 0:
                continue
            n = 0
            for jj in range(max(0, j - window), min(gw, j + window + 1)):
                for ii in range(max(0, i - window), min(gh, i + window + 1)):
                    d2 = grid[ii, jj]
                    if d2 >= 0 and abs(d - d2) <= threshold:
                        n += 1
            if n < min_support:
                grid[i, j] = -1


@njit(cache=True)
def _remove_redundant(grid, max_dist, threshold, vertical):
    """Drop points that have a point of (nearly) the same disparity within ``max_dist`` steps on
    both sides along a column (``vertical``) or row: planes need only the ends of such runs.
    In place and in scan order (so every ``max_dist``-th point of a run survives), as libelas."""
    gh, gw = grid.shape
    di, dj = (1, 0) if vertical else (0, 1)
    for j in range(gw):
        for i in range(gh):
            d = grid[i, j]
            if d < 0:
                continue
            redundant = True
            for sgn in (-1, 1):
                found = False
                ii, jj = i, j
                for _ in range(max_dist):
                    ii += sgn * di
                    jj += sgn * dj
                    if ii < 0 or jj < 0 or ii >= gh or jj >= gw:
                        break
                    d2 = grid[ii, jj]
                    if d2 >= 0 and abs(d - d2) <= threshold:
                        found = True
                        break
                if not found:
                    redundant = False
                    break
            if redundant:
                grid[i, j] = -1


def support_points(dl: np.ndarray, dr: np.ndarray, dmin: int, dmax: int, p: ElasParams,
                   lr_max: float) -> np.ndarray:
    """(N, 3) int32 support points (u, v, d) of the left view from the two descriptor images."""
    grid = _support_grid(dl, dr, p.support_step, dmin, dmax, p.support_threshold, p.support_texture, lr_max)
    _remove_inconsistent(grid, p.incon_window, p.incon_threshold, p.incon_min_support)
    _remove_redundant(grid, 5, 1, True)
    _remove_redundant(grid, 5, 1, False)
    i, j = np.nonzero(grid >= 0)
    pts = np.stack([j * p.support_step, i * p.support_step, grid[i, j]], axis=1).astype(np.int32)
    if p.add_corners and len(pts):
        h, w = dl.shape[:2]
        corners = np.array([[0, 0], [0, h - 1], [w - 1, 0], [w - 1, h - 1]], np.int32)
        near = np.argmin(((corners[:, None, :] - pts[None, :, :2]) ** 2).sum(-1), axis=1)
        cd = pts[near, 2]
        extra = [np.column_stack([corners, cd])]
        # the right corners shifted by their disparity, so that the right view's
        # triangulation (at u - d) also reaches its right border
        extra.append(np.column_stack([corners[2:, 0] + cd[2:], corners[2:, 1], cd[2:]]))
        pts = np.concatenate([pts, *extra]).astype(np.int32)
    return pts


# ---------------------------------------------------------------------------------- prior


def _planes(xy: np.ndarray, d: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """(T, 3) planes d = a x + b y + c through the triangles' vertices (NaN when degenerate)."""
    p = np.concatenate([xy.astype(np.float64), d[:, None].astype(np.float64)], axis=1)[tri]  # (T, 3, 3)
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    with np.errstate(divide="ignore", invalid="ignore"):  # degenerate triangles: NaN, dropped below
        a = -n[:, 0] / n[:, 2]
        b = -n[:, 1] / n[:, 2]
        c = p[:, 0, 2] - a * p[:, 0, 0] - b * p[:, 0, 1]
    out = np.stack([a, b, c], axis=1)
    out[~np.isfinite(out).all(axis=1)] = np.nan
    return out


@njit(cache=True)
def _rasterise(xy, tri, planes, valid, h, w):
    """Per pixel of a (h, w) view: the prior mean mu (NaN outside every triangle) and whether
    its triangle carries a plane prior."""
    mu = np.full((h, w), np.nan, np.float32)
    has_prior = np.zeros((h, w), np.bool_)
    for t in range(tri.shape[0]):
        a, b, c = planes[t, 0], planes[t, 1], planes[t, 2]
        if not np.isfinite(a):
            continue
        x0, y0 = xy[tri[t, 0], 0], xy[tri[t, 0], 1]
        x1, y1 = xy[tri[t, 1], 0], xy[tri[t, 1], 1]
        x2, y2 = xy[tri[t, 2], 0], xy[tri[t, 2], 1]
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if area == 0:
            continue
        eps = 1e-6 * abs(area)
        for y in range(max(0, int(np.ceil(min(y0, y1, y2)))), min(h, int(np.floor(max(y0, y1, y2))) + 1)):
            for x in range(max(0, int(np.ceil(min(x0, x1, x2)))), min(w, int(np.floor(max(x0, x1, x2))) + 1)):
                e0 = ((x1 - x) * (y2 - y) - (x2 - x) * (y1 - y)) * area
                e1 = ((x2 - x) * (y0 - y) - (x0 - x) * (y2 - y)) * area
                e2 = ((x0 - x) * (y1 - y) - (x1 - x) * (y0 - y)) * area
                if e0 >= -eps and e1 >= -eps and e2 >= -eps:
                    mu[y, x] = a * x + b * y + c
                    has_prior[y, x] = valid[t]
    return mu, has_prior


def _candidate_lists(x: np.ndarray, v: np.ndarray, d: np.ndarray, h: int, w: int, ndisp: int,
                     grid_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per ``grid_size`` cell: the disparities d-1, d, d+1 of the support points in it and in
    the 8 cells around (counts (gh, gw), lists (gh, gw, K) ascending)."""
    gh, gw = -(-h // grid_size), -(-w // grid_size)
    mask = np.zeros((gh + 2, gw + 2, ndisp + 2), bool)  # one cell / disparity of margin each side
    gx, gy = np.floor(x / grid_size).astype(int), np.floor(v / grid_size).astype(int)
    inside = (gx >= 0) & (gx < gw) & (gy >= 0) & (gy < gh)
    for dd in (-1, 0, 1):
        dk = np.clip(d[inside] + dd, -1, ndisp)
        mask[gy[inside] + 1, gx[inside] + 1, dk + 1] = True
    grown = np.zeros_like(mask)
    for oy in (-1, 0, 1):
        for ox in (-1, 0, 1):
            grown[1:-1, 1:-1] |= mask[1 + oy : gh + 1 + oy, 1 + ox : gw + 1 + ox]
    grown = grown[1:-1, 1:-1, 1:-1]  # disparities 0 .. ndisp-1
    counts = grown.sum(-1).astype(np.int32)
    k = max(1, int(counts.max()))
    lists = np.argsort(~grown, axis=-1, kind="stable")[..., :k].astype(np.int32)
    return counts, lists


# ---------------------------------------------------------------------------------- dense matching


@njit(cache=True)
def _energy(d1p, d2, v, uw, d, dp, radius, prior, P):
    e = _sad(d1p, d2[v, uw])
    if prior and abs(d - dp) <= radius:
        e += P[abs(d - dp)]
    return e


@njit(cache=True)
def _dense(d1, d2, sign, mu, has_prior, counts, lists, grid_size, dmin, dmax, radius, P,
           match_texture, subpixel):
    """Minimum-energy disparity per pixel of the view of ``d1`` (NaN: no prior or no texture)."""
    h, w = d1.shape[0], d1.shape[1]
    out = np.full((h, w), np.nan, np.float32)
    win = 2
    for v in range(h):
        for u in range(win, w - win):
            m = mu[v, u]
            if not np.isfinite(m):
                continue
            d1p = d1[v, u]
            if _texture(d1p) < match_texture:
                continue
            dp = int(np.floor(m + 0.5))
            if (sign < 0 and u - dp < win) or (sign > 0 and u + dp >= w - win):
                continue  # the prior puts the correspondence outside the other image
            lo, hi = max(dp - radius, dmin), min(dp + radius, dmax)
            prior = has_prior[v, u]
            best, best_d = 1 << 30, -1
            ci, cj = v // grid_size, u // grid_size
            for k in range(counts[ci, cj]):
                d = lists[ci, cj, k]
                if d < dmin or (d >= lo and d <= hi):
                    continue
                uw = u + sign * d
                if uw < win or uw >= w - win:
                    continue
                e = _sad(d1p, d2[v, uw])
                if e < best:
                    best, best_d = e, d
            for d in range(lo, hi + 1):
                uw = u + sign * d
                if uw < win or uw >= w - win:
                    continue
                e = _energy(d1p, d2, v, uw, d, dp, radius, prior, P)
                if e < best:
                    best, best_d = e, d
            if best_d < 0:
                continue
            val = np.float32(best_d)
            if subpixel and best_d > dmin and best_d < dmax:
                um, up = u + sign * (best_d - 1), u + sign * (best_d + 1)
                if um >= win and um < w - win and up >= win and up < w - win:
                    em = _energy(d1p, d2, v, um, best_d - 1, dp, radius, prior, P)
                    ep = _energy(d1p, d2, v, up, best_d + 1, dp, radius, prior, P)
                    den = em - 2 * best + ep
                    if den > 0:
                        val += np.float32(min(0.5, max(-0.5, 0.5 * (em - ep) / den)))
            out[v, u] = val
    return out


def dense_disparity(d1: np.ndarray, d2: np.ndarray, sign: int, xy: np.ndarray, d: np.ndarray, tri: np.ndarray,
                    p: ElasParams, dmin: int, dmax: int, P: np.ndarray, radius: int) -> np.ndarray:
    """Dense matching of one view (descriptors ``d1``) against the other (``d2``, at
    x + ``sign`` * d) under the prior of the support points ``xy`` (in this view's coordinates)
    with disparities ``d`` and triangles ``tri``: the disparity map, NaN where unmatched. ``P``
    is the prior's cost by |d - mu| and ``radius`` the band searched around mu."""
    h, w = d1.shape[:2]
    planes = _planes(xy, d, tri)
    # the same triangles' planes in the other view (x' = x + sign * d): bridging triangles are
    # steep in one of the two
    other = _planes(np.column_stack([xy[:, 0] + sign * d, xy[:, 1]]), d, tri)
    with np.errstate(invalid="ignore"):
        ok = (np.abs(planes[:, 0]) < p.max_slope) & (np.abs(other[:, 0]) < p.max_slope)
    mu, has_prior = _rasterise(xy.astype(np.float64), tri.astype(np.int32), planes, ok, h, w)
    counts, lists = _candidate_lists(xy[:, 0], xy[:, 1], d, h, w, dmax + 1, p.grid_size)
    disp = _dense(d1, d2, sign, mu, has_prior, counts, lists, p.grid_size, dmin, dmax, radius, P,
                  p.match_texture, p.subpixel)
    return disp


# ---------------------------------------------------------------------------------- post-processing


@njit(cache=True)
def _fill_gaps_1d(D, max_gap, discontinuity):
    """Along each row of D: holes of 1..max_gap px between two values get their mean when the
    two agree within ``discontinuity`` px, else the smaller (the background's)."""
    h, w = D.shape
    filled = np.zeros((h, w), np.bool_)
    for v in range(h):
        count = 0
        for u in range(w):
            if not np.isfinite(D[v, u]):
                count += 1
                continue
            if 1 <= count <= max_gap and u - count - 1 >= 0:
                a, b = D[v, u - count - 1], D[v, u]
                fill = (a + b) / 2 if abs(a - b) < discontinuity else min(a, b)
                for k in range(u - count, u):
                    D[v, k] = fill
                    filled[v, k] = True
            count = 0
    return filled


def fill_gaps(disp: np.ndarray, max_gap: int, discontinuity: float = 3.0) -> np.ndarray:
    """Rows then columns of :func:`_fill_gaps_1d` (libelas's gap interpolation); returns the
    filled copy."""
    D = disp.copy()
    _fill_gaps_1d(D, max_gap, discontinuity)
    Dt = np.ascontiguousarray(D.T)
    _fill_gaps_1d(Dt, max_gap, discontinuity)
    return Dt.T.copy()


@njit(cache=True)
def _adaptive_mean_rows(D):
    """Each value becomes the weighted mean of the values at offsets -4..+3 along its row,
    weights max(0, 4 - |d_k - d|) (libelas's approximation of a bilateral filter: values more
    than 4 px apart, across a depth edge, do not mix)."""
    h, w = D.shape
    out = D.copy()
    for v in range(h):
        for u in range(w):
            d = D[v, u]
            if not np.isfinite(d):
                continue
            ws, fs = 0.0, 0.0
            for k in range(max(0, u - 4), min(w, u + 4)):
                dk = D[v, k]
                if np.isfinite(dk):
                    wk = max(0.0, 4.0 - abs(dk - d))
                    ws += wk
                    fs += wk * dk
            out[v, u] = fs / ws
    return out


def adaptive_mean(disp: np.ndarray) -> np.ndarray:
    """:func:`_adaptive_mean_rows` along rows, then columns; holes stay holes."""
    rows = _adaptive_mean_rows(disp.astype(np.float32))
    return np.ascontiguousarray(_adaptive_mean_rows(np.ascontiguousarray(rows.T)).T)


def median3(disp: np.ndarray) -> np.ndarray:
    """3x3 median (``cv2.medianBlur``) where all nine pixels have a value; others unchanged."""
    ok = np.isfinite(disp)
    full = cv2.erode(ok.astype(np.uint8), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    med = cv2.medianBlur(np.where(ok, disp, 0).astype(np.float32), 3)
    return np.where(full, med, disp).astype(np.float32)


def remove_small_segments(disp: np.ndarray, max_size: int, max_diff: float) -> np.ndarray:
    """True for pixels in connected regions under ``max_size`` px whose neighbours differ by at
    most ``max_diff`` (``cv2.filterSpeckles`` on 1/16 px fixed point)."""
    bad = -16
    d16 = np.where(np.isfinite(disp), np.rint(disp * 16), bad).astype(np.int16)
    kept = d16.copy()
    cv2.filterSpeckles(kept, bad, max_size, int(round(max_diff * 16)))
    return (kept == bad) & (d16 != bad)


# ---------------------------------------------------------------------------------- driver


def triangles(xy: np.ndarray) -> np.ndarray:
    """(T, 3) vertex indices of the Delaunay triangles of the points ``xy``; none when they
    cannot be triangulated (fewer than three, or all on a line)."""
    from scipy.spatial import Delaunay, QhullError  # a heavy import, needed only here

    try:
        return Delaunay(xy).simplices
    except (QhullError, ValueError):
        return np.zeros((0, 3), np.int32)


def elas_disparity(left_gray: np.ndarray, right_gray: np.ndarray, num_disparities: int, min_disparity: int = 0,
                   params: ElasParams | None = None, lr_max_diff: float | None = 2.0,
                   speckle_window: int = 200, speckle_range: float = 1.0) -> tuple[np.ndarray, np.ndarray, dict]:
    """ELAS on a rectified uint8 gray pair: (disparity of the left view in px with NaN where
    rejected, the dense matcher's map before post-processing, masks of the pixels each stage
    rejected). ``lr_max_diff`` None skips the left-right check (then the right view is not
    matched); ``speckle_window`` 0 skips small-segment removal. A pair without support points
    (no texture, no unique match) gives a map without values."""
    p = params or ElasParams()
    if left_gray.shape != right_gray.shape or left_gray.ndim != 2:
        raise ValueError(f"ELAS needs two gray images of one size, got {left_gray.shape} and {right_gray.shape}")
    if min_disparity < 0 or num_disparities < 1:
        raise ValueError(f"ELAS searches disparities >= 0, got {num_disparities} from {min_disparity}")
    dmin, dmax = int(min_disparity), int(min_disparity + num_disparities - 1)
    dl, dr = descriptors(left_gray), descriptors(right_gray)
    # support points are checked with the dense map's left-right tolerance (libelas's 2 px
    # when that check is off)
    pts = support_points(dl, dr, dmin, dmax, p, 2.0 if lr_max_diff is None else lr_max_diff)
    masks: dict[str, np.ndarray] = {}
    radius = int(max(np.ceil(p.sigma * p.sradius), 2))
    delta = np.arange(dmax + 2, dtype=np.float64)
    P = ((-np.log(p.gamma + np.exp(-(delta**2) / (2 * p.sigma**2))) + np.log(p.gamma)) / p.beta).astype(np.int32)
    uv, d = pts[:, :2].astype(np.float64), pts[:, 2]
    left = dense_disparity(dl, dr, -1, uv, d, triangles(uv), p, dmin, dmax, P, radius)
    raw = left.copy()
    masks["matcher"] = ~np.isfinite(left)
    rejected = masks["matcher"].copy()
    if lr_max_diff is not None:
        ruv = np.column_stack([uv[:, 0] - d, uv[:, 1]])  # the support points seen from the right
        right = dense_disparity(dr, dl, 1, ruv, d, triangles(ruv), p, dmin, dmax, P, radius)
        masks["lr_check"] = ~rejected & ~lr_consistent(left, right, lr_max_diff)
        rejected |= masks["lr_check"]
    disp = np.where(rejected, np.nan, left).astype(np.float32)
    if speckle_window > 0:
        masks["speckle"] = remove_small_segments(disp, speckle_window, speckle_range)
        disp[masks["speckle"]] = np.nan
    if p.gap_width > 0:
        disp = fill_gaps(disp, p.gap_width)
    if p.adaptive_mean:
        disp = adaptive_mean(disp)
    if p.median:
        disp = median3(disp)
    return disp, raw, masks
