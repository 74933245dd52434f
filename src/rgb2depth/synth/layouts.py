"""Furnishing programs of the typed rooms: which openings and furniture a living room, bedroom,
office, kitchen, bathroom or corridor gets, and how pieces relate (a coffee table in front of
the sofa and a TV facing it, nightstands beside the bed, office chairs at desks, worktop runs
along walls with upper cabinets clear of windows, a bathtub in a corner).

Each program takes a ``rooms.RoomBuilder`` and uses its placement methods (``against_wall``,
``free_standing``, ``table_with_chairs``, ``place``, ``free``), which keep every layout
physical: objects stand on the floor, footprints never overlap, door zones stay clear.
"""

from __future__ import annotations

import math

import numpy as np

from . import furniture as fu
from .scene import Light, yaw_matrix

# ----------------------------------------------------------------------------- openings


def openings(b) -> None:
    """Doors and windows of a typed room."""
    rng, kind = b.rng, b.kind
    if kind == "bathroom":
        b.add_opening("door", width=rng.uniform(0.7, 0.85))
        if rng.random() < 0.6:
            b.add_opening("window", width=rng.uniform(0.45, 0.9), sill=rng.uniform(1.1, 1.5), height=rng.uniform(0.5, 0.9))
        return
    if kind == "corridor":  # long walls 0 and 2 carry the doors; maybe a door and a window at the ends
        for _ in range(int(rng.integers(2, 3 + int(b.X / 2.5)))):
            b.add_opening("door", walls=[0, 2])
        ends = [1, 3] if rng.random() < 0.5 else [3, 1]
        if rng.random() < 0.5:
            b.add_opening("door", walls=[ends[0]])
        if rng.random() < 0.5:
            b.add_opening("window", walls=[ends[1]], width=rng.uniform(0.6, max(0.61, b.Y - 0.7)))
        return
    n_doors = int(rng.integers(1, 3))
    n_win = {"living": (1, 4), "bedroom": (0, 3), "office": (1, 5), "kitchen": (0, 3)}[kind]
    for _ in range(n_doors):
        b.add_opening("door")
    for _ in range(int(rng.integers(*n_win))):
        # kitchen windows sit above the worktop (0.9 m)
        b.add_opening("window", sill=rng.uniform(1.0, 1.2) if kind == "kitchen" else None)


# ----------------------------------------------------------------------------- behind doors and windows


def next_room(rb, w, s0, ow, z1) -> None:
    """The neighbouring room behind an open door: its own floor and walls, the door leaf
    swung open into it, one to three pieces of furniture against its walls, sometimes its
    own light (so views through doors show another room, lit or dim)."""
    rng, mb, t = rb.rng, rb.mb, rb.thick
    L = rng.uniform(1.8, 4.5)
    left, right = ow / 2 + rng.uniform(0.5, 2.2), ow / 2 + rng.uniform(0.5, 2.2)
    o = w.origin + w.along * (s0 + ow / 2) - w.inward * t
    a, b = w.along, -w.inward  # b: away from the room
    up = np.array([0, 0, rb.H])
    mcw, mcf = rb.new_mat("wall"), rb.new_mat("floor" if rng.random() < 0.7 else "office_floor")
    c0 = o - a * left
    span = left + right
    mb.quad(c0, b * L, a * span, mcf)
    mb.quad(c0 + up, a * span, b * L, rb.mat("ceiling"))
    mb.quad(c0 + b * L, a * span, up, mcw)
    mb.quad(c0, up, b * L, mcw)
    mb.quad(c0 + a * span, b * L, up, mcw)
    mb.quad(c0, a * (left - ow / 2), up, mcw)
    mb.quad(o + a * (ow / 2), a * (right - ow / 2), up, mcw)
    # the door leaf, hinged at one side of the opening and swung 60-100 degrees open
    th = math.radians(rng.uniform(60, 100))
    hinge_left = rng.random() < 0.5
    hinge = o + a * (-ow / 2 if hinge_left else ow / 2)
    dirn = (math.cos(th) * (a if hinge_left else -a) + math.sin(th) * b)
    Rl = np.stack([dirn, np.cross(np.array([0, 0, 1.0]), dirn), np.array([0, 0, 1.0])], 1)
    mb.box(hinge + dirn * (ow / 2) + b * 0.02 + np.array([0, 0, z1 / 2]), (ow - 0.02, 0.04, z1 - 0.01),
           rb.mat("wood") if rng.random() < 0.5 else rb.mat("white"), Rl)
    # furniture against the back wall, facing the door
    yaw = math.atan2(-b[1], -b[0]) - math.pi / 2
    R = yaw_matrix(yaw)
    used: list[tuple[float, float]] = []
    makers = (fu.cabinet, fu.shelf, fu.wardrobe, fu.office_desk, fu.sofa, fu.bed, fu.fridge, fu.table, fu.kitchen_run_short)
    for _ in range(int(rng.integers(1, 4))):
        out = makers[int(rng.integers(0, len(makers)))](rng)
        fw, fd = out[1]
        if fw > span - 0.1 or fd > L - 0.6:
            continue
        x = rng.uniform(-left + fw / 2 + 0.05, right - fw / 2 - 0.05)
        if any(x - fw / 2 < q1 and q0 < x + fw / 2 for q0, q1 in used):
            continue
        used.append((x - fw / 2, x + fw / 2))
        rb.emit(out[0], R, o + a * x + b * (L - fd / 2 - 0.02))
    if rng.random() < 0.4 and not rb.lights:  # at most one: shadow rays per light cost time
        col = np.array([1.0, 0.85 + 0.1 * rng.random(), 0.7 + 0.25 * rng.random()]) * rng.uniform(0.8, 2.5) * rb.H**2
        rb.lights.append(Light(o + b * (L / 2) + a * (right - left) / 2 + np.array([0, 0, rb.H - 0.1]), col, radius=0.1))


