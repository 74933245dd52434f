"""Furniture makers for the synthetic rooms, each in its own local frame (clutter: ``clutter``).

Every maker takes a numpy ``Generator`` and returns ``(parts, (width, depth), height, surfaces,
lights)``: origin at the floor centre of the footprint, x across, y depth with the FRONT facing
+y (the back, -y, goes against a wall), z up. Parts are

- ``("box", center, size, role)``: an axis-aligned box,
- ``("rbox", center, size, yaw, role)``: a box turned by ``yaw`` about z (chair star bases),
- ``("cyl", base, r0, r1, h, role)``: a vertical cylinder or truncated cone,
- ``("sph", center, radii, role)``: an ellipsoid,

where ``role`` names a material role of ``textures.random_material`` (one material per role and
room, so all the wood of a room matches). ``surfaces`` are support tops ``(cx, cy, w, d, z,
clearance)``: clutter is placed on those with clearance > 0, and close-up cameras look down at
all of them. ``lights`` are ``(position, power)`` lamp bulbs.

Sizes follow common furniture standards (desk and table tops 0.72-0.77 m, kitchen worktops
0.9 m deep 0.6 m, upper cabinets from ~1.45 m, toilets 0.4 m seat height, bathtubs 1.5-1.8 m),
so that the depth the network learns from object sizes is metric.
"""

from __future__ import annotations

import numpy as np


def table(rng, against_wall=False):
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


def chair(rng):
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


def shelf(rng):
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


def bed(rng):
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


def sofa(rng, armchair=False):
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


def cabinet(rng):
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


def desk(rng):
    parts, (w, d), h, _, _ = table(rng, against_wall=True)
    sw, sh = rng.uniform(0.45, 0.65), rng.uniform(0.28, 0.4)
    parts += [
        ("box", (0, -d / 2 + 0.15, h + 0.005), (0.2, 0.15, 0.01), "plastic"),
        ("box", (0, -d / 2 + 0.16, h + 0.1), (0.04, 0.02, 0.2), "plastic"),
        ("box", (0, -d / 2 + 0.14, h + 0.12 + sh / 2), (sw, 0.03, sh), "screen"),
        ("box", (0, -d / 2 + 0.4, h + 0.012), (0.42, 0.14, 0.024), "plastic"),
    ]
    return parts, (w, d), h + 0.5, [], []


def tv_stand(rng):
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


def boxes(rng):
    parts, z = [], 0.0
    bw, bd = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.6)
    for _ in range(int(rng.integers(1, 4))):
        bh = rng.uniform(0.2, 0.5)
        parts.append(("box", (rng.uniform(-0.03, 0.03), rng.uniform(-0.03, 0.03), z + bh / 2), (bw, bd, bh), "cardboard"))
        z += bh
        bw, bd = bw * rng.uniform(0.7, 0.95), bd * rng.uniform(0.7, 0.95)
    return parts, (bw / rng.uniform(0.7, 0.95) ** 3 + 0.08, bd / 0.6 + 0.08), z, [], []


def plant(rng):
    r, h = rng.uniform(0.12, 0.22), rng.uniform(0.25, 0.45)
    fr = rng.uniform(0.25, 0.45)
    parts = [("cyl", (0, 0, 0), r * 0.8, r, h, "plastic"), ("sph", (0, 0, h + fr * 0.8), (fr, fr, fr * 1.2), "foliage")]
    if rng.random() < 0.5:
        parts.append(("sph", (fr * 0.4, -fr * 0.3, h + fr * 1.6), (fr * 0.6,) * 3, "foliage"))
    s = 2 * max(fr, r) + 0.05
    return parts, (s, s), h + fr * 2.5, [], []


def floor_lamp(rng):
    h = rng.uniform(1.4, 1.75)
    sr = rng.uniform(0.15, 0.22)
    parts = [("cyl", (0, 0, 0), 0.14, 0.12, 0.03, "metal"), ("cyl", (0, 0, 0.03), 0.012, 0.012, h - 0.25, "metal"),
             ("cyl", (0, 0, h - 0.28), sr * 1.3, sr * 0.8, 0.28, "white")]
    light = ((0, 0, h - 0.33), 0.35)
    return parts, (2 * sr * 1.3, 2 * sr * 1.3), h, [], [light]


