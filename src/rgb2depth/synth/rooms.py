"""Rooms for the synthetic generator: structure (floor, walls, ceiling, door and window openings
with reveals), what lies behind the openings, lights, and physical furniture placement.

A room (floor, walls, ceiling, door and window *openings* cut into the walls, with reveals; an
open door shows the space behind it, a window an outdoor backdrop) is filled with furniture and
clutter on top surfaces. Layouts are random but physical: every object stands on the floor or on
a support surface (gravity), and footprints never overlap (2D oriented-rectangle separating-axis
test on the floor plan, and the same per support surface); doors keep a clear zone and tall
objects never stand in front of a window.

Room types (``ROOM_TYPES``): ``generic`` is the original mix of everything in one room (kept
unchanged, so earlier seeds still give the same rooms); ``living``, ``bedroom``, ``office``,
``kitchen``, ``bathroom`` and ``corridor`` follow what real indoor photographs of such rooms
show (their furnishing programs are in ``layouts``). The typed rooms also vary the light more:
open doors lead into furnished neighbouring rooms, windows show a sky that may be far brighter
than the room (overexposed panes) or dark (night), and a low sun may shine through a window
(a directional light: sharp sun patches and shadows on the floor and furniture).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import clutter as cl
from . import furniture as fu
from . import layouts
from .scene import Light, MeshBuilder, Scene, inside_room, obb_overlap, yaw_matrix
from .textures import Material, random_material

#: Room types ``random_room`` can build.
ROOM_TYPES = ("generic", "living", "bedroom", "office", "kitchen", "bathroom", "corridor")

#: The default mix of the widened generator (fractions of rooms); ``generic`` keeps a share of
#: the original everything-in-one-room scenes.
DEFAULT_MIX = {"living": 0.16, "bedroom": 0.14, "office": 0.2, "kitchen": 0.15, "bathroom": 0.1, "corridor": 0.1,
               "generic": 0.15}

# floor, wall and ceiling material roles, and room size ranges (X, Y, H in metres) per type
_STRUCTURE = {
    "living": (("floor", "wall", "ceiling"), (3.5, 7.0), (3.5, 7.5), (2.4, 3.1)),
    "bedroom": (("floor", "wall", "ceiling"), (2.8, 5.0), (3.0, 5.5), (2.4, 2.9)),
    "office": (("office_floor", "wall", "ceiling_tiles"), (3.0, 9.0), (3.0, 8.0), (2.5, 3.2)),
    "kitchen": (("floor", "wall", "ceiling"), (2.4, 5.0), (2.8, 6.0), (2.4, 2.9)),
    "bathroom": (("splash", "wall_tiles", "ceiling"), (1.7, 3.2), (1.9, 3.6), (2.3, 2.7)),
    "corridor": (("floor", "wall", "ceiling"), (4.0, 12.0), (1.2, 2.3), (2.4, 2.9)),
}


@dataclass
class Wall:
    """One wall of the room, as seen from inside."""

    origin: np.ndarray  # interior corner where s = 0
    along: np.ndarray  # unit vector along the wall
    inward: np.ndarray  # unit normal into the room
    length: float
    openings: list = field(default_factory=list)  # (s0, s1, z0, z1, kind)

    @property
    def yaw(self) -> float:
        """Yaw that turns a maker's front (+y) into the room."""
        return math.atan2(self.inward[1], self.inward[0]) - math.pi / 2