def daylight(b, w, s0, ow, z1) -> None:
    """Typed rooms: skylight through the first window (a soft light outside, scaled with the
    sky's brightness), and on sunny days the sun (directional) through it."""
    rng, t = b.rng, b.thick
    if not any(lt.radius >= 0.15 or lt.directional for lt in b.lights) and b.sky_gain > 0.1:
        warm = rng.uniform(0.9, 1.1)
        col = np.array([warm, 1.0, 2.0 - warm]) * rng.uniform(1.5, 4.0) * min(b.sky_gain, 3.0) * b.H**2
        pos = w.origin + w.along * (s0 + ow / 2) - w.inward * (t + rng.uniform(1.0, 2.0)) + np.array([0, 0, z1 + rng.uniform(0.3, 1.5)])
        b.lights.append(Light(pos, col, radius=0.15))
        if b.sun:
            el, az = math.radians(rng.uniform(12, 55)), math.radians(rng.uniform(-55, 55))
            out = -w.inward
            d = math.cos(el) * (math.cos(az) * out + math.sin(az) * w.along) + np.array([0, 0, math.sin(el)])
            col = np.array([1.0, 0.92 + 0.05 * rng.random(), 0.75 + 0.1 * rng.random()]) * rng.uniform(3.0, 10.0)
            b.lights.append(Light(d / np.linalg.norm(d), col, radius=math.radians(0.6), directional=True,
                                     reach=b.sun_reach()))
    b.curtains(w, s0, ow, z1)


# ----------------------------------------------------------------------------- helpers


def _one(rng, *makers):
    return makers[int(rng.integers(0, len(makers)))](rng)


def _in_front(b, k: int, s: float, depth: float, out, gap: float, along: float = 0.0, yaw_turn: float = 0.0,
              windows: bool = True) -> bool:
    """Place ``out`` in front of a wall item (wall ``k`` at ``s``, ``depth`` deep), ``gap``
    metres from it, facing it (``yaw_turn`` = pi) or facing the same way (0)."""
    wall = b.walls[k]
    w, d = out[1]
    c = wall.origin + wall.along * (s + along) + wall.inward * (0.02 + depth + gap + d / 2)
    yaw = wall.yaw + yaw_turn
    obb = (c[0], c[1], w / 2, d / 2, yaw, out[2])
    if b.free(obb, out[2], windows):
        b.place(out, c[0], c[1], yaw, b.rug_z(obb))
        return True
    return False