def waste_bin(rng):
    r, h = rng.uniform(0.12, 0.2), rng.uniform(0.3, 0.6)
    return [("cyl", (0, 0, 0), r, r * 1.05, h, rng.choice(["plastic", "metal"]))], (2 * r + 0.03, 2 * r + 0.03), h, [], []


WALL_ITEMS = {"shelf": shelf, "bed": bed, "sofa": sofa, "cabinet": cabinet, "desk": desk, "tv_stand": tv_stand}
FREE_ITEMS = {"boxes": boxes, "plant": plant, "floor_lamp": floor_lamp, "bin": waste_bin, "armchair": lambda r: sofa(r, True)}


def armchair(rng):
    return sofa(rng, armchair=True)


# ----------------------------------------------------------------------------- room-type furniture


def _fronts(parts, w, d, z0, z1, cols: int, rows: int, role: str, handle: str = "metal", vertical_handles=False):
    """Door / drawer fronts on the +y face of a carcass spanning x in [-w/2, w/2], z in [z0, z1]."""
    cw, rh = w / cols, (z1 - z0) / rows
    for r in range(rows):
        for c in range(cols):
            x, z = -w / 2 + cw * (c + 0.5), z0 + rh * (r + 0.5)
            parts.append(("box", (x, d / 2 + 0.009, z), (cw - 0.006, 0.018, rh - 0.006), role))
            if vertical_handles:
                hx = x + (cw / 2 - 0.05) * (1 if c % 2 == 0 else -1)
                parts.append(("box", (hx, d / 2 + 0.028, z), (0.015, 0.02, min(0.3, rh * 0.4)), handle))
            else:
                parts.append(("box", (x, d / 2 + 0.028, z + rh * 0.3), (min(0.16, cw * 0.4), 0.02, 0.014), handle))


def coffee_table(rng):
    w, d, h = rng.uniform(0.8, 1.3), rng.uniform(0.45, 0.7), rng.uniform(0.38, 0.48)
    t = rng.uniform(0.03, 0.06)
    parts = [("box", (0, 0, h - t / 2), (w, d, t), "wood")]
    if rng.random() < 0.5:  # a lower shelf
        parts.append(("box", (0, 0, 0.12), (w - 0.1, d - 0.1, 0.02), "wood"))
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(("box", (sx * (w / 2 - 0.04), sy * (d / 2 - 0.04), (h - t) / 2), (0.045, 0.045, h - t), "wood"))
    return parts, (w, d), h, [(0, 0, w - 0.06, d - 0.06, h, 0.5)], []


def nightstand(rng):
    w, d, h = rng.uniform(0.4, 0.55), rng.uniform(0.35, 0.45), rng.uniform(0.45, 0.62)
    parts = [("box", (0, -0.01, h / 2), (w, d - 0.02, h), "wood")]
    _fronts(parts, w - 0.02, d - 0.04, 0.06, h - 0.03, 1, int(rng.integers(1, 3)), "wood")
    return parts, (w, d), h, [(0, 0, w - 0.04, d - 0.04, h, 0.6)], []


def wardrobe(rng):
    w, d, h = rng.uniform(0.8, 2.0), rng.uniform(0.55, 0.62), rng.uniform(1.9, 2.3)
    role = "wood" if rng.random() < 0.5 else "cabinet"
    parts = [("box", (0, -0.01, h / 2 + 0.04), (w, d - 0.02, h - 0.08), role), ("box", (0, -0.03, 0.02), (w - 0.04, d - 0.06, 0.04), "dark")]
    _fronts(parts, w - 0.02, d - 0.04, 0.06, h - 0.02, max(2, int(round(w / 0.5))), 1, role, vertical_handles=True)
    return parts, (w, d), h, [], []


