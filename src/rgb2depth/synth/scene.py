"""Scene geometry for the synthetic generator: triangle soups with per-corner normals and UVs,
primitives (planes, boxes, cylinders/cones, spheres), lights, the ``Scene`` record the renderer
and the camera samplers read, and floor-plan rectangle tests.

The rest of the generator builds on this: ``furniture`` (furniture and clutter makers in a local
frame), ``rooms`` (room types, openings, layout with gravity and no overlaps, lights) and
``camera`` (camera poses and intrinsics a hand-held, robot or close-up camera would have).

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

from .textures import Material

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
    soft shadows).

    ``directional=True`` makes it the sun: ``position`` is then the unit direction *towards* the
    light, ``color`` the irradiance (no distance fall-off), ``radius`` the angular jitter in
    radians (soft sun shadows), and ``reach`` the length of its shadow rays in metres, kept
    shorter than the distance to the outdoor backdrop so the backdrop does not shadow the room.
    """

    position: np.ndarray
    color: np.ndarray  # linear RGB radiant intensity (irradiance for directional lights)
    radius: float = 0.05
    directional: bool = False
    reach: float = 0.0


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
    kind: str = "generic"  # room type (see rooms.ROOM_TYPES)
    surfaces: list = field(default_factory=list)  # support tops (cx, cy, w, d, yaw, z) for close-up views
    sky_gain: float = 1.0  # brightness of the outdoor backdrop relative to the usual level
    outdoor: tuple = ()  # object ids of the outdoor backdrops seen through windows

    @classmethod
    def from_builder(cls, mb: MeshBuilder, materials, lights=None, ambient=(0.3, 0.3, 0.3), **kw) -> Scene:
        return cls(mb.build(), list(materials), list(lights or []), np.asarray(ambient, np.float32), **kw)


# ----------------------------------------------------------------------------- floor plan


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


def inside_room(o, X: float, Y: float, margin: float = 0.0) -> bool:
    """Whether floor-plan rectangle ``o`` lies in [margin, X - margin] x [margin, Y - margin]."""
    return all(margin <= x <= X - margin and margin <= y <= Y - margin for x, y in _corners2d(o))
