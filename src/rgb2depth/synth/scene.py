"""Scene geometry for the synthetic generator: triangle soups with per-corner normals and UVs,
primitives (planes, boxes, cylinders/cones, spheres), furniture, room layouts and lights.

Issue 7 ("What it renders"): a room (floor, walls, ceiling, door and window *openings* cut
into the walls, with reveals; an open door shows a corridor behind it, a window an outdoor
backdrop) filled with furniture (tables, chairs, shelves with books, beds, sofas, cabinets,
desks, TV stands, box stacks, plants, lamps, bins, rugs, pictures, curtains) and clutter on
their top surfaces. Layouts are random but physical: every object stands on the floor or on a
support surface (gravity), and footprints never overlap (2D oriented-rectangle separating-axis
test on the floor plan, and the same per support surface); doors keep a clear zone and tall
objects never stand in front of a window.

World frame: metres, z up, the floor at z = 0, the room spanning [0, X] x [0, Y] x [0, H].
Cameras use the OpenCV frame (x right, y down, z forward); poses are camera-to-world.

Geometry is hand-built as numpy triangle soups (vertices per triangle corner) because the
renderer (open3d's Embree ray caster) needs only triangles, and building them in numpy is
~100x faster than creating thousands of small open3d meshes per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .textures import Material, random_material

# ----------------------------------------------------------------------------- meshes


def yaw_matrix(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _box_template():
    """Unit-cube triangles: corners (12, 3, 3) in [-0.5, 0.5], normals (12, 3), the two in-face
    axes per triangle. The bottom face (-z) comes first so it can be skipped."""
    corners, normals, ai, aj = [], [], [], []
    for k, sgn in ((2, -1.0), (2, 1.0), (0, -1.0), (0, 1.0), (1, -1.0), (1, 1.0)):
        i, j = [a for a in range(3) if a != k]
        q = np.zeros((4, 3))
        q[:, k] = 0.5 * sgn
        q[:, i] = [-0.5, 0.5, 0.5, -0.5]
        q[:, j] = [-0.5, -0.5, 0.5, 0.5]
        n = np.zeros(3)
        n[k] = sgn
        for tri in ((0, 1, 2), (0, 2, 3)):
            corners.append(q[list(tri)])
            normals.append(n)
            ai.append(i)
            aj.append(j)
    return np.array(corners), np.array(normals), np.array(ai), np.array(aj)


_BOX_TEMPLATE = _box_template()
_QIDX = np.array([[0, 1, 2], [0, 2, 3]])
_ROWS, _COLS = np.arange(12)[:, None], np.arange(3)[None, :]


class MeshBuilder:
    """Accumulates triangles with per-corner normals and UVs (metres), a material index and an
    object index per triangle."""

    def __init__(self) -> None:
        self._corners: list[np.ndarray] = []
        self._normals: list[np.ndarray] = []
        self._uvs: list[np.ndarray] = []
        self._mat: list[tuple[int, int, int]] = []  # (triangle count, material, object)
        self.n_objects = 0

    def new_object(self) -> int:
        self.n_objects += 1
        return self.n_objects - 1

    def add(self, corners, normals, uvs, material: int, obj: int | None = None) -> None:
        n = len(corners)
        self._corners.append(corners)
        self._normals.append(normals)
        self._uvs.append(uvs)
        self._mat.append((n, material, self.new_object() if obj is None else obj))

    # -- primitives ---------------------------------------------------------------------------
    def quad(self, p0, eu, ev, material: int, obj: int | None = None, uv0=(0.0, 0.0)) -> None:
        """Rectangle p0 + s*eu + t*ev (s, t in [0, 1]); its normal is cross(eu, ev)."""
        p0, eu, ev = (np.asarray(a, np.float64) for a in (p0, eu, ev))
        n = np.array([eu[1] * ev[2] - eu[2] * ev[1], eu[2] * ev[0] - eu[0] * ev[2], eu[0] * ev[1] - eu[1] * ev[0]])
        n /= math.sqrt(n @ n)
        p = np.array([p0, p0 + eu, p0 + eu + ev, p0 + ev])
        lu, lv = math.sqrt(eu @ eu), math.sqrt(ev @ ev)
        uv = np.array([[0, 0], [lu, 0], [lu, lv], [0, lv]]) + uv0
        self.add(p[_QIDX], np.broadcast_to(n, (2, 3, 3)), uv[_QIDX], material, obj)

    def box(self, center, size, material: int, R=None, obj: int | None = None, skip_bottom: bool = False) -> None:
        """Box of full ``size`` (sx, sy, sz) centred at ``center`` with rotation ``R`` (3x3).

        UVs are in metres with u along the longer side of each face (wood grain follows it).
        Triangle winding is irrelevant: the renderer turns normals towards the viewer.
        """
        size = np.asarray(size, np.float64)
        c = np.asarray(center, np.float64)
        tc, tn, ti, tj = _BOX_TEMPLATE
        if skip_bottom:
            tc, tn, ti, tj = tc[2:], tn[2:], ti[2:], tj[2:]
        local = tc * size
        swap = size[ti] < size[tj]
        ui, vi = np.where(swap, tj, ti), np.where(swap, ti, tj)
        rows, cols = _ROWS[: len(ui)], _COLS
        uv = np.stack([local[rows, cols, ui[:, None]] + size[ui][:, None] / 2, local[rows, cols, vi[:, None]] + size[vi][:, None] / 2], -1)
        if R is None:
            corners, normals = local + c, np.repeat(tn[:, None], 3, 1)
        else:
            R = np.asarray(R, np.float64)
            corners, normals = local @ R.T + c, np.repeat((tn @ R.T)[:, None], 3, 1)
        self.add(corners, normals, uv, material, obj)

    def cylinder(self, base, r0: float, h: float, material: int, r1: float | None = None, segments: int = 20,
                 caps=(True, True), obj: int | None = None, R=None) -> None:
        """Vertical (local z) cylinder or truncated cone with smooth side normals."""
        r1 = r0 if r1 is None else r1
        R = np.eye(3) if R is None else np.asarray(R, np.float64)
        base = np.asarray(base, np.float64)
        obj = self.new_object() if obj is None else obj
        a = np.linspace(0, 2 * np.pi, segments + 1)
        ca, sa = np.cos(a), np.sin(a)
        bot = np.stack([r0 * ca, r0 * sa, np.zeros_like(a)], 1)
        top = np.stack([r1 * ca, r1 * sa, np.full_like(a, h)], 1)
        nrm = _unit(np.stack([ca, sa, np.full_like(a, (r0 - r1) / h)], 1))
        rm = 0.5 * (r0 + r1)
        i0, i1 = np.arange(segments), np.arange(1, segments + 1)
        P = lambda q: q @ R.T + base  # noqa: E731
        N = lambda q: q @ R.T  # noqa: E731
        t1 = np.stack([bot[i0], bot[i1], top[i1]], 1)
        t2 = np.stack([bot[i0], top[i1], top[i0]], 1)
        n1 = np.stack([nrm[i0], nrm[i1], nrm[i1]], 1)
        n2 = np.stack([nrm[i0], nrm[i1], nrm[i0]], 1)
        uvb = np.stack([a * rm, np.zeros_like(a)], 1)
        uvt = np.stack([a * rm, np.full_like(a, h)], 1)
        u1 = np.stack([uvb[i0], uvb[i1], uvt[i1]], 1)
        u2 = np.stack([uvb[i0], uvt[i1], uvt[i0]], 1)
        self.add(P(np.concatenate([t1, t2])), N(np.concatenate([n1, n2])), np.concatenate([u1, u2]), material, obj)
        for cap, ring, zc, nz in ((caps[0], bot, 0.0, -1.0), (caps[1], top, h, 1.0)):
            if not cap:
                continue
            ctr = np.array([0.0, 0.0, zc])
            if nz > 0:
                tri = np.stack([np.broadcast_to(ctr, (segments, 3)), ring[i0], ring[i1]], 1)
            else:
                tri = np.stack([np.broadcast_to(ctr, (segments, 3)), ring[i1], ring[i0]], 1)
            nn = np.broadcast_to(np.array([0, 0, nz]), tri.shape)
            self.add(P(tri), N(nn), tri[..., :2], material, obj)

    def sphere(self, center, radii, material: int, nlat: int = 8, nlon: int = 14, obj: int | None = None) -> None:
        """Ellipsoid with semi-axes ``radii`` (smooth normals)."""
        obj = self.new_object() if obj is None else obj
        c = np.asarray(center, np.float64)
        rad = np.broadcast_to(np.asarray(radii, np.float64), (3,))
        th = np.linspace(0, np.pi, nlat + 1)
        ph = np.linspace(0, 2 * np.pi, nlon + 1)
        T, P = np.meshgrid(th, ph, indexing="ij")
        unit = np.stack([np.sin(T) * np.cos(P), np.sin(T) * np.sin(P), np.cos(T)], -1)
        pts = unit * rad + c
        nrm = _unit(unit / rad)
        uv = np.stack([P * rad[0], T * rad[2]], -1)
        a, b = np.meshgrid(np.arange(nlat), np.arange(nlon), indexing="ij")
        a, b = a.ravel(), b.ravel()
        tri1 = [(a, b), (a + 1, b), (a + 1, b + 1)]
        tri2 = [(a, b), (a + 1, b + 1), (a, b + 1)]
        for tri in (tri1, tri2):
            idx = [(i, j) for i, j in tri]
            cs = np.stack([pts[i, j] for i, j in idx], 1)
            ns = np.stack([nrm[i, j] for i, j in idx], 1)
            us = np.stack([uv[i, j] for i, j in idx], 1)
            area = np.linalg.norm(np.cross(cs[:, 1] - cs[:, 0], cs[:, 2] - cs[:, 0]), axis=1)
            keep = area > 1e-12  # drop degenerate triangles at the poles
            self.add(cs[keep], ns[keep], us[keep], material, obj)

    def build(self) -> dict:
        if not self._corners:
            raise ValueError("empty scene: no triangles")
        counts = np.array([c for c, _, _ in self._mat])
        return {
            "corners": np.concatenate(self._corners, dtype=np.float32).reshape(-1, 3, 3),
            "normals": np.concatenate(self._normals, dtype=np.float32).reshape(-1, 3, 3),
            "uvs": np.concatenate(self._uvs, dtype=np.float32).reshape(-1, 3, 2),
            "material": np.repeat(np.array([m for _, m, _ in self._mat], np.int32), counts),
            "object": np.repeat(np.array([o for _, _, o in self._mat], np.int32), counts),
        }


@dataclass
class Light:
    """A point light; ``radius`` > 0 makes it a horizontal disc (shadow rays jittered over it:
    soft shadows)."""

    position: np.ndarray
    color: np.ndarray  # linear RGB radiant intensity
    radius: float = 0.05


@dataclass
class Scene:
    """Triangles plus materials, lights and what cameras need to know about free space."""

    mesh: dict
    materials: list[Material]
    lights: list[Light]
    ambient: np.ndarray
    room: tuple[float, float, float] | None = None  # (X, Y, H)
    obstacles: list = field(default_factory=list)  # floor-plan OBBs (cx, cy, hx, hy, yaw, height)
    content_from: int = 0  # object ids >= this are furniture, clutter and pictures (not structure)

    @classmethod
    def from_builder(cls, mb: MeshBuilder, materials, lights=None, ambient=(0.3, 0.3, 0.3), **kw) -> Scene:
        return cls(mb.build(), list(materials), list(lights or []), np.asarray(ambient, np.float32), **kw)


# ----------------------------------------------------------------------------- floor plan


def _obb_corners(o) -> np.ndarray:
    return np.array(_corners2d(o))


def _corners2d(o) -> list[tuple[float, float]]:
    cx, cy, hx, hy, yaw = o[:5]
    c, s = math.cos(yaw), math.sin(yaw)
    ax, ay, bx, by = c * hx, s * hx, -s * hy, c * hy
    return [(cx + ax + bx, cy + ay + by), (cx - ax + bx, cy - ay + by), (cx - ax - bx, cy - ay - by), (cx + ax - bx, cy + ay - by)]


def obb_overlap(a, b, margin: float = 0.0) -> bool:
    """Separating-axis test of two floor-plan rectangles (cx, cy, hx, hy, yaw, ...); ``a`` is
    grown by ``margin``. Touching rectangles do not overlap. (Plain floats: this runs thousands
    of times per room, where numpy's per-call overhead dominates.)"""
    a = (a[0], a[1], a[2] + margin, a[3] + margin, a[4])
    ca, cb = _corners2d(a), _corners2d(b)
    for o in (a, b):
        c, s = math.cos(o[4]), math.sin(o[4])
        for ux, uy in ((c, s), (-s, c)):
            pa = [x * ux + y * uy for x, y in ca]
            pb = [x * ux + y * uy for x, y in cb]
            if max(pa) <= min(pb) or max(pb) <= min(pa):
                return False
    return True


def _inside(o, X: float, Y: float, margin: float = 0.0) -> bool:
    return all(margin <= x <= X - margin and margin <= y <= Y - margin for x, y in _corners2d(o))


# ----------------------------------------------------------------------------- furniture
# Each maker returns (parts, (width, depth), height, surfaces, lights) in a local frame: origin at
# the floor centre of the footprint, x across, y depth with the FRONT facing +y, z up.
# part: ("box", center, size, role) | ("cyl", base, r0, r1, h, role) | ("sph", center, radii, role)
# surface: (cx, cy, w, d, z, clearance) for clutter.


def _table(rng, against_wall=False):
    w, d = rng.uniform(0.8, 1.8), rng.uniform(0.6, 1.0)
    if against_wall:
        w, d = rng.uniform(1.0, 1.6), rng.uniform(0.55, 0.75)
    h, t = rng.uniform(0.72, 0.77), rng.uniform(0.025, 0.05)
    parts = [("box", (0, 0, h - t / 2), (w, d, t), "wood")]
    ins = 0.06
    round_legs = rng.random() < 0.4
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (w / 2 - ins), sy * (d / 2 - ins)
            if round_legs:
                parts.append(("cyl", (x, y, 0), 0.022, 0.018, h - t, "wood"))
            else:
                parts.append(("box", (x, y, (h - t) / 2), (0.05, 0.05, h - t), "wood"))
    surfaces = [(0, 0, w - 0.08, d - 0.08, h, 0.5)]
    return parts, (w, d), h, surfaces, []


def _chair(rng):
    w, d = rng.uniform(0.42, 0.5), rng.uniform(0.42, 0.5)
    sh, t = rng.uniform(0.43, 0.47), 0.04
    role = "wood" if rng.random() < 0.6 else "plastic"
    parts = [("box", (0, 0, sh - t / 2), (w, d, t), role)]
    if rng.random() < 0.5:
        parts.append(("box", (0, 0.01, sh + 0.025), (w - 0.04, d - 0.06, 0.05), "fabric"))
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(("box", (sx * (w / 2 - 0.03), sy * (d / 2 - 0.03), (sh - t) / 2), (0.035, 0.035, sh - t), role))
    bh = rng.uniform(0.35, 0.5)
    parts.append(("box", (0, -d / 2 + 0.02, sh + bh / 2), (w, 0.03, bh), role))
    return parts, (w, d), sh + bh, [], []


def _shelf(rng):
    w, d, h = rng.uniform(0.6, 1.2), rng.uniform(0.28, 0.4), rng.uniform(1.0, 2.0)
    t = 0.02
    parts = [
        ("box", (-w / 2 + t / 2, 0, h / 2), (t, d, h), "wood"),
        ("box", (w / 2 - t / 2, 0, h / 2), (t, d, h), "wood"),
        ("box", (0, -d / 2 + 0.005, h / 2), (w, 0.01, h), "wood"),
        ("box", (0, 0, h - t / 2), (w, d, t), "wood"),
        ("box", (0, 0, 0.05), (w, d, 0.1), "wood"),
    ]
    n = max(2, int(round((h - 0.1) / rng.uniform(0.3, 0.4))))
    zs = np.linspace(0.1, h - t, n + 1)
    for z in zs[1:-1]:
        parts.append(("box", (0, 0, z), (w - 2 * t, d - 0.01, t), "wood"))
    # books standing on each level
    for z0, z1 in zip(zs[:-1], zs[1:], strict=True):
        z0 = z0 + (t / 2 if z0 > 0.1 else 0)
        gap = z1 - t / 2 - z0
        x = -w / 2 + t + rng.uniform(0, 0.1)
        while x < w / 2 - t - 0.05:
            if rng.random() < 0.15:
                x += rng.uniform(0.05, 0.2)
                continue
            bw = rng.uniform(0.015, 0.05)
            bh = min(gap - 0.02, rng.uniform(0.15, 0.3))
            bd = min(d - 0.03, rng.uniform(0.13, 0.24))
            if x + bw > w / 2 - t or bh < 0.08:
                break
            parts.append(("box", (x + bw / 2, -d / 2 + 0.015 + bd / 2, z0 + bh / 2), (bw, bd, bh), "books"))
            x += bw + rng.uniform(0.0, 0.004)
    surfaces = [(0, 0, w - 0.05, d - 0.05, h, 0.4)] if h < 1.6 else []
    return parts, (w, d), h, surfaces, []


def _bed(rng):
    w, ln = rng.choice([rng.uniform(0.9, 1.0), rng.uniform(1.4, 1.8)]), rng.uniform(1.95, 2.1)
    fh, mh = rng.uniform(0.22, 0.35), rng.uniform(0.15, 0.25)
    hb = rng.uniform(0.9, 1.1)
    parts = [
        ("box", (0, 0, fh / 2), (w, ln, fh), "wood"),
        ("box", (0, 0.0, fh + mh / 2), (w - 0.04, ln - 0.04, mh), "white"),
        ("box", (0, -ln / 2 + 0.03, hb / 2), (w, 0.06, hb), "wood"),
        ("box", (0, 0.25, fh + mh + 0.015), (w + 0.02, ln - 0.5, 0.05), "fabric"),
    ]
    npl = 1 if w < 1.2 else 2
    for k in range(npl):
        x = 0 if npl == 1 else (k - 0.5) * w / 2
        parts.append(("box", (x, -ln / 2 + 0.3, fh + mh + 0.06), (min(0.6, w / npl - 0.08), 0.38, 0.12), "white"))
    return parts, (w, ln), 1.1, [], []


def _sofa(rng, armchair=False):
    w = rng.uniform(0.75, 0.95) if armchair else rng.uniform(1.5, 2.3)
    d, bh = rng.uniform(0.8, 0.95), rng.uniform(0.75, 0.9)
    a = rng.uniform(0.1, 0.2)
    parts = [
        ("box", (0, 0, 0.22), (w, d, 0.3), "fabric"),
        ("box", (0, -d / 2 + 0.1, bh / 2 + 0.04), (w, 0.2, bh - 0.08), "fabric"),
        ("box", (-w / 2 + a / 2, 0, 0.32), (a, d, 0.5), "fabric"),
        ("box", (w / 2 - a / 2, 0, 0.32), (a, d, 0.5), "fabric"),
    ]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(("cyl", (sx * (w / 2 - 0.05), sy * (d / 2 - 0.05), 0), 0.02, 0.015, 0.07, "wood"))
    n = 1 if armchair else int(rng.integers(2, 4))
    cw = (w - 2 * a) / n
    for k in range(n):
        parts.append(("box", (-w / 2 + a + cw * (k + 0.5), 0.08, 0.43), (cw - 0.01, d - 0.25, 0.12), "fabric"))
    return parts, (w, d), bh, [], []


def _cabinet(rng):
    w, d, h = rng.uniform(0.6, 1.3), rng.uniform(0.4, 0.55), rng.uniform(0.7, 1.2)
    parts = [("box", (0, 0, h / 2 + 0.04), (w, d, h - 0.08), "wood"), ("box", (0, 0, 0.02), (w - 0.04, d - 0.04, 0.04), "wood")]
    rows = int(rng.integers(2, 5))
    cols = 1 if w < 0.8 else 2
    rh, cw = (h - 0.12) / rows, (w - 0.04) / cols
    for r in range(rows):
        for c in range(cols):
            x, z = -w / 2 + 0.02 + cw * (c + 0.5), 0.08 + rh * (r + 0.5)
            parts.append(("box", (x, d / 2 + 0.008, z), (cw - 0.01, 0.016, rh - 0.01), "wood"))
            parts.append(("box", (x, d / 2 + 0.025, z + rh * 0.2), (0.1, 0.02, 0.015), "metal"))
    return parts, (w, d + 0.04), h, [(0, 0, w - 0.05, d - 0.05, h, 0.5)], []


def _desk(rng):
    parts, (w, d), h, _, _ = _table(rng, against_wall=True)
    sw, sh = rng.uniform(0.45, 0.65), rng.uniform(0.28, 0.4)
    parts += [
        ("box", (0, -d / 2 + 0.15, h + 0.005), (0.2, 0.15, 0.01), "plastic"),
        ("box", (0, -d / 2 + 0.16, h + 0.1), (0.04, 0.02, 0.2), "plastic"),
        ("box", (0, -d / 2 + 0.14, h + 0.12 + sh / 2), (sw, 0.03, sh), "screen"),
        ("box", (0, -d / 2 + 0.4, h + 0.012), (0.42, 0.14, 0.024), "plastic"),
    ]
    return parts, (w, d), h + 0.5, [], []


def _tv_stand(rng):
    w, d, h = rng.uniform(1.0, 1.8), rng.uniform(0.35, 0.45), rng.uniform(0.4, 0.55)
    tw = min(w - 0.1, rng.uniform(0.9, 1.4))
    th = tw * 9 / 16
    parts = [
        ("box", (0, 0, h / 2), (w, d, h), "wood"),
        ("box", (0, -0.02, h + 0.01), (0.3, 0.2, 0.02), "plastic"),
        ("box", (0, -0.05, h + 0.06), (0.06, 0.04, 0.1), "plastic"),
        ("box", (0, -0.05, h + 0.1 + th / 2), (tw, 0.05, th), "screen"),
    ]
    return parts, (w, d), h + 0.1 + th, [], []


def _boxes(rng):
    parts, z = [], 0.0
    bw, bd = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.6)
    for _ in range(int(rng.integers(1, 4))):
        bh = rng.uniform(0.2, 0.5)
        parts.append(("box", (rng.uniform(-0.03, 0.03), rng.uniform(-0.03, 0.03), z + bh / 2), (bw, bd, bh), "cardboard"))
        z += bh
        bw, bd = bw * rng.uniform(0.7, 0.95), bd * rng.uniform(0.7, 0.95)
    return parts, (bw / rng.uniform(0.7, 0.95) ** 3 + 0.08, bd / 0.6 + 0.08), z, [], []