def office_desk(rng):
    """A desk with one or two monitors, keyboard, mouse (or a laptop) and often a drawer unit;
    clutter goes on its free sides, close-up cameras look at all of its top."""
    w, d = rng.uniform(1.2, 1.8), rng.uniform(0.7, 0.85)
    h, t = rng.uniform(0.72, 0.76), rng.uniform(0.025, 0.035)
    top = "wood" if rng.random() < 0.5 else "white"
    frame = "metal" if rng.random() < 0.6 else top
    parts = [("box", (0, 0, h - t / 2), (w, d, t), top)]
    for sx in (-1, 1):  # panel legs or a steel frame
        parts.append(("box", (sx * (w / 2 - 0.04), 0, (h - t) / 2), (0.04, d - 0.08, h - t), frame))
    parts.append(("box", (0, -d / 2 + 0.06, h - t - 0.15), (w - 0.1, 0.015, 0.3), frame))  # modesty panel
    if rng.random() < 0.6:  # drawer unit under one side
        pw, ph = 0.42, rng.uniform(0.55, 0.62)
        x = (w / 2 - 0.1 - pw / 2) * (1 if rng.random() < 0.5 else -1)
        parts.append(("box", (x, 0.0, ph / 2), (pw, d - 0.2, ph), top))
        sub = []
        _fronts(sub, pw, d - 0.2, 0.02, ph - 0.01, 1, 3, top)
        parts += [(k, (c[0] + x, c[1], c[2]), *rest) for k, c, *rest in sub]
    yb = -d / 2 + rng.uniform(0.12, 0.22)  # monitor plane
    if rng.random() < 0.2:  # a laptop instead of monitors
        lw = rng.uniform(0.3, 0.36)
        parts += [("box", (0, -0.05, h + 0.009), (lw, 0.23, 0.018), "metal"),
                  ("box", (0, -0.05 - 0.115, h + 0.018 + 0.11), (lw, 0.008, 0.22), "metal"),
                  ("box", (0, -0.05 - 0.11, h + 0.018 + 0.11), (lw - 0.02, 0.002, 0.19), "screen")]
        ky, top_h = 0.1, h + 0.25
    else:
        n = 1 if rng.random() < 0.65 else 2
        sw = rng.uniform(0.45, 0.62)
        sh = sw * rng.uniform(0.56, 0.62)
        lift = rng.uniform(0.08, 0.16)
        for k in range(n):
            x = 0.0 if n == 1 else (k - 0.5) * (sw + 0.02)
            parts += [("box", (x, yb, h + 0.006), (0.22, 0.16, 0.012), "dark"),
                      ("box", (x, yb - 0.01, h + lift / 2 + 0.03), (0.05, 0.025, lift + 0.04), "dark"),
                      ("box", (x, yb + 0.01, h + lift + sh / 2), (sw, 0.025, sh), "dark"),
                      ("box", (x, yb + 0.0235, h + lift + sh / 2 + 0.005), (sw - 0.025, 0.003, sh - 0.035), "screen")]
        ky, top_h = yb + rng.uniform(0.3, 0.42), h + lift + sh
    kw = rng.uniform(0.36, 0.45)
    parts.append(("box", (rng.uniform(-0.1, 0.05), ky, h + 0.012), (kw, 0.14, 0.024), "keyboard"))
    parts.append(("sph", (kw / 2 + 0.12, ky, h + 0.012), (0.032, 0.055, 0.016), "dark"))
    side = (w / 2 - 0.4)
    surfaces = [(0, 0, w - 0.04, d - 0.04, h, 0.0)]  # the whole top: close-up views only
    if side > 0.15:
        for sx in (-1, 1):
            surfaces.append((sx * (w / 2 - side / 2 - 0.03), 0.05, side, d - 0.25, h, 0.35))
    return parts, (w, d), top_h, surfaces, []