def _beside(b, k: int, s: float, width: float, out, side: int) -> bool:
    """Place wall item ``out`` against wall ``k`` right beside the item at ``s`` (``width`` wide)."""
    wall = b.walls[k]
    w, d = out[1]
    s2 = s + side * (width / 2 + w / 2 + 0.04)
    if not w / 2 < s2 < wall.length - w / 2:
        return False
    c = wall.origin + wall.along * s2 + wall.inward * (d / 2 + 0.02)
    obb = (c[0], c[1], w / 2, d / 2, wall.yaw, out[2])
    if b.free(obb, out[2]):
        b.place(out, c[0], c[1], wall.yaw, b.rug_z(obb))
        b.wall_items.setdefault(k, []).append((s2 - w / 2, s2 + w / 2, out[2]))
        return True
    return False


def _chair_at(b, desk_obb, chair) -> None:
    """An office chair in front of a desk (its front faces the desk), pulled out a little."""
    rng = b.rng
    cx, cy, hx, hy, yaw, _ = desk_obb
    f = np.array([-math.sin(yaw), math.cos(yaw)])  # the desk's front direction (+y local)
    dist = hy + chair[1][1] / 2 + rng.uniform(-0.05, 0.3)
    cyaw = yaw + math.pi + rng.uniform(-0.7, 0.7)
    p = np.array([cx, cy]) + f * dist + rng.uniform(-0.3, 0.3) * np.array([f[1], -f[0]]) * hx
    obb = (p[0], p[1], chair[1][0] / 2, chair[1][1] / 2, cyaw, chair[2])
    if b.free(obb, chair[2]):
        b.place(chair, p[0], p[1], cyaw, b.rug_z(obb))


def _desk_with_chair(b, walls=None, desk=fu.office_desk, chair=fu.office_chair) -> bool:
    if b.against_wall(desk(b.rng), walls=walls) is None:
        return False
    _chair_at(b, b.obstacles[-1], chair(b.rng))
    return True


def _radiators(b, prob: float = 0.4) -> None:
    """Radiators under some windows."""
    rng = b.rng
    for k, s0, s1, sill in b.windows:
        if rng.random() >= prob:
            continue
        out = fu.radiator(rng)
        if out[1][0] > s1 - s0 or out[2] > sill - 0.05:
            continue
        wall = b.walls[k]
        c = wall.origin + wall.along * ((s0 + s1) / 2) + wall.inward * (out[1][1] / 2 + 0.04)
        obb = (c[0], c[1], out[1][0] / 2, out[1][1] / 2, wall.yaw, out[2])
        if b.free(obb, out[2], windows=False):
            b.place(out, c[0], c[1], wall.yaw)


# ----------------------------------------------------------------------------- room programs


def living(b) -> None:
    rng = b.rng
    b.add_rug(0.6)
    res = b.against_wall(fu.sofa(rng))
    if res is not None:
        k, s = res
        sofa_d = 2 * b.obstacles[-1][3]
        _in_front(b, k, s, sofa_d, fu.coffee_table(rng), rng.uniform(0.3, 0.5))
        if rng.random() < 0.75:
            b.against_wall(fu.tv_stand(rng), walls=[(k + 2) % 4])
    for _ in range(int(rng.integers(0, 3))):
        b.free_standing(fu.armchair(rng))
    for _ in range(int(rng.integers(1, 4))):
        b.against_wall(_one(rng, fu.shelf, fu.cabinet, fu.shelf))
    if b.X * b.Y > 16 and rng.random() < 0.4:
        b.table_with_chairs()
    if rng.random() < 0.6:
        b.free_standing(fu.floor_lamp(rng))
    for _ in range(int(rng.integers(0, 3))):
        b.free_standing(_one(rng, fu.plant, fu.leafy_plant, fu.leafy_plant))
    _radiators(b)