def _plant(rng):
    r, h = rng.uniform(0.12, 0.22), rng.uniform(0.25, 0.45)
    fr = rng.uniform(0.25, 0.45)
    parts = [("cyl", (0, 0, 0), r * 0.8, r, h, "plastic"), ("sph", (0, 0, h + fr * 0.8), (fr, fr, fr * 1.2), "foliage")]
    if rng.random() < 0.5:
        parts.append(("sph", (fr * 0.4, -fr * 0.3, h + fr * 1.6), (fr * 0.6,) * 3, "foliage"))
    s = 2 * max(fr, r) + 0.05
    return parts, (s, s), h + fr * 2.5, [], []


def _floor_lamp(rng):
    h = rng.uniform(1.4, 1.75)
    sr = rng.uniform(0.15, 0.22)
    parts = [("cyl", (0, 0, 0), 0.14, 0.12, 0.03, "metal"), ("cyl", (0, 0, 0.03), 0.012, 0.012, h - 0.25, "metal"),
             ("cyl", (0, 0, h - 0.28), sr * 1.3, sr * 0.8, 0.28, "white")]
    light = ((0, 0, h - 0.33), 0.35)
    return parts, (2 * sr * 1.3, 2 * sr * 1.3), h, [], [light]


def _bin(rng):
    r, h = rng.uniform(0.12, 0.2), rng.uniform(0.3, 0.6)
    return [("cyl", (0, 0, 0), r, r * 1.05, h, rng.choice(["plastic", "metal"]))], (2 * r + 0.03, 2 * r + 0.03), h, [], []