def office_chair(rng):
    """Swivel chair: five-star base with casters, gas lift, seat, back, maybe armrests."""
    sh = rng.uniform(0.45, 0.53)
    sw, sd = rng.uniform(0.46, 0.52), rng.uniform(0.44, 0.5)
    fab = "fabric" if rng.random() < 0.5 else "dark"
    parts = []
    r = 0.3
    a0 = rng.uniform(0, 2 * np.pi / 5)
    for k in range(5):
        a = a0 + 2 * np.pi * k / 5
        c, s = np.cos(a), np.sin(a)
        parts.append(("rbox", (c * r / 2, s * r / 2, 0.075), (r, 0.045, 0.03), a, "dark"))
        parts.append(("sph", (c * r, s * r, 0.03), (0.025, 0.025, 0.03), "dark"))
    parts.append(("cyl", (0, 0, 0.08), 0.025, 0.025, sh - 0.12, "metal"))
    parts.append(("box", (0, 0, sh - 0.03), (sw, sd, 0.07), fab))
    bh = rng.uniform(0.45, 0.6)
    parts.append(("box", (0, -sd / 2 + 0.02, sh + 0.05), (0.05, 0.03, 0.1), "dark"))
    parts.append(("box", (0, -sd / 2 + 0.0, sh + 0.1 + bh / 2), (sw - 0.04, 0.06, bh), fab))
    if rng.random() < 0.6:
        for sx in (-1, 1):
            parts.append(("box", (sx * (sw / 2 + 0.02), 0.0, sh + 0.12), (0.03, 0.03, 0.2), "dark"))
            parts.append(("box", (sx * (sw / 2 + 0.02), 0.02, sh + 0.22), (0.06, 0.26, 0.03), "dark"))
    return parts, (2 * r + 0.06, 2 * r + 0.06), sh + 0.1 + bh, [], []


def filing_cabinet(rng):
    w, d, h = rng.uniform(0.4, 0.9), rng.uniform(0.45, 0.6), rng.uniform(0.7, 1.35)
    parts = [("box", (0, -0.01, h / 2), (w, d - 0.02, h), "appliance")]
    _fronts(parts, w - 0.02, d - 0.04, 0.02, h - 0.02, 1 if w < 0.6 else 2, max(2, int(round(h / 0.32))), "appliance", "dark")
    return parts, (w, d), h, [(0, 0, w - 0.04, d - 0.04, h, 0.5)], []