def bedroom(b) -> None:
    rng = b.rng
    b.add_rug(0.4)
    bed = fu.bed(rng)
    res = b.against_wall(bed, walls=[k for k in range(4) if b.walls[k].length >= bed[1][0] + 1.0] or None)
    if res is not None:
        k, s = res
        for side in (-1, 1):
            if rng.random() < 0.8:
                _beside(b, k, s, bed[1][0], fu.nightstand(rng), side)
    if rng.random() < 0.8:
        b.against_wall(fu.wardrobe(rng))
    if rng.random() < 0.5:
        b.against_wall(fu.cabinet(rng))
    if rng.random() < 0.35:
        _desk_with_chair(b, desk=fu.desk if rng.random() < 0.5 else fu.office_desk)
    if rng.random() < 0.3:
        b.against_wall(fu.shelf(rng))
    if rng.random() < 0.2:
        b.free_standing(fu.armchair(rng))
    if rng.random() < 0.4:
        b.free_standing(fu.leafy_plant(rng))
    if rng.random() < 0.2:
        b.free_standing(fu.waste_bin(rng))
    _radiators(b)


def office(b) -> None:
    rng = b.rng
    area = b.X * b.Y
    if area > 22:  # open plan: clusters of two desks back to back, with a divider
        for _ in range(int(area / 7)):
            _desk_pair(b)
    for _ in range(int(rng.integers(1, 4 if area <= 22 else 3))):
        _desk_with_chair(b)
    for _ in range(int(rng.integers(0, 3))):
        b.against_wall(_one(rng, fu.filing_cabinet, fu.shelf, fu.filing_cabinet))
    if area > 14 and rng.random() < 0.3:
        b.table_with_chairs(chair=fu.office_chair)
    for _ in range(int(rng.integers(0, 3))):
        b.free_standing(_one(rng, fu.leafy_plant, fu.waste_bin, fu.boxes))
    _radiators(b, 0.3)


def _desk_pair(b, tries: int = 6) -> bool:
    rng = b.rng
    da, db = fu.office_desk(rng), fu.office_desk(rng)
    for _ in range(tries):
        yaw = rng.choice([0.0, math.pi / 2]) + rng.uniform(-0.05, 0.05)
        w = max(da[1][0], db[1][0])
        half_d = (da[1][1] + db[1][1]) / 2 + 0.9
        cx, cy = rng.uniform(1.0, b.X - 1.0), rng.uniform(1.0, b.Y - 1.0)
        if not b.free((cx, cy, w / 2 + 0.1, half_d, yaw, 1.3), 1.3):
            continue
        f = np.array([-math.sin(yaw), math.cos(yaw)])
        for out, sign in ((da, 1.0), (db, -1.0)):
            c = np.array([cx, cy]) + f * sign * (out[1][1] / 2 + 0.01)
            b.place(out, c[0], c[1], yaw if sign > 0 else yaw + math.pi)
        # a divider screen between the two desks
        b.mb.box((cx, cy, 0.95), (w, 0.03, 0.4), b.mat("fabric"), R=yaw_matrix(yaw))
        for k in (-2, -1):
            _chair_at(b, b.obstacles[k], fu.office_chair(rng))
        return True
    return False


def kitchen(b) -> None:
    rng = b.rng
    k0 = int(rng.integers(0, 4))
    plan = str(rng.choice(["single", "L", "L", "galley", "U"]))
    walls = {"single": [k0], "L": [k0, (k0 + 1) % 4], "galley": [k0, (k0 + 2) % 4], "U": [(k0 + 3) % 4, k0, (k0 + 1) % 4]}[plan]
    if plan == "galley" and b.walls[(k0 + 1) % 4].length < 2.4:
        walls = [k0]
    runs: list[int] = []
    for i, k in enumerate(walls):
        if _worktop(b, k, runs, appliances=i == 0 or rng.random() < 0.3):
            runs.append(k)
    if rng.random() < 0.85:
        b.against_wall(fu.fridge(rng))
    if rng.random() < 0.6:
        b.table_with_chairs()
    if rng.random() < 0.2:
        b.against_wall(fu.washing_machine(rng))
    if rng.random() < 0.4:
        b.free_standing(fu.waste_bin(rng))
    _radiators(b, 0.25)