def _clutter_item(rng, max_h: float):
    """A small object for a support surface: (parts, (w, d), h)."""
    k = rng.choice(["books", "cup", "bottle", "vase", "bowl", "ball", "box", "lamp"])
    if k == "books":
        parts, z = [], 0.0
        w, d = rng.uniform(0.15, 0.25), rng.uniform(0.2, 0.3)
        for _ in range(int(rng.integers(1, 5))):
            t = rng.uniform(0.02, 0.05)
            parts.append(("box", (rng.uniform(-0.01, 0.01), 0, z + t / 2), (w, d, t), "books"))
            z += t
        return parts, (w + 0.02, d), z
    if k == "cup":
        r = rng.uniform(0.035, 0.05)
        return [("cyl", (0, 0, 0), r * 0.8, r, rng.uniform(0.08, 0.11), "clutter")], (2 * r, 2 * r), 0.11
    if k == "bottle":
        r, h = rng.uniform(0.03, 0.045), rng.uniform(0.18, 0.3)
        return [("cyl", (0, 0, 0), r, r, h * 0.7, "clutter"), ("cyl", (0, 0, h * 0.7), r, 0.012, h * 0.3, "clutter")], (2 * r, 2 * r), h
    if k == "vase":
        r, h = rng.uniform(0.05, 0.09), rng.uniform(0.15, 0.35)
        return [("cyl", (0, 0, 0), r * 0.7, r, h, "clutter")], (2 * r, 2 * r), h
    if k == "bowl":
        r = rng.uniform(0.08, 0.14)
        return [("cyl", (0, 0, 0), r * 0.6, r, rng.uniform(0.05, 0.08), "clutter")], (2 * r, 2 * r), 0.08
    if k == "ball":
        r = rng.uniform(0.04, 0.1)
        return [("sph", (0, 0, r), (r, r, r), "clutter")], (2 * r, 2 * r), 2 * r
    if k == "box":
        w, d, h = rng.uniform(0.08, 0.3), rng.uniform(0.08, 0.25), rng.uniform(0.05, 0.2)
        return [("box", (0, 0, h / 2), (w, d, h), "cardboard" if rng.random() < 0.5 else "clutter")], (w, d), h
    # table lamp
    h = min(max_h, rng.uniform(0.35, 0.5))
    r = rng.uniform(0.09, 0.14)
    return [("cyl", (0, 0, 0), 0.07, 0.06, 0.025, "metal"), ("cyl", (0, 0, 0.025), 0.01, 0.01, h - 0.2, "metal"),
            ("cyl", (0, 0, h - 0.18), r * 1.3, r * 0.8, 0.18, "white")], (2 * r * 1.3, 2 * r * 1.3), h