def kitchen_run(rng, length: float, uppers=(), appliances: bool = True):
    """A run of base cabinets with a worktop along a wall, with a sink and a hob, a tiled
    splashback and upper cabinets over the ``uppers`` intervals (local x, from -length/2)."""
    L, d, h = length, 0.6, rng.uniform(0.88, 0.92)
    t = rng.uniform(0.028, 0.04)
    parts = [("box", (0, -0.03, 0.05), (L - 0.02, d - 0.08, 0.1), "dark"),
             ("box", (0, -0.01, 0.1 + (h - t - 0.1) / 2), (L, d - 0.02, h - t - 0.1), "cabinet"),
             ("box", (0, 0.01, h - t / 2), (L + 0.01, d + 0.02, t), "counter")]
    units = max(1, int(round(L / rng.uniform(0.45, 0.62))))
    uw = L / units
    for k in range(units):
        x0 = -L / 2 + k * uw
        sub = []
        if rng.random() < 0.3:
            _fronts(sub, uw, d - 0.02, 0.1, h - t - 0.005, 1, 3, "cabinet")
        else:
            _fronts(sub, uw, d - 0.02, 0.1, h - t - 0.005, 1 if uw < 0.55 else 2, 1, "cabinet", vertical_handles=True)
        parts += [(kk, (c[0] + x0 + uw / 2, c[1] - 0.01, c[2]), *rest) for kk, c, *rest in sub]
    surfaces = []
    free = [(-L / 2 + 0.05, L / 2 - 0.05)]
    if appliances and L > 1.3:
        # sink with a tap and a hob, at random unit positions
        ks = int(rng.integers(0, units))
        sx = -L / 2 + uw * (ks + 0.5)
        sw = min(uw - 0.08, rng.uniform(0.45, 0.6))
        parts += [("box", (sx, 0.02, h + 0.001), (sw, 0.42, 0.004), "metal"),
                  ("box", (sx, 0.03, h + 0.002), (sw - 0.06, 0.34, 0.002), "sink"),
                  ("cyl", (sx, -d / 2 + 0.08, h), 0.02, 0.016, 0.28, "metal"),
                  ("box", (sx, -d / 2 + 0.16, h + 0.27), (0.025, 0.17, 0.025), "metal")]
        free = [(-L / 2 + 0.05, sx - sw / 2 - 0.05), (sx + sw / 2 + 0.05, L / 2 - 0.05)]
        kh = [k for k in range(units) if abs(k - ks) > 1]
        if kh:
            hx = -L / 2 + uw * (kh[int(rng.integers(0, len(kh)))] + 0.5)
            hw = min(uw - 0.04, 0.58)
            parts.append(("box", (hx, 0.0, h + 0.003), (hw, 0.5, 0.006), "screen"))
            for ox in (-0.13, 0.13):
                for oy in (-0.11, 0.11):
                    parts.append(("cyl", (hx + ox * hw / 0.58, oy, h + 0.006), rng.uniform(0.06, 0.1), None, 0.002, "metal"))
            if rng.random() < 0.6:  # oven door under the hob
                parts.append(("box", (hx, d / 2 + 0.012, 0.5), (hw, 0.02, 0.5), "screen"))
            free = [(a, b) for a, b in free if not (a < hx + hw / 2 and hx - hw / 2 < b)] + \
                   [iv for a, b in free if a < hx + hw / 2 and hx - hw / 2 < b for iv in ((a, hx - hw / 2 - 0.04), (hx + hw / 2 + 0.04, b))]
    for a, b in free:
        if b - a > 0.2:
            surfaces.append(((a + b) / 2, 0.0, b - a, d - 0.12, h, 0.5 if uppers else 0.8))
    surfaces.append((0, 0, L - 0.04, d - 0.04, h, 0.0))
    # tiled splashback and upper cabinets
    z_up = rng.uniform(1.42, 1.55)
    parts.append(("box", (0, -d / 2 + 0.006, (h + z_up) / 2), (L, 0.012, z_up - h), "splash"))
    top = h
    for a, b in uppers:
        if b - a < 0.3:
            continue
        uh = rng.uniform(0.6, 0.8)
        parts.append(("box", ((a + b) / 2, -d / 2 + 0.17, z_up + uh / 2), (b - a, 0.32, uh), "cabinet"))
        sub = []
        _fronts(sub, b - a, 0.32, z_up + 0.005, z_up + uh - 0.005, max(1, int(round((b - a) / 0.5))), 1, "cabinet", vertical_handles=True)
        parts += [(kk, (c[0] + (a + b) / 2, c[1] - d / 2 + 0.17, c[2]), *rest) for kk, c, *rest in sub]
        top = z_up + uh
    return parts, (L, d + 0.02), top, surfaces, []


def fridge(rng):
    w, d, h = rng.uniform(0.58, 0.75), rng.uniform(0.62, 0.72), rng.uniform(1.65, 1.95)
    parts = [("box", (0, -0.02, h / 2), (w, d - 0.04, h), "appliance")]
    split = h * rng.uniform(0.3, 0.4)
    for z0, z1 in ((0.02, split), (split + 0.01, h - 0.01)):
        parts.append(("box", (0, d / 2 - 0.025, (z0 + z1) / 2), (w - 0.01, 0.03, z1 - z0), "appliance"))
        parts.append(("box", (w / 2 - 0.06, d / 2, z1 - 0.2 if z1 > 1 else z1 - 0.12), (0.02, 0.02, 0.3 if z1 > 1 else 0.18), "metal"))
    return parts, (w, d), h, [], []


def washing_machine(rng):
    w, d, h = 0.6, rng.uniform(0.55, 0.62), rng.uniform(0.82, 0.86)
    return [("box", (0, 0, h / 2), (w, d, h), "appliance"),
            ("box", (0, d / 2 + 0.005, 0.45), (0.34, 0.01, 0.34), "screen"),
            ("box", (0, d / 2 + 0.005, h - 0.08), (w - 0.04, 0.01, 0.1), "dark")], (w, d + 0.02), h, [(0, 0, w - 0.04, d - 0.04, h, 0.5)], []