class RoomBuilder:
    """Random room of type ``kind`` + furniture + lights, written into a MeshBuilder."""

    def __init__(self, rng: np.random.Generator, kind: str = "generic") -> None:
        if kind not in ROOM_TYPES:
            raise ValueError(f"unknown room type {kind!r}; expected one of {', '.join(ROOM_TYPES)}")
        self.rng = rng
        self.kind = kind
        self.mb = MeshBuilder()
        self.materials: list[Material] = []
        self._roles: dict[str, int] = {}
        self.obstacles: list = []  # floor-plan OBBs of placed objects (cx, cy, hx, hy, yaw, height)
        self.keepout: list = []  # door clearance zones
        self.window_zones: list = []  # (obb, sill height)
        self.windows: list = []  # (wall index, s0, s1, sill)
        self.lights: list[Light] = []
        self.surfaces: list = []  # (world centre xy, w, d, yaw, z, clearance)
        self.wall_items: dict[int, list] = {}  # wall index -> [(s0, s1, height)]
        self._has_floor_lamp = False
        self.rug = None
        self.sky_gain = 1.0
        self.sun = False
        self.outdoor: list[int] = []  # object ids of the outdoor backdrops

    def mat(self, role: str) -> int:
        if role not in self._roles:
            self._roles[role] = len(self.materials)
            self.materials.append(random_material(self.rng, role))
        return self._roles[role]

    def new_mat(self, role: str) -> int:
        self.materials.append(random_material(self.rng, role))
        return len(self.materials) - 1

    @property
    def typed(self) -> bool:
        return self.kind != "generic"

    # -- structure ----------------------------------------------------------------------------
    def build(self) -> Scene:
        rng = self.rng
        if self.typed:
            roles, xr, yr, hr = _STRUCTURE[self.kind]
            X, Y, H = rng.uniform(*xr), rng.uniform(*yr), rng.uniform(*hr)
            if self.kind == "office" and rng.random() < 0.5:
                X, Y = min(X, 5.0), min(Y, 5.0)  # a private office; else open plan
            r = rng.random()  # the sky: night (dark panes), daylight or bright daylight
            self.sky_gain = 0.04 if r < 0.12 else float(np.exp(rng.normal(0.6, 0.6)))
            self.sun = r >= 0.12 and rng.random() < 0.5
        else:
            X, Y = rng.uniform(3.0, 6.5), rng.uniform(3.0, 7.0)
            H = rng.uniform(2.4, 3.1)
            roles = ("floor", "wall", "ceiling")
        self.X, self.Y, self.H = X, Y, H
        self.thick = rng.uniform(0.1, 0.2)
        mf, mc = self.mat(roles[0]), self.mat(roles[2])
        mw = self.mat(roles[1])
        accent = int(rng.integers(0, 4)) if rng.random() < 0.3 else -1
        mb = self.mb
        # typed rooms: floor, ceiling and walls run on into the walls by their thickness, so no
        # ray slips out through the seams where they meet (T-junctions are not watertight)
        e = self.thick if self.typed else 0.0
        mb.quad((-e, -e, 0), (X + 2 * e, 0, 0), (0, Y + 2 * e, 0), mf)
        mb.quad((-e, -e, H), (0, Y + 2 * e, 0), (X + 2 * e, 0, 0), mc)
        walls = [
            Wall(np.array([0.0, 0, 0]), np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), X),
            Wall(np.array([X, 0.0, 0]), np.array([0, 1.0, 0]), np.array([-1.0, 0, 0]), Y),
            Wall(np.array([X, Y, 0.0]), np.array([-1.0, 0, 0]), np.array([0, -1.0, 0]), X),
            Wall(np.array([0.0, Y, 0]), np.array([0, -1.0, 0]), np.array([1.0, 0, 0]), Y),
        ]
        self.walls = walls
        if self.typed:
            layouts.openings(self)
        else:  # openings: one or two doors, zero to three windows
            for _ in range(int(rng.integers(1, 3))):
                self.add_opening("door")
            for _ in range(int(rng.choice([0, 1, 1, 2, 2, 3]))):
                self.add_opening("window")
        mtrim = self.mat("white")
        for k, w in enumerate(walls):
            m = self.new_mat(roles[1]) if k == accent else mw
            self._wall_with_holes(w, m)
            self._skirting(w, mtrim)
        content_from = self.mb.n_objects
        if self.typed:
            layouts.LAYOUTS[self.kind](self)
            self.clutter(cl.CLUTTER.get(self.kind))
            self.pictures(whiteboard=self.kind == "office" and rng.random() < 0.6)
        else:
            self._furnish()
        self.ceiling_lights()
        lights = self.lights
        point = [lt.color for lt in lights if not lt.directional] or [np.full(3, H**2)]
        amb = np.mean(point, 0) / max(H, 1.0) ** 2 * rng.uniform(0.2, 0.45)
        if self.typed:  # skylight and sunlight bounced around the room
            amb = amb + np.mean([lt.color for lt in lights if lt.directional] or [np.zeros(3)], 0) * 0.05
            amb = amb * (1 + 0.15 * min(self.sky_gain, 3.0) * len(self.windows))
        tops = [(cx, cy, w, d, yaw, z) for cx, cy, w, d, yaw, z, _ in self.surfaces if w * d >= 0.05 and 0.3 <= z <= 1.3]
        return Scene.from_builder(mb, self.materials, lights, amb, room=(X, Y, H), obstacles=self.obstacles,
                                  content_from=content_from, kind=self.kind, surfaces=tops, sky_gain=self.sky_gain,
                                  outdoor=tuple(self.outdoor))

    def add_opening(self, kind: str, walls=None, width=None, sill=None, height=None) -> bool:
        """Cut a door or window into a random wall (of ``walls``); sizes drawn unless given."""
        rng = self.rng
        for _ in range(20):
            k = int(rng.integers(0, 4)) if walls is None else int(rng.choice(walls))
            w = self.walls[k]
            if kind == "door":
                ow, z0, z1 = rng.uniform(0.8, 1.0) if width is None else width, 0.0, min(self.H - 0.2, rng.uniform(2.0, 2.15))
            else:
                ow = rng.uniform(0.7, min(2.2, w.length - 1.0)) if width is None else width
                z0 = rng.uniform(0.7, 1.0) if sill is None else sill
                z1 = min(self.H - 0.2, z0 + (rng.uniform(1.0, 1.6) if height is None else height))
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
                self.windows.append((k, s0, s0 + ow, z0))
                self._window(w, s0, ow, z0, z1)
            return True
        return False

    def _reveals(self, w: Wall, s0, s1, z0, z1, m) -> None:
        t = self.thick
        out = -w.inward * t
        p = lambda s, z: w.origin + w.along * s + np.array([0, 0, z])  # noqa: E731
        mb = self.mb
        mb.quad(p(s0, z0), out, np.array([0, 0, z1 - z0]), m)  # left jamb, faces +along
        mb.quad(p(s1, z0), np.array([0, 0, z1 - z0]), out, m)  # right jamb
        mb.quad(p(s0, z1), w.along * (s1 - s0), out, m)  # head, faces down
        mb.quad(p(s0, z0), out, w.along * (s1 - s0), m if z0 > 0 else self.mat("floor"))  # sill / threshold

    def _door(self, w: Wall, s0, ow, z1, ctr) -> None:
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
        if rng.random() < (0.45 if not self.typed else 0.3):  # closed door panel with a handle
            md = self.mat("wood") if rng.random() < 0.5 else mtrim
            pc = base + w.along * (ow / 2) - w.inward * (t * 0.5) + np.array([0, 0, z1 / 2])
            mb.box(pc, (ow - 0.01, 0.04, z1 - 0.01), md, R)
            hz = np.array([0, 0, 1.0 - z1 / 2])
            mb.box(pc + w.along * (ow / 2 - 0.1) + w.inward * 0.04 + hz, (0.12, 0.02, 0.02), self.mat("metal"), R)
            if self.typed:  # the far side, seen through the slits around the leaf
                mb.quad(base - w.inward * t - w.along * 0.05, w.along * (ow + 0.1), np.array([0, 0, z1 + 0.05]), mw)
            return
        if self.typed:
            return layouts.next_room(self, w, s0, ow, z1)
        # corridor behind the open door: floor, ceiling, back and side walls (inward-facing)
        L = rng.uniform(1.2, 3.0)
        half = ow / 2 + rng.uniform(0.6, 2.0)
        o = base + w.along * (ow / 2) - w.inward * t  # centre of the opening on the far face
        a, b = w.along, -w.inward  # b: away from the room
        Hc = self.H
        up = np.array([0, 0, Hc])
        mcw, mcf = self.new_mat("wall"), self.mat("floor")
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

    def _window(self, w: Wall, s0, ow, z0, z1) -> None:
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
        if self.typed and rng.random() < 0.4:  # a transom bar
            mb.box(mid + np.array([0, 0, z0 + hgt * rng.uniform(0.6, 0.75)]), (ow, 0.04, 0.03), mtrim, R)
        # outdoor backdrop, emissive; on sunny days beyond the reach of the sun's shadow rays
        dist = rng.uniform(4.0, 15.0) if not self.sun else self.sun_reach() + rng.uniform(0.5, 6.0)
        ctr = w.origin + w.along * (s0 + ow / 2) - w.inward * (t + dist)
        sky = self.mat("sky")
        if self.typed:  # wide and tall enough for grazing views through the window (+-84 degrees)
            span, low, top = 20 * dist + ow, 10 * dist, z1 + 10 * dist
            mb.quad(ctr - w.along * span / 2 - np.array([0, 0, low]), w.along * span, np.array([0, 0, low + top]), sky,
                    uv0=(0.0, 5.0 - low))  # texture v stays "height + 5 m", as below
        else:
            span = 2.5 * dist + ow
            mb.quad(ctr - w.along * span / 2 + np.array([0, 0, -5.0]), w.along * span, np.array([0, 0, 5.0 + z1 + 2 * dist]), sky)
        self.outdoor.append(mb.n_objects - 1)
        if self.typed:
            return layouts.daylight(self, w, s0, ow, z1)
        # daylight through the (first) window: a strong light outside, above the opening
        if any(lt.radius >= 0.15 for lt in self.lights):
            return self.curtains(w, s0, ow, z1)
        warm = rng.uniform(0.9, 1.1)
        col = np.array([warm, 1.0, 2.0 - warm]) * rng.uniform(2.5, 6.0) * (self.H ** 2)
        pos = w.origin + w.along * (s0 + ow / 2) - w.inward * (t + rng.uniform(1.0, 2.0)) + np.array([0, 0, z1 + rng.uniform(0.3, 1.5)])
        self.lights.append(Light(pos, col, radius=0.15))
        self.curtains(w, s0, ow, z1)

    def sun_reach(self) -> float:
        """Length of the sun's shadow rays: enough to leave the room through any window (the
        backdrop then stands further out than this, so it never shadows the room)."""
        return math.sqrt(self.X**2 + self.Y**2 + self.H**2) + 0.5

    def curtains(self, w: Wall, s0, ow, z1) -> None:
        rng, mb = self.rng, self.mb
        R = np.stack([w.along, -w.inward, np.array([0, 0, 1.0])], 1)
        a, b = s0 - 0.32, s0 + ow + 0.32
        clash = a < 0.02 or b > w.length - 0.02 or any(o[0] < b and a < o[1] and o[0] != s0 for o in w.openings)
        if rng.random() < 0.5 and not clash:
            mcur = self.new_mat("fabric")
            ch = min(self.H - 0.05, z1 + 0.2)
            yaw = math.atan2(w.along[1], w.along[0])
            for side in (-1, 1):
                s = s0 - 0.16 if side < 0 else s0 + ow + 0.16
                cc = w.origin + w.along * s + w.inward * 0.06 + np.array([0, 0, ch / 2 + 0.01])
                mb.box(cc, (0.3, 0.08, ch - 0.02), mcur, R)
                self.obstacles.append((cc[0], cc[1], 0.15, 0.04, yaw, ch))
            self.wall_items.setdefault(next(i for i, x in enumerate(self.walls) if x is w), []).append((s0 - 0.35, s0 + ow + 0.35, 9.0))

    def _wall_with_holes(self, w: Wall, m: int) -> None:
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
        if self.typed:  # run on behind the neighbouring walls (see build)
            e = self.thick
            self.mb.quad(w.origin - w.along * e, w.along * e, up * H, m, uv0=(-e, 0.0))
            self.mb.quad(w.origin + w.along * w.length, w.along * e, up * H, m, uv0=(w.length, 0.0))

    def _skirting(self, w: Wall, m: int) -> None:
        h, d = 0.08, 0.015
        cuts = sorted((o[0], o[1]) for o in w.openings if o[4] == "door")
        s = 0.0
        R = np.stack([w.along, w.inward, np.array([0, 0, 1.0])], 1)
        for a, b in [*cuts, (w.length, w.length)]:
            if a - s > 0.05:
                c = w.origin + w.along * (s + a) / 2 + w.inward * d / 2 + np.array([0, 0, h / 2])
                self.mb.box(c, (a - s, d, h), m, R)
            s = b + 0.06 if b < w.length else b

    # -- furniture placement ------------------------------------------------------------------
    def free(self, obb, height: float, windows: bool = True) -> bool:
        """Whether ``obb`` is in the room, clear of furniture and door zones (and of windows
        when ``windows`` and it is taller than their sill)."""
        if not inside_room(obb, self.X, self.Y, 0.0):
            return False
        if any(obb_overlap(obb, o, 0.02) for o in self.obstacles):
            return False
        if any(obb_overlap(obb, o) for o in self.keepout):
            return False
        return not windows or not any(height > sill - 0.05 and obb_overlap(obb, z) for z, sill in self.window_zones)

    def rug_z(self, obb) -> float:
        """Height furniture stands at: on the rug (1 cm) where it overlaps it."""
        return 0.01 if self.rug and obb_overlap(obb, self.rug) else 0.0

    def place(self, maker_out, cx, cy, yaw, zoff: float = 0.0) -> None:
        parts, (w, d), h, surfaces, lights = maker_out
        R = yaw_matrix(yaw)
        t = np.array([cx, cy, zoff])
        self.emit(parts, R, t)
        self.obstacles.append((cx, cy, w / 2, d / 2, yaw, h))
        for sx, sy, sw, sd, sz, clr in surfaces:
            c = R @ np.array([sx, sy, 0]) + t
            self.surfaces.append((c[0], c[1], sw, sd, yaw, sz + zoff, clr))
        for pos, power in lights:
            if sum(lt.radius < 0.1 and not lt.directional for lt in self.lights) >= 1:
                break  # at most one lamp light: shadow rays per light cost time
            col = np.array([1.0, 0.85, 0.65]) * power * self.rng.uniform(0.8, 1.2)
            self.lights.append(Light(R @ np.asarray(pos) + t, col, radius=0.06))

    def emit(self, parts, R, t) -> None:
        mb = self.mb
        for p in parts:
            kind, role = p[0], p[-1]
            m = self.mat(role)
            if kind == "box":
                mb.box(R @ np.asarray(p[1]) + t, p[2], m, R)
            elif kind == "rbox":
                mb.box(R @ np.asarray(p[1]) + t, p[2], m, R @ yaw_matrix(p[3]))
            elif kind == "cyl":
                mb.cylinder(R @ np.asarray(p[1]) + t, p[2], p[4], m, r1=p[3], R=R)
            else:
                mb.sphere(R @ np.asarray(p[1]) + t, p[2], m)

    def against_wall(self, out, walls=None, tries: int = 15, corner: bool = False):
        """Place maker output ``out`` with its back to a random wall (of ``walls``; at a corner
        with ``corner``); returns (wall index, position along it) or None."""
        rng = self.rng
        w, d = out[1]
        for _try in range(tries):
            k = int(rng.integers(0, 4)) if walls is None else int(rng.choice(walls))
            wall = self.walls[k]
            if wall.length < w + 0.1:
                continue
            if corner:
                s = w / 2 + 0.02 if rng.random() < 0.5 else wall.length - w / 2 - 0.02
            else:
                s = rng.uniform(w / 2 + 0.02, wall.length - w / 2 - 0.02)
            c = wall.origin + wall.along * s + wall.inward * (d / 2 + 0.02)
            obb = (c[0], c[1], w / 2, d / 2, wall.yaw, out[2])
            if self.free(obb, out[2]):
                self.place(out, c[0], c[1], wall.yaw, self.rug_z(obb))
                self.wall_items.setdefault(k, []).append((s - w / 2, s + w / 2, out[2]))
                return k, s
        return None

    def free_standing(self, out, tries: int = 10, margin: float = 0.0) -> tuple | None:
        """Place maker output ``out`` anywhere free at a random heading; returns (x, y, yaw)."""
        rng = self.rng
        w, d = out[1]
        for _try in range(tries):
            cx, cy = rng.uniform(w / 2 + margin, self.X - w / 2 - margin), rng.uniform(d / 2 + margin, self.Y - d / 2 - margin)
            yaw = rng.uniform(0, 2 * math.pi)
            obb = (cx, cy, w / 2, d / 2, yaw, out[2])
            if self.free(obb, out[2]):
                self.place(out, cx, cy, yaw, self.rug_z(obb))
                return cx, cy, yaw
        return None

    def add_rug(self, prob: float = 0.4) -> None:
        """A rug under the middle first (furniture on it is raised by its thickness)."""
        rng = self.rng
        if rng.random() < prob and self.X > 2.2 and self.Y > 1.9:
            rw, rd = rng.uniform(1.2, min(3.0, self.X - 0.8)), rng.uniform(0.9, min(2.2, self.Y - 0.8))
            rx, ry = rng.uniform(rw / 2 + 0.4, self.X - rw / 2 - 0.4), rng.uniform(rd / 2 + 0.4, self.Y - rd / 2 - 0.4)
            mr = self.new_mat("rug")
            self.materials[mr].params["size"] = (rw, rd)
            self.mb.box((rx, ry, 0.005), (rw, rd, 0.01), mr, skip_bottom=True)
            self.rug = (rx, ry, rw / 2, rd / 2, 0.0)

    def table_with_chairs(self, table=fu.table, chair=fu.chair, tries: int = 15) -> bool:
        """A free-standing table with chairs around it, facing it."""
        rng = self.rng
        for _try in range(tries):
            out = table(rng)
            w, d = out[1]
            if self.X < 1.6 or self.Y < 1.6:
                return False
            cx, cy = rng.uniform(0.8, self.X - 0.8), rng.uniform(0.8, self.Y - 0.8)
            yaw = rng.uniform(-0.3, 0.3) + (math.pi / 2 if rng.random() < 0.5 else 0)
            obb = (cx, cy, w / 2 + 0.35, d / 2 + 0.35, yaw, out[2])
            if not self.free(obb, out[2]):
                continue
            self.place(out, cx, cy, yaw, self.rug_z(obb))
            R = yaw_matrix(yaw)
            seats = [(0, -d / 2 - 0.12, 0.0), (0, d / 2 + 0.12, math.pi), (-w / 2 - 0.12, 0, -math.pi / 2), (w / 2 + 0.12, 0, math.pi / 2)]
            chair_r = np.random.default_rng(rng.integers(0, 2**31))
            for sx, sy, sa in seats:
                if rng.random() < 0.3 or (abs(sx) > 0 and w < 1.1 and rng.random() < 0.6):
                    continue
                ch = chair(chair_r) if rng.random() < 0.8 else chair(rng)
                p = R @ np.array([sx, sy, 0]) + np.array([cx, cy, 0])
                # chairs face the table: their front (+y) points to the table centre
                cyaw = yaw + sa + rng.uniform(-0.15, 0.15)
                off = yaw_matrix(cyaw) @ np.array([0, -ch[1][1] / 2 + 0.12 + rng.uniform(-0.05, 0.15), 0])
                cobb = (p[0] + off[0], p[1] + off[1], ch[1][0] / 2, ch[1][1] / 2, cyaw, ch[2])
                if inside_room(cobb, self.X, self.Y, 0.0) and not any(obb_overlap(cobb, o, 0.0) for o in self.obstacles):
                    self.place(ch, cobb[0], cobb[1], cyaw, self.rug_z(cobb))
            return True
        return False

    def _furnish(self) -> None:
        """The generic room: a random mix of everything."""
        rng = self.rng
        area = self.X * self.Y
        self.add_rug()
        # furniture against walls
        n_wall = int(np.clip(rng.poisson(area / 5) + 2, 2, 8))
        names = list(fu.WALL_ITEMS)
        for _ in range(n_wall):
            name = names[int(rng.integers(0, len(names)))]
            self.against_wall(fu.WALL_ITEMS[name](rng))
        # a table with chairs, then free-standing things
        if rng.random() < 0.75:
            self.table_with_chairs()
        n_free = int(rng.integers(2, 5 + int(area / 6)))
        names = list(fu.FREE_ITEMS)
        for _ in range(n_free):
            name = names[int(rng.integers(0, len(names)))]
            if name == "floor_lamp" and self._has_floor_lamp:
                name = "boxes"
            self._has_floor_lamp |= name == "floor_lamp"
            self.free_standing(fu.FREE_ITEMS[name](rng))
        self.clutter()
        self.pictures()

    def clutter(self, palette=None) -> None:
        """Small objects on the support surfaces (``palette``: kinds of ``clutter.CLUTTER``;
        None: the generic mix, fewer items)."""
        rng = self.rng
        for cx, cy, w, d, yaw, z, clr in list(self.surfaces):
            if palette is not None and clr < 0.05:
                continue  # a close-up-only surface (desk top under monitors)
            placed = []
            R = yaw_matrix(yaw)
            n = int(rng.integers(0, 5)) if palette is None else int(rng.integers(2, 4 + min(8, int(w * d * 15))))
            for _ in range(n):
                parts, (iw, idp), ih = cl.clutter_item(rng, clr) if palette is None else cl.room_clutter_item(rng, clr, palette)
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
                            self.emit(parts, R @ yaw_matrix(iy), t)
                            break

    def pictures(self, whiteboard: bool = False) -> None:
        """Framed pictures on some walls; with ``whiteboard`` the first one is a whiteboard."""
        rng = self.rng
        mframe = self.mat("wood") if rng.random() < 0.5 else self.mat("white")
        for k, w in enumerate(self.walls):
            if rng.random() < 0.45:
                continue
            pw, ph = rng.uniform(0.3, 1.0), rng.uniform(0.3, 0.8)
            if whiteboard:
                pw, ph = rng.uniform(1.2, 2.0), rng.uniform(0.9, 1.2)
            zc = rng.uniform(1.3, min(1.8, self.H - ph / 2 - 0.15))
            for _try in range(6):
                s = rng.uniform(pw / 2 + 0.1, max(w.length - pw / 2 - 0.1, pw / 2 + 0.11))
                a, b = s - pw / 2, s + pw / 2
                if self.typed and b > w.length - 0.05:
                    continue
                if any(a < o[1] + 0.1 and o[0] - 0.1 < b for o in w.openings):
                    continue
                if any(a < i1 + 0.05 and i0 - 0.05 < b and hh > zc - ph / 2 - 0.05 for i0, i1, hh in self.wall_items.get(k, [])):
                    continue
                R = np.stack([w.along, w.inward, np.array([0, 0, 1.0])], 1)
                c = w.origin + w.along * s + w.inward * 0.015 + np.array([0, 0, zc])
                self.mb.box(c, (pw, 0.03, ph), self.mat("metal") if whiteboard else mframe, R)
                face = self.mat("whiteboard") if whiteboard else self.new_mat("painting")
                self.mb.quad(c + w.inward * 0.0151 - w.along * (pw / 2 - 0.04) - np.array([0, 0, ph / 2 - 0.04]),
                             w.along * (pw - 0.08), np.array([0, 0, ph - 0.08]), face)
                self.wall_items.setdefault(k, []).append((a, b, 9.0))
                whiteboard = False
                break

    def ceiling_lights(self) -> None:
        rng = self.rng
        n = int(np.clip(round(self.X * self.Y / 12 + rng.uniform(-0.5, 0.5)), 1, 2))
        warm = rng.uniform(0.0, 1.0)
        if self.kind == "office":
            warm = rng.uniform(0.6, 1.0)  # neutral to cool white
        base = np.array([1.0, 0.82 + 0.15 * warm, 0.6 + 0.4 * warm])
        lamp = self.mat("lamp")
        power = rng.uniform(1.5, 3.0) * self.H**2
        if rng.random() < 0.25:
            power *= 0.3  # a dim room lit mostly by windows or lamps
        if self.kind == "office":
            return layouts.office_panels(self, base, power)
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


def random_room(rng: np.random.Generator, kind: str = "generic") -> Scene:
    """A furnished, lit room of type ``kind`` (one of ``ROOM_TYPES``) drawn from ``rng``."""
    return RoomBuilder(rng, kind).build()