WALL_ITEMS = {"shelf": _shelf, "bed": _bed, "sofa": _sofa, "cabinet": _cabinet, "desk": _desk, "tv_stand": _tv_stand}
FREE_ITEMS = {"boxes": _boxes, "plant": _plant, "floor_lamp": _floor_lamp, "bin": _bin, "armchair": lambda r: _sofa(r, True)}


# ----------------------------------------------------------------------------- room layout


@dataclass
class _Wall:
    origin: np.ndarray  # interior corner where s = 0
    along: np.ndarray  # unit vector along the wall
    inward: np.ndarray  # unit normal into the room
    length: float
    openings: list = field(default_factory=list)  # (s0, s1, z0, z1, kind)


class RoomBuilder:
    """Random room + furniture + lights, written into a MeshBuilder."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.mb = MeshBuilder()
        self.materials: list[Material] = []
        self._roles: dict[str, int] = {}
        self.obstacles: list = []  # floor-plan OBBs of placed objects (cx, cy, hx, hy, yaw, height)
        self.keepout: list = []  # door clearance zones
        self.window_zones: list = []  # (obb, sill height)
        self.lights: list[Light] = []
        self.surfaces: list = []  # (world centre xy, w, d, yaw, z, clearance)
        self.wall_items: dict[int, list] = {}  # wall index -> [(s0, s1, height)]
        self._has_floor_lamp = False

    def mat(self, role: str) -> int:
        if role not in self._roles:
            self._roles[role] = len(self.materials)
            self.materials.append(random_material(self.rng, role))
        return self._roles[role]

    def _new_mat(self, role: str) -> int:
        self.materials.append(random_material(self.rng, role))
        return len(self.materials) - 1

    # -- structure ----------------------------------------------------------------------------
    def build(self) -> Scene:
        rng = self.rng
        X, Y = rng.uniform(3.0, 6.5), rng.uniform(3.0, 7.0)
        H = rng.uniform(2.4, 3.1)
        self.X, self.Y, self.H = X, Y, H
        self.thick = rng.uniform(0.1, 0.2)
        mf, mc = self.mat("floor"), self.mat("ceiling")
        mw = self.mat("wall")
        accent = int(rng.integers(0, 4)) if rng.random() < 0.3 else -1
        mb = self.mb
        mb.quad((0, 0, 0), (X, 0, 0), (0, Y, 0), mf)
        mb.quad((0, 0, H), (0, Y, 0), (X, 0, 0), mc)
        walls = [
            _Wall(np.array([0.0, 0, 0]), np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), X),
            _Wall(np.array([X, 0.0, 0]), np.array([0, 1.0, 0]), np.array([-1.0, 0, 0]), Y),
            _Wall(np.array([X, Y, 0.0]), np.array([-1.0, 0, 0]), np.array([0, -1.0, 0]), X),
            _Wall(np.array([0.0, Y, 0]), np.array([0, -1.0, 0]), np.array([1.0, 0, 0]), Y),
        ]
        self.walls = walls
        # openings: one or two doors, zero to three windows
        for _ in range(int(rng.integers(1, 3))):
            self._add_opening("door")
        for _ in range(int(rng.choice([0, 1, 1, 2, 2, 3]))):
            self._add_opening("window")
        mtrim = self.mat("white")
        for k, w in enumerate(walls):
            m = self._new_mat("wall") if k == accent else mw
            self._wall_with_holes(w, m)
            self._skirting(w, mtrim)
        content_from = self.mb.n_objects
        self._furnish()
        self._ceiling_lights()
        lights = self.lights
        amb = np.mean([lt.color for lt in lights], 0) / max(H, 1.0) ** 2 * rng.uniform(0.2, 0.45)
        return Scene.from_builder(mb, self.materials, lights, amb, room=(X, Y, H), obstacles=self.obstacles,
                                  content_from=content_from)

    def _add_opening(self, kind: str) -> None:
        rng = self.rng
        for _ in range(20):
            k = int(rng.integers(0, 4))
            w = self.walls[k]
            if kind == "door":
                ow, z0, z1 = rng.uniform(0.8, 1.0), 0.0, min(self.H - 0.2, rng.uniform(2.0, 2.15))
            else:
                ow = rng.uniform(0.7, min(2.2, w.length - 1.0))
                z0 = rng.uniform(0.7, 1.0)
                z1 = min(self.H - 0.2, z0 + rng.uniform(1.0, 1.6))
            if w.length < ow + 0.6:
                continue
            s0 = rng.uniform(0.3, w.length - ow - 0.3)
            if any(s0 < b + 0.3 and a < s0 + ow + 0.3 for a, b, *_ in w.openings):
                continue
            w.openings.append((s0, s0 + ow, z0, z1, kind))
            ctr = w.origin + w.along * (s0 + ow / 2)
            yaw = math.atan2(w.along[1], w.along[0])
            if kind == "door":
                zone = w.origin[:2] + w.along[:2] * (s0 + ow / 2) + w.inward[:2] * 0.6
                self.keepout.append((zone[0], zone[1], ow / 2 + 0.15, 0.6, yaw, 9.0))
                self._door(w, s0, ow, z1, ctr)
            else:
                zone = w.origin[:2] + w.along[:2] * (s0 + ow / 2) + w.inward[:2] * 0.3
                self.window_zones.append(((zone[0], zone[1], ow / 2 + 0.1, 0.3, yaw), z0))
                self._window(w, s0, ow, z0, z1)
            return

    def _reveals(self, w: _Wall, s0, s1, z0, z1, m) -> None:
        t = self.thick
        out = -w.inward * t
        p = lambda s, z: w.origin + w.along * s + np.array([0, 0, z])  # noqa: E731
        mb = self.mb
        mb.quad(p(s0, z0), out, np.array([0, 0, z1 - z0]), m)  # left jamb, faces +along
        mb.quad(p(s1, z0), np.array([0, 0, z1 - z0]), out, m)  # right jamb
        mb.quad(p(s0, z1), w.along * (s1 - s0), out, m)  # head, faces down
        mb.quad(p(s0, z0), out, w.along * (s1 - s0), m if z0 > 0 else self.mat("floor"))  # sill / threshold

    def _door(self, w: _Wall, s0, ow, z1, ctr) -> None:
        rng, mb, t = self.rng, self.mb, self.thick
        mw = self.mat("wall")
        self._reveals(w, s0, s0 + ow, 0.0, z1, mw)
        mtrim = self.mat("white")
        R = np.stack([w.along, -w.inward, np.array([0, 0, 1.0])], 1)
        base = w.origin + w.along * s0
        # casing (trim) around the opening on the room side
        cw = 0.06
        mb.box(base + w.along * (-cw / 2) + w.inward * 0.01 + np.array([0, 0, z1 / 2]), (cw, 0.02, z1), mtrim, R)
        mb.box(base + w.along * (ow + cw / 2) + w.inward * 0.01 + np.array([0, 0, z1 / 2]), (cw, 0.02, z1), mtrim, R)
        mb.box(base + w.along * (ow / 2) + w.inward * 0.01 + np.array([0, 0, z1 + cw / 2]), (ow + 2 * cw, 0.02, cw), mtrim, R)
        if rng.random() < 0.45:  # closed door panel with a handle
            md = self.mat("wood") if rng.random() < 0.5 else mtrim
            pc = base + w.along * (ow / 2) - w.inward * (t * 0.5) + np.array([0, 0, z1 / 2])
            mb.box(pc, (ow - 0.01, 0.04, z1 - 0.01), md, R)
            hz = np.array([0, 0, 1.0 - z1 / 2])
            mb.box(pc + w.along * (ow / 2 - 0.1) + w.inward * 0.04 + hz, (0.12, 0.02, 0.02), self.mat("metal"), R)
            return
        # corridor behind the open door: floor, ceiling, back and side walls (inward-facing)
        L = rng.uniform(1.2, 3.0)
        half = ow / 2 + rng.uniform(0.6, 2.0)
        o = base + w.along * (ow / 2) - w.inward * t  # centre of the opening on the far face
        a, b = w.along, -w.inward  # b: away from the room
        Hc = self.H
        up = np.array([0, 0, Hc])
        mcw, mcf = self._new_mat("wall"), self.mat("floor")
        c0 = o - a * half
        mb.quad(c0, b * L, a * 2 * half, mcf)  # floor (normal up)
        mb.quad(c0 + up, a * 2 * half, b * L, self.mat("ceiling"))
        mb.quad(c0 + b * L, a * 2 * half, up, mcw)  # back wall faces the room
        mb.quad(c0, up, b * L, mcw)  # left side
        mb.quad(c0 + a * 2 * half, b * L, up, mcw)  # right side
        # the corridor side of the room wall around the opening (seen from nowhere in the room,
        # but keeps corridor light and AO plausible)
        mb.quad(c0, a * (half - ow / 2), up, mcw)
        mb.quad(o + a * (ow / 2), a * (half - ow / 2), up, mcw)

    def _window(self, w: _Wall, s0, ow, z0, z1) -> None:
        rng, mb, t = self.rng, self.mb, self.thick
        mtrim = self.mat("white")
        self._reveals(w, s0, s0 + ow, z0, z1, mtrim)
        R = np.stack([w.along, -w.inward, np.array([0, 0, 1.0])], 1)
        mid = w.origin + w.along * (s0 + ow / 2) - w.inward * (t * 0.5)
        fw = 0.04
        hgt = z1 - z0
        # frame and mullions in the middle of the wall thickness
        mb.box(mid + np.array([0, 0, z0 + fw / 2]), (ow, 0.05, fw), mtrim, R)
        mb.box(mid + np.array([0, 0, z1 - fw / 2]), (ow, 0.05, fw), mtrim, R)
        mb.box(mid + w.along * (-ow / 2 + fw / 2) + np.array([0, 0, (z0 + z1) / 2]), (fw, 0.05, hgt), mtrim, R)
        mb.box(mid + w.along * (ow / 2 - fw / 2) + np.array([0, 0, (z0 + z1) / 2]), (fw, 0.05, hgt), mtrim, R)
        nm = int(round(ow / 0.6)) - 1
        for k in range(max(nm, 0)):
            x = -ow / 2 + ow * (k + 1) / (nm + 1)
            mb.box(mid + w.along * x + np.array([0, 0, (z0 + z1) / 2]), (0.03, 0.04, hgt), mtrim, R)
        # outdoor backdrop, emissive
        dist = rng.uniform(4.0, 15.0)
        ctr = w.origin + w.along * (s0 + ow / 2) - w.inward * (t + dist)
        span = 2.5 * dist + ow
        sky = self.mat("sky")
        mb.quad(ctr - w.along * span / 2 + np.array([0, 0, -5.0]), w.along * span, np.array([0, 0, 5.0 + z1 + 2 * dist]), sky)
        # daylight through the (first) window: a strong light outside, above the opening
        if any(lt.radius >= 0.15 for lt in self.lights):
            return self._curtains(w, s0, ow, z1)
        warm = rng.uniform(0.9, 1.1)
        col = np.array([warm, 1.0, 2.0 - warm]) * rng.uniform(2.5, 6.0) * (self.H ** 2)
        pos = w.origin + w.along * (s0 + ow / 2) - w.inward * (t + rng.uniform(1.0, 2.0)) + np.array([0, 0, z1 + rng.uniform(0.3, 1.5)])
        self.lights.append(Light(pos, col, radius=0.15))
        self._curtains(w, s0, ow, z1)

    def _curtains(self, w: _Wall, s0, ow, z1) -> None:
        rng, mb = self.rng, self.mb
        R = np.stack([w.along, -w.inward, np.array([0, 0, 1.0])], 1)
        a, b = s0 - 0.32, s0 + ow + 0.32
        clash = a < 0.02 or b > w.length - 0.02 or any(o[0] < b and a < o[1] and o[0] != s0 for o in w.openings)
        if rng.random() < 0.5 and not clash:
            mcur = self._new_mat("fabric")
            ch = min(self.H - 0.05, z1 + 0.2)
            yaw = math.atan2(w.along[1], w.along[0])
            for side in (-1, 1):
                s = s0 - 0.16 if side < 0 else s0 + ow + 0.16
                cc = w.origin + w.along * s + w.inward * 0.06 + np.array([0, 0, ch / 2 + 0.01])
                mb.box(cc, (0.3, 0.08, ch - 0.02), mcur, R)
                self.obstacles.append((cc[0], cc[1], 0.15, 0.04, yaw, ch))
            self.wall_items.setdefault(next(i for i, x in enumerate(self.walls) if x is w), []).append((s0 - 0.35, s0 + ow + 0.35, 9.0))

    def _wall_with_holes(self, w: _Wall, m: int) -> None:
        """Wall rectangle [0, L] x [0, H] minus the openings, as a set of quads."""
        H = self.H
        xs = sorted({0.0, w.length, *[o[0] for o in w.openings], *[o[1] for o in w.openings]})
        up = np.array([0, 0, 1.0])
        for a, b in zip(xs[:-1], xs[1:], strict=True):
            if b - a < 1e-6:
                continue
            mid = 0.5 * (a + b)
            holes = sorted((o[2], o[3]) for o in w.openings if o[0] < mid < o[1])
            z = 0.0
            for z0, z1 in [*holes, (H, H)]:
                if z0 > z + 1e-6:
                    p0 = w.origin + w.along * a + up * z
                    self.mb.quad(p0, w.along * (b - a), up * (z0 - z), m, uv0=(a, z))
                z = max(z, z1)

    def _skirting(self, w: _Wall, m: int) -> None:
        h, d = 0.08, 0.015
        cuts = sorted((o[0], o[1]) for o in w.openings if o[4] == "door")
        s = 0.0
        R = np.stack([w.along, w.inward, np.array([0, 0, 1.0])], 1)
        for a, b in [*cuts, (w.length, w.length)]:
            if a - s > 0.05:
                c = w.origin + w.along * (s + a) / 2 + w.inward * d / 2 + np.array([0, 0, h / 2])
                self.mb.box(c, (a - s, d, h), m, R)
            s = b + 0.06 if b < w.length else b

    # -- furniture ----------------------------------------------------------------------------
    def _free(self, obb, height: float) -> bool:
        if not _inside(obb, self.X, self.Y, 0.0):
            return False
        if any(obb_overlap(obb, o, 0.02) for o in self.obstacles):
            return False
        if any(obb_overlap(obb, o) for o in self.keepout):
            return False
        return not any(height > sill - 0.05 and obb_overlap(obb, z) for z, sill in self.window_zones)

    def _place(self, maker_out, cx, cy, yaw, zoff: float = 0.0) -> None:
        parts, (w, d), h, surfaces, lights = maker_out
        R = yaw_matrix(yaw)
        t = np.array([cx, cy, zoff])
        self._emit(parts, R, t)
        self.obstacles.append((cx, cy, w / 2, d / 2, yaw, h))
        for sx, sy, sw, sd, sz, clr in surfaces:
            c = R @ np.array([sx, sy, 0]) + t
            self.surfaces.append((c[0], c[1], sw, sd, yaw, sz + zoff, clr))
        for pos, power in lights:
            if sum(lt.radius < 0.1 for lt in self.lights) >= 1:
                break  # at most one lamp light: shadow rays per light cost time
            col = np.array([1.0, 0.85, 0.65]) * power * self.rng.uniform(0.8, 1.2)
            self.lights.append(Light(R @ np.asarray(pos) + t, col, radius=0.06))

    def _emit(self, parts, R, t) -> None:
        mb = self.mb
        for p in parts:
            kind, role = p[0], p[-1]
            m = self.mat(role)
            if kind == "box":
                mb.box(R @ np.asarray(p[1]) + t, p[2], m, R)
            elif kind == "cyl":
                mb.cylinder(R @ np.asarray(p[1]) + t, p[2], p[4], m, r1=p[3], R=R)
            else:
                mb.sphere(R @ np.asarray(p[1]) + t, p[2], m)

    def _furnish(self) -> None:
        rng = self.rng
        area = self.X * self.Y
        # a rug under the middle first (furniture on it is raised by its thickness)
        rug = None
        if rng.random() < 0.4:
            rw, rd = rng.uniform(1.2, min(3.0, self.X - 0.8)), rng.uniform(0.9, min(2.2, self.Y - 0.8))
            rx, ry = rng.uniform(rw / 2 + 0.4, self.X - rw / 2 - 0.4), rng.uniform(rd / 2 + 0.4, self.Y - rd / 2 - 0.4)
            mr = self._new_mat("rug")
            self.materials[mr].params["size"] = (rw, rd)
            self.mb.box((rx, ry, 0.005), (rw, rd, 0.01), mr, skip_bottom=True)
            rug = (rx, ry, rw / 2, rd / 2, 0.0)
        # furniture against walls
        n_wall = int(np.clip(rng.poisson(area / 5) + 2, 2, 8))
        names = list(WALL_ITEMS)
        for _ in range(n_wall):
            name = names[int(rng.integers(0, len(names)))]
            out = WALL_ITEMS[name](rng)
            w, d = out[1]
            for _try in range(15):
                k = int(rng.integers(0, 4))
                wall = self.walls[k]
                if wall.length < w + 0.1:
                    continue
                s = rng.uniform(w / 2 + 0.02, wall.length - w / 2 - 0.02)
                c = wall.origin + wall.along * s + wall.inward * (d / 2 + 0.02)
                yaw = math.atan2(wall.inward[1], wall.inward[0]) - math.pi / 2
                obb = (c[0], c[1], w / 2, d / 2, yaw, out[2])
                if self._free(obb, out[2]):
                    z = 0.01 if rug and obb_overlap(obb, rug) else 0.0
                    self._place(out, c[0], c[1], yaw, z)
                    self.wall_items.setdefault(k, []).append((s - w / 2, s + w / 2, out[2]))
                    break
        # a table with chairs, then free-standing things
        if rng.random() < 0.75:
            for _try in range(15):
                out = _table(rng)
                w, d = out[1]
                cx, cy = rng.uniform(0.8, self.X - 0.8), rng.uniform(0.8, self.Y - 0.8)
                yaw = rng.uniform(-0.3, 0.3) + (math.pi / 2 if rng.random() < 0.5 else 0)
                obb = (cx, cy, w / 2 + 0.35, d / 2 + 0.35, yaw, out[2])
                if not self._free(obb, out[2]):
                    continue
                z = 0.01 if rug and obb_overlap(obb, rug) else 0.0
                self._place(out, cx, cy, yaw, z)
                R = yaw_matrix(yaw)
                seats = [(0, -d / 2 - 0.12, 0.0), (0, d / 2 + 0.12, math.pi), (-w / 2 - 0.12, 0, -math.pi / 2), (w / 2 + 0.12, 0, math.pi / 2)]
                chair_r = np.random.default_rng(rng.integers(0, 2**31))
                for sx, sy, sa in seats:
                    if rng.random() < 0.3 or (abs(sx) > 0 and w < 1.1 and rng.random() < 0.6):
                        continue
                    ch = _chair(chair_r) if rng.random() < 0.8 else _chair(rng)
                    p = R @ np.array([sx, sy, 0]) + np.array([cx, cy, 0])
                    # chairs face the table: their front (+y) points to the table centre
                    cyaw = yaw + sa + rng.uniform(-0.15, 0.15)
                    off = yaw_matrix(cyaw) @ np.array([0, -ch[1][1] / 2 + 0.12 + rng.uniform(-0.05, 0.15), 0])
                    cobb = (p[0] + off[0], p[1] + off[1], ch[1][0] / 2, ch[1][1] / 2, cyaw, ch[2])
                    if _inside(cobb, self.X, self.Y, 0.0) and not any(obb_overlap(cobb, o, 0.0) for o in self.obstacles):
                        self._place(ch, cobb[0], cobb[1], cyaw, 0.01 if rug and obb_overlap(cobb, rug) else 0.0)
                break
        n_free = int(rng.integers(2, 5 + int(area / 6)))
        names = list(FREE_ITEMS)
        for _ in range(n_free):
            name = names[int(rng.integers(0, len(names)))]
            if name == "floor_lamp" and self._has_floor_lamp:
                name = "boxes"
            self._has_floor_lamp |= name == "floor_lamp"
            out = FREE_ITEMS[name](rng)
            w, d = out[1]
            for _try in range(10):
                cx, cy = rng.uniform(w / 2, self.X - w / 2), rng.uniform(d / 2, self.Y - d / 2)
                yaw = rng.uniform(0, 2 * math.pi)
                obb = (cx, cy, w / 2, d / 2, yaw, out[2])
                if self._free(obb, out[2]):
                    self._place(out, cx, cy, yaw, 0.01 if rug and obb_overlap(obb, rug) else 0.0)
                    break
        self._clutter()
        self._pictures()

    def _clutter(self) -> None:
        rng = self.rng
        for cx, cy, w, d, yaw, z, clr in list(self.surfaces):
            placed = []
            R = yaw_matrix(yaw)
            for _ in range(int(rng.integers(0, 5))):
                parts, (iw, idp), ih = _clutter_item(rng, clr)
                if ih > clr or iw > w or idp > d:
                    continue
                for _try in range(8):
                    lx, ly = rng.uniform(-(w - iw) / 2, (w - iw) / 2), rng.uniform(-(d - idp) / 2, (d - idp) / 2)
                    iy = rng.uniform(0, 2 * math.pi)
                    r = max(iw, idp) / 2
                    if all((lx - px) ** 2 + (ly - py) ** 2 > (r + pr + 0.01) ** 2 for px, py, pr in placed):
                        # bounding circle inside the surface rectangle
                        if abs(lx) + r <= w / 2 and abs(ly) + r <= d / 2:
                            placed.append((lx, ly, r))
                            t = R @ np.array([lx, ly, 0]) + np.array([cx, cy, z])
                            self._emit(parts, R @ yaw_matrix(iy), t)
                            break

    def _pictures(self) -> None:
        rng = self.rng
        mframe = self.mat("wood") if rng.random() < 0.5 else self.mat("white")
        for k, w in enumerate(self.walls):
            if rng.random() < 0.45:
                continue
            pw, ph = rng.uniform(0.3, 1.0), rng.uniform(0.3, 0.8)
            zc = rng.uniform(1.3, min(1.8, self.H - ph / 2 - 0.15))
            for _try in range(6):
                s = rng.uniform(pw / 2 + 0.1, max(w.length - pw / 2 - 0.1, pw / 2 + 0.11))
                a, b = s - pw / 2, s + pw / 2
                if any(a < o[1] + 0.1 and o[0] - 0.1 < b for o in w.openings):
                    continue
                if any(a < i1 + 0.05 and i0 - 0.05 < b and hh > zc - ph / 2 - 0.05 for i0, i1, hh in self.wall_items.get(k, [])):
                    continue
                R = np.stack([w.along, w.inward, np.array([0, 0, 1.0])], 1)
                c = w.origin + w.along * s + w.inward * 0.015 + np.array([0, 0, zc])
                self.mb.box(c, (pw, 0.03, ph), mframe, R)
                self.mb.quad(c + w.inward * 0.0151 - w.along * (pw / 2 - 0.04) - np.array([0, 0, ph / 2 - 0.04]),
                             w.along * (pw - 0.08), np.array([0, 0, ph - 0.08]), self._new_mat("painting"))
                self.wall_items.setdefault(k, []).append((a, b, 9.0))
                break

    def _ceiling_lights(self) -> None:
        rng = self.rng
        n = int(np.clip(round(self.X * self.Y / 12 + rng.uniform(-0.5, 0.5)), 1, 2))
        warm = rng.uniform(0.0, 1.0)
        base = np.array([1.0, 0.82 + 0.15 * warm, 0.6 + 0.4 * warm])
        lamp = self.mat("lamp")
        power = rng.uniform(1.5, 3.0) * self.H**2
        if rng.random() < 0.25:
            power *= 0.3  # a dim room lit mostly by windows or lamps
        for i in range(n):
            if n == 1:
                x, y = self.X / 2 + rng.uniform(-0.5, 0.5), self.Y / 2 + rng.uniform(-0.5, 0.5)
            else:
                along_x = self.X > self.Y
                f = (i + 0.5) / n
                x = self.X * f if along_x else self.X / 2
                y = self.Y / 2 if along_x else self.Y * f
            r = rng.uniform(0.12, 0.3)
            self.mb.cylinder((x, y, self.H - 0.04), r, 0.04, lamp, segments=16, caps=(True, False))
            self.lights.append(Light(np.array([x, y, self.H - 0.1]), base * power, radius=r * 0.4))


def random_room(rng: np.random.Generator) -> Scene:
    """A furnished, lit room drawn from ``rng``."""
    return RoomBuilder(rng).build()


# ----------------------------------------------------------------------------- cameras


def look_pose(position, yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """Camera-to-world 4x4 (OpenCV camera axes) at ``position`` looking along heading ``yaw``
    (radians from +x, counter-clockwise seen from above), ``pitch`` up (+) / down (-), ``roll``."""
    cp, sp = math.cos(pitch), math.sin(pitch)
    f = np.array([cp * math.cos(yaw), cp * math.sin(yaw), sp])
    r = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
    d = np.cross(f, r)
    cr, sr = math.cos(roll), math.sin(roll)
    r, d = cr * r + sr * d, -sr * r + cr * d
    T = np.eye(4)
    T[:3, :3] = np.stack([r, d, f], 1)
    T[:3, 3] = position
    return T


def sample_camera(rng: np.random.Generator, scene: Scene, clearance: float = 0.35) -> tuple[np.ndarray, tuple]:
    """A plausible hand-held / head-height camera in free space of ``scene``'s room.

    Height 1.0-1.8 m (sometimes 0.6-1.0 m), roll +-4 degrees, aimed (+-12 degrees heading, +-8
    pitch) at a piece of furniture (75%) or a random point of the room, pitch within -40..+8. Returns (pose, (position, yaw, pitch, roll)).
    """
    X, Y, H = scene.room
    for _ in range(200):
        p = np.array([rng.uniform(0.4, X - 0.4), rng.uniform(0.4, Y - 0.4), 0.0])
        p[2] = rng.uniform(1.0, min(1.8, H - 0.3)) if rng.random() < 0.85 else rng.uniform(0.6, 1.0)
        probe = (p[0], p[1], clearance, clearance, 0.0)
        if any(obb_overlap(probe, o) and o[5] > p[2] - 0.6 for o in scene.obstacles):
            continue
        furniture = [o for o in scene.obstacles if o[5] < 5]
        if furniture and rng.random() < 0.75:  # look at a piece of furniture
            o = furniture[int(rng.integers(0, len(furniture)))]
            target = np.array([o[0], o[1], o[5] * rng.uniform(0.2, 0.8)])
        else:
            target = np.array([rng.uniform(0.2, X - 0.2), rng.uniform(0.2, Y - 0.2), rng.uniform(0.3, 1.2)])
        dist = np.linalg.norm(target[:2] - p[:2])
        if dist < 1.2:
            continue
        yaw = math.atan2(target[1] - p[1], target[0] - p[0]) + math.radians(rng.uniform(-12, 12))
        pitch = math.atan2(target[2] - p[2], dist) + math.radians(rng.uniform(-8, 8))
        pitch = float(np.clip(pitch, math.radians(-40), math.radians(8)))
        roll = math.radians(rng.uniform(-4, 4))
        return look_pose(p, yaw, pitch, roll), (p, yaw, pitch, roll)
    raise RuntimeError("no free camera position found in the room")