def toilet(rng):
    d = rng.uniform(0.62, 0.72)
    tank_w = rng.uniform(0.36, 0.42)
    parts = [("box", (0, -d / 2 + 0.09, 0.4 + 0.19), (tank_w, 0.17, 0.38), "ceramic"),
             ("cyl", (0, 0.07, 0), 0.13, 0.17, 0.36, "ceramic"),
             ("sph", (0, 0.07, 0.39), (0.19, 0.25, 0.03), "white")]
    if rng.random() < 0.5:  # lid up against the tank
        parts.append(("box", (0, -d / 2 + 0.2, 0.62), (0.36, 0.03, 0.42), "white"))
    else:
        parts.append(("sph", (0, 0.07, 0.42), (0.18, 0.24, 0.015), "white"))
    return parts, (tank_w + 0.04, d), 0.8, [(0, -d / 2 + 0.09, tank_w - 0.04, 0.13, 0.8, 0.4)], []


def vanity(rng):
    """Washbasin on a cabinet (or a pedestal) with a tap and a mirror on the wall above."""
    w, d, h = rng.uniform(0.5, 1.1), rng.uniform(0.42, 0.52), rng.uniform(0.8, 0.88)
    parts = []
    if rng.random() < 0.7:
        parts.append(("box", (0, -0.01, h / 2), (w, d - 0.02, h - 0.02), "cabinet"))
        _fronts(parts, w - 0.02, d - 0.04, 0.1, h - 0.04, 1 if w < 0.7 else 2, 1, "cabinet", vertical_handles=True)
    else:
        parts.append(("cyl", (0, -0.05, 0), 0.1, 0.08, h - 0.02, "ceramic"))
    parts.append(("box", (0, 0, h - 0.01), (w, d, 0.04), "ceramic"))
    br = min(w / 2 - 0.08, rng.uniform(0.18, 0.24))
    parts += [("cyl", (0, 0.03, h + 0.01), br * 0.55, br, 0.13, "ceramic"),
              ("cyl", (0, 0.03, h + 0.141), br * 0.88, br * 0.88, 0.001, "sink"),  # the basin, seen from above
              ("cyl", (0, -d / 2 + 0.06, h + 0.01), 0.018, 0.015, 0.22, "metal"),
              ("box", (0, -d / 2 + 0.12, h + 0.21), (0.022, 0.13, 0.022), "metal")]
    mw, mh = min(w, rng.uniform(0.5, 1.0)), rng.uniform(0.55, 0.9)
    mz = h + rng.uniform(0.25, 0.4)
    parts.append(("box", (0, -d / 2 + 0.01, mz + mh / 2), (mw + 0.03, 0.015, mh + 0.03), rng.choice(["white", "metal", "wood"])))
    parts.append(("box", (0, -d / 2 + 0.019, mz + mh / 2), (mw, 0.003, mh), "mirror"))
    side = (w - 2 * br) / 2 - 0.06
    surfaces = [(0, 0, w - 0.04, d - 0.04, h + 0.01, 0.0)]
    if side > 0.1:
        surfaces += [(sx * (w / 2 - side / 2 - 0.03), 0.0, side, d - 0.1, h + 0.01, 0.25) for sx in (-1, 1)]
    return parts, (w, d), mz + mh + 0.02, surfaces, []


def bathtub(rng):
    L, W, h = rng.uniform(1.5, 1.8), rng.uniform(0.7, 0.8), rng.uniform(0.5, 0.58)
    rim = 0.07
    parts = [("box", (0, 0, 0.06), (L, W, 0.12), "ceramic"),
             ("box", (0, W / 2 - rim / 2, h / 2), (L, rim, h), "ceramic"),
             ("box", (0, -W / 2 + rim / 2, h / 2), (L, rim, h), "ceramic"),
             ("box", (L / 2 - rim / 2, 0, h / 2), (rim, W - 2 * rim, h), "ceramic"),
             ("box", (-L / 2 + rim / 2, 0, h / 2), (rim, W - 2 * rim, h), "ceramic"),
             ("cyl", (L / 2 - 0.2, -W / 2 + 0.03, h), 0.018, 0.018, 0.12, "metal")]
    top = h
    if rng.random() < 0.5:  # shower curtain drawn half-way along the front
        cl = L * rng.uniform(0.3, 0.6)
        parts.append(("box", (-L / 2 + cl / 2, W / 2 - 0.02, h + 0.05 + 0.75), (cl, 0.03, 1.5), "fabric"))
        parts.append(("box", (0, W / 2 - 0.02, h + 1.62), (L, 0.02, 0.02), "metal"))
        top = h + 1.65
    return parts, (L, W), top, [], []