def _worktop(b, k: int, runs: list[int], appliances: bool) -> bool:
    """A worktop run along wall ``k``: the longest stretch clear of doors and of the runs on
    the neighbouring walls, with upper cabinets where there is no window above."""
    rng, wall = b.rng, b.walls[k]
    L = wall.length
    cuts = [(o[0] - 0.1, o[1] + 0.1) for o in wall.openings if o[4] == "door"]
    if (k + 3) % 4 in runs:
        cuts.append((-1.0, 0.64))
    if (k + 1) % 4 in runs:
        cuts.append((L - 0.64, L + 1.0))
    ivs, s = [], 0.02
    for a, c in sorted(cuts):
        if a > s:
            ivs.append((s, a))
        s = max(s, c)
    if L - 0.02 > s:
        ivs.append((s, L - 0.02))
    if not ivs:
        return False
    a, c = max(ivs, key=lambda iv: iv[1] - iv[0])
    wins = sorted((o[0] - 0.05, o[1] + 0.05) for o in wall.openings if o[4] == "window")
    for _shrink in range(5):
        if c - a < 0.9:
            return False
        mid = (a + c) / 2
        ups, u = [], a
        for wa, wc in wins:
            if wa > u and wa < c:
                ups.append((u - mid, min(wa, c) - mid))
            u = max(u, wc)
        if c > u:
            ups.append((u - mid, c - mid))
        out = fu.kitchen_run(rng, c - a, ups if rng.random() < 0.85 else [], appliances)
        d = out[1][1]
        ctr = wall.origin + wall.along * mid + wall.inward * (d / 2 + 0.005)
        obb = (ctr[0], ctr[1], (c - a) / 2, d / 2, wall.yaw, out[2])
        if b.free(obb, out[2], windows=False):
            b.place(out, ctr[0], ctr[1], wall.yaw)
            b.wall_items.setdefault(k, []).append((a, c, 9.0))
            return True
        if rng.random() < 0.5:
            a += 0.3
        else:
            c -= 0.3
    return False


def bathroom(b) -> None:
    rng = b.rng
    if rng.random() < 0.55:
        tub = fu.bathtub(rng)
        if b.against_wall(tub, walls=[k for k in range(4) if b.walls[k].length >= tub[1][0] + 0.1] or None, corner=True) is None:
            b.against_wall(fu.shower(rng), corner=True)
    else:
        b.against_wall(fu.shower(rng), corner=True)
    b.against_wall(fu.toilet(rng), tries=25)
    b.against_wall(fu.vanity(rng), tries=25)
    if rng.random() < 0.2:
        b.against_wall(fu.washing_machine(rng))
    if rng.random() < 0.3:
        b.against_wall(fu.nightstand(rng))  # a small cabinet
    if rng.random() < 0.5:
        b.free_standing(fu.waste_bin(rng))
    _radiators(b, 0.5)


def corridor(b) -> None:
    rng = b.rng
    for _ in range(int(rng.integers(0, 4))):
        out = _one(rng, fu.bench, fu.shelf, fu.cabinet, fu.leafy_plant, fu.waste_bin, fu.radiator)
        if b.Y - out[1][1] >= 0.9:
            b.against_wall(out)
    _radiators(b, 0.3)


LAYOUTS = {"living": living, "bedroom": bedroom, "office": office, "kitchen": kitchen, "bathroom": bathroom,
           "corridor": corridor}


# ----------------------------------------------------------------------------- office light


def office_panels(b, base: np.ndarray, power: float) -> None:
    """Recessed ceiling panels in a grid (emissive); two of them cast light and shadows, the
    others add to the ambient term (shadow rays per light cost time)."""
    rng, mb = b.rng, b.mb
    lamp = b.mat("lamp")
    pw, pd = (0.6, 0.6) if rng.random() < 0.5 else (1.2, 0.3)
    sp = rng.uniform(1.8, 2.6)
    nx, ny = max(1, int(b.X / sp)), max(1, int(b.Y / sp))
    centres = [((i + 0.5) * b.X / nx, (j + 0.5) * b.Y / ny) for i in range(nx) for j in range(ny)]
    for x, y in centres:
        mb.quad((x - pw / 2, y - pd / 2, b.H - 0.003), (0, pd, 0), (pw, 0, 0), lamp)
    order = rng.permutation(len(centres))[:2]
    scale = math.sqrt(len(centres) / len(order))
    for i in order:
        x, y = centres[i]
        b.lights.append(Light(np.array([x, y, b.H - 0.05]), base * power * scale, radius=min(pw, pd) * 0.5))