def shower(rng):
    s = rng.uniform(0.8, 1.0)
    ph = rng.uniform(1.9, 2.05)
    parts = [("box", (0, 0, 0.03), (s, s, 0.06), "ceramic"),
             ("box", (0, -0.0, 0.061), (0.08, 0.08, 0.002), "metal"),
             ("box", (s / 2 - 0.015, s / 2 - 0.015, ph / 2), (0.03, 0.03, ph), "metal"),
             ("box", (0, s / 2 - 0.015, ph), (s, 0.025, 0.025), "metal"),
             ("cyl", (0, -s / 2 + 0.02, 1.0), 0.012, 0.012, ph - 0.9, "metal"),
             ("cyl", (0, -s / 2 + 0.1, ph - 0.05), 0.08, 0.05, 0.04, "metal")]
    if rng.random() < 0.6:
        parts.append(("box", (-s / 2 + s * 0.25, s / 2 - 0.03, 0.15 + (ph - 0.2) / 2), (s * 0.5, 0.03, ph - 0.25), "fabric"))
    return parts, (s, s), ph, [], []


def leafy_plant(rng):
    """A potted plant whose foliage is a cluster of leaf clumps around a stem."""
    r, h = rng.uniform(0.1, 0.2), rng.uniform(0.2, 0.4)
    top = rng.uniform(0.4, 1.1)
    parts = [("cyl", (0, 0, 0), r * 0.75, r, h, rng.choice(["ceramic", "plastic", "dark"])),
             ("cyl", (0, 0, h - 0.02), r * 0.95, r * 0.95, 0.01, "cardboard"),
             ("cyl", (0, 0, h), 0.012, 0.01, top * 0.8, "wood")]
    spread = 0.0
    for _ in range(int(rng.integers(5, 10))):
        a, zc = rng.uniform(0, 2 * np.pi), h + top * rng.uniform(0.25, 0.95)
        rr = rng.uniform(0.0, 0.25) * top
        cr = rng.uniform(0.07, 0.16) * (0.6 + top)
        parts.append(("sph", (np.cos(a) * rr, np.sin(a) * rr, zc), (cr, cr * rng.uniform(0.7, 1.1), cr * rng.uniform(0.5, 0.9)), "foliage"))
        spread = max(spread, rr + cr)
    s = 2 * max(spread, r) + 0.04
    return parts, (s, s), h + top + 0.2, [], []


def bench(rng):
    w, d, h = rng.uniform(0.8, 1.6), rng.uniform(0.3, 0.42), rng.uniform(0.42, 0.48)
    parts = [("box", (0, 0, h - 0.02), (w, d, 0.04), "wood")]
    for sx in (-1, 1):
        parts.append(("box", (sx * (w / 2 - 0.05), 0, (h - 0.04) / 2), (0.04, d - 0.04, h - 0.04), "wood"))
    return parts, (w, d), h, [(0, 0, w - 0.1, d - 0.04, h, 0.4)], []


def radiator(rng):
    w, h = rng.uniform(0.6, 1.4), rng.uniform(0.4, 0.6)
    parts = []
    n = int(w / 0.06)
    for k in range(n):
        parts.append(("box", (-w / 2 + 0.03 + k * (w - 0.06) / max(n - 1, 1), 0, 0.12 + h / 2), (0.04, 0.08, h), "white"))
    return parts, (w, 0.1), 0.12 + h, [], []


def kitchen_run_short(rng):
    """A short worktop run (1.2-2.4 m), as seen through a door into a kitchen."""
    L = rng.uniform(1.2, 2.4)
    return kitchen_run(rng, L, uppers=[(-L / 2, L / 2)] if rng.random() < 0.6 else [])
