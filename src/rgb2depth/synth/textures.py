"""Procedural materials for the synthetic scenes: value noise, wood, tiles, fabric, carpet,
painted and patterned walls, evaluated per pixel in numpy from surface coordinates in metres.

Materials and light: textures are functions of the surface (u, v) coordinates
that the scene stores per triangle corner, in metres, so a pattern keeps its physical size at
any distance. Image-space aliasing is avoided by *frequency clamping*: every periodic or noise
component of spatial frequency ``f`` (cycles per metre) is faded out as ``f * footprint``
approaches the Nyquist limit (0.5 cycles per pixel), where ``footprint`` is the size of one
pixel on the surface (``z / fx / |cos(incidence)|``). Hard-edged patterns (tile grout, plank
seams) use a box-filtered step of width ``footprint``. This is hand-written because no
installed library evaluates procedural textures on arbitrary per-pixel coordinates
(OpenCV/scikit-image work on image grids, not on scattered surface points).

All colours are linear RGB albedo in [0, 1]; the renderer tone-maps to sRGB at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# ----------------------------------------------------------------------------- noise


def _hash01(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """A deterministic integer hash of lattice points -> [0, 1) (xorshift-multiply mix)."""
    h = (ix.astype(np.int64) * 374761393 + iy.astype(np.int64) * 668265263 + seed * 2246822519) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    h = h ^ (h >> 16)
    return (h & 0xFFFFFF).astype(np.float32) / np.float32(0x1000000)


def cell_hash(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Random value in [0, 1) per integer cell (per tile, per plank)."""
    return _hash01(np.asarray(ix), np.asarray(iy), seed)


_LATTICE_BITS = 8
_LATTICE = _hash01(*np.meshgrid(np.arange(1 << _LATTICE_BITS), np.arange(1 << _LATTICE_BITS), indexing="ij"), 12345).ravel()


def value_noise(x: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Smooth 2D value noise in [-1, 1] with unit lattice spacing (C1 smoothstep blend).

    Lattice values come from a fixed 256x256 table of hashed values (period 256 cells: far
    larger than any room at the frequencies used); ``seed`` offsets the lattice."""
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0).astype(np.float32), (y - y0).astype(np.float32)
    m = (1 << _LATTICE_BITS) - 1
    so = (seed * 7919) & 0xFFFF
    ix = (x0.astype(np.int32) + so) & m
    iy = (y0.astype(np.int32) + (so >> 8) * 31) & m
    ix1 = (ix + 1) & m
    iy1 = (iy + 1) & m
    sx = fx * fx * (3 - 2 * fx)
    sy = fy * fy * (3 - 2 * fy)
    ix <<= _LATTICE_BITS
    ix1 <<= _LATTICE_BITS
    a = _LATTICE[ix | iy]
    b = _LATTICE[ix1 | iy]
    c = _LATTICE[ix | iy1]
    d = _LATTICE[ix1 | iy1]
    top = a + (b - a) * sx
    bot = c + (d - c) * sx
    return (top + (bot - top) * sy) * 2 - 1


def aa_weight(freq: float | np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Fade factor for a component of ``freq`` cycles/metre: 1 well below Nyquist, 0 above it."""
    r = np.asarray(freq) * footprint  # cycles per pixel
    return np.clip(1.0 - (r - 0.15) / 0.3, 0.0, 1.0).astype(np.float32)


def fbm(
    x: np.ndarray, y: np.ndarray, freq: float, footprint: np.ndarray, octaves: int = 3, seed: int = 0, gain: float = 0.5
) -> np.ndarray:
    """Fractal sum of value noise starting at ``freq`` cycles/metre, band-limited per pixel."""
    total = np.zeros(np.shape(x), np.float32)
    amp, norm = 1.0, 0.0
    for o in range(octaves):
        f = freq * (2.0**o)
        total += amp * aa_weight(f, footprint) * value_noise(x * f, y * f, seed + 101 * o)
        norm += amp
        amp *= gain
    return total / norm


def _filtered_line(t: np.ndarray, width: float, footprint: np.ndarray) -> np.ndarray:
    """Coverage in [0, 1] of lines of ``width`` metres centred on integer multiples of period 1
    (``t`` in periods), box-filtered over one pixel footprint (in periods)."""
    d = np.abs(t - np.round(t))  # distance to nearest line, in periods
    half = width / 2
    fp = np.maximum(footprint, 1e-6)
    return np.minimum(np.clip((half + fp / 2 - d) / fp, 0.0, 1.0), width / fp)


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    return a + (b - a) * t[..., None]


# ----------------------------------------------------------------------------- materials


@dataclass
class Material:
    """One surface material. ``kind`` selects the texture function; colours are linear RGB."""

    kind: str
    color: tuple[float, float, float] = (0.6, 0.6, 0.6)
    color2: tuple[float, float, float] = (0.3, 0.3, 0.3)
    scale: float = 1.0  # pattern size in metres (tile size, plank width, stripe period, ...)
    specular: float = 0.04  # Blinn-Phong specular weight
    shininess: float = 20.0
    emissive: float = 0.0  # > 0: the surface emits this radiance (times the texture), unlit
    per_object_tint: float = 0.0  # random per-object colour variation (books, boxes)
    seed: int = 0
    params: dict = field(default_factory=dict)


def _rgb(c) -> np.ndarray:
    return np.asarray(c, np.float32)


def _tint(obj: np.ndarray, seed: int, amount: float) -> np.ndarray:
    """Per-object multiplicative colour variation (a random hue-ish jitter)."""
    h = np.stack([cell_hash(obj, obj * 0 + k, seed) for k in range(3)], -1)
    return 1.0 + amount * (h * 2 - 1)


def evaluate(
    m: Material, u: np.ndarray, v: np.ndarray, footprint: np.ndarray, obj: np.ndarray
) -> np.ndarray:
    """Albedo (n, 3) (or emitted colour for emissive materials) at surface coordinates (u, v)."""
    k = m.kind
    s = m.seed
    c1, c2 = _rgb(m.color), _rgb(m.color2)
    n = len(u)
    if k in ("paint", "plastic", "metal", "screen"):
        f = 0.04 if k != "metal" else 0.02
        out = c1 * (1 + f * fbm(u, v, 3.0, footprint, 3, s))[:, None]
    elif k == "wallpaper":
        pat = m.params.get("pattern", "stripes")
        p = m.scale
        if pat == "stripes":
            t = np.clip(0.5 + 2.0 * np.sin(2 * np.pi * u / p), 0, 1)
        elif pat == "dots":
            cu, cv = u / p - np.round(u / p), v / p - np.round(v / p)
            r = np.sqrt(cu**2 + cv**2)
            t = np.clip((0.22 - r) / np.maximum(footprint / p, 1e-3) + 0.5, 0, 1)
        else:  # diamonds
            t = np.abs(np.sin(np.pi * (u + v) / p) * np.sin(np.pi * (u - v) / p))
            t = np.clip((t - 0.3) * 3, 0, 1)
        t = 0.5 + (t - 0.5) * aa_weight(1.0 / p * 2, footprint)
        out = _mix(np.broadcast_to(c1, (n, 3)), np.broadcast_to(c2, (n, 3)), t.astype(np.float32))
        out = out * (1 + 0.03 * fbm(u, v, 4.0, footprint, 2, s))[:, None]
    elif k == "wood":
        # Planks of width `scale` along v with staggered butt joints along u; rings + grain.
        pw = m.scale
        pl = m.params.get("plank_length", 1.2)
        row = np.floor(v / pw)
        uo = u + cell_hash(row, row * 0 + 7, s) * pl
        col = np.floor(uo / pl)
        ph = cell_hash(row, col, s + 3)
        lv = v - row * pw  # across-plank coordinate
        warp = fbm(uo * 0.7, lv * 3 + ph * 10, 1.5, footprint, 2, s + 5)
        rings = np.sin(2 * np.pi * (lv * m.params.get("ring_freq", 25.0) + warp * 2.5 + ph * 7))
        rings = 0.5 + 0.5 * rings * aa_weight(m.params.get("ring_freq", 25.0), footprint)
        grain = fbm(uo * 4, lv * 120, 1.0, footprint * np.float32(30), 2, s + 9)
        t = np.clip(0.55 * rings + 0.25 * (grain * 0.5 + 0.5) + 0.3 * (ph - 0.5), 0, 1)
        out = _mix(np.broadcast_to(c1, (n, 3)), np.broadcast_to(c2, (n, 3)), t.astype(np.float32))
        if m.params.get("planks", True):
            seam = np.maximum(
                _filtered_line(v / pw, 0.004 / pw, footprint / pw),
                _filtered_line(uo / pl, 0.004 / pl, footprint / pl),
            )
            out = out * (1 - 0.55 * seam)[:, None]
    elif k == "tiles":
        p = m.scale
        g = m.params.get("grout", 0.005)
        tu, tv = u / p, v / p
        tile = cell_hash(np.floor(tu), np.floor(tv), s)
        base = c1 * (1 + 0.12 * (tile - 0.5))[:, None]
        marble = fbm(u * 1.5, v * 1.5 + 3 * fbm(u, v, 2.0, footprint, 2, s), 3.0, footprint, 3, s + 1)
        base = base * (1 + 0.06 * marble)[:, None]
        gl = np.maximum(_filtered_line(tu, g / p, footprint / p), _filtered_line(tv, g / p, footprint / p))
        out = _mix(base, np.broadcast_to(c2, (n, 3)), gl.astype(np.float32))
    elif k == "tiled_wall":
        # wall tiles up to params["height"] metres (v is the height on walls), paint above
        p, g = m.scale, m.params.get("grout", 0.003)
        tu, tv = u / p, v / p
        tile = c1 * (1 + 0.08 * (cell_hash(np.floor(tu), np.floor(tv), s) - 0.5))[:, None]
        gl = np.maximum(_filtered_line(tu, g / p, footprint / p), _filtered_line(tv, g / p, footprint / p))
        out = _mix(tile, np.broadcast_to(c2, (n, 3)), gl.astype(np.float32))
        paint = _rgb(m.params.get("paint", (0.7, 0.7, 0.7))) * (1 + 0.03 * fbm(u, v, 3.0, footprint, 2, s))[:, None]
        out = np.where((v < m.params.get("height", 9.0))[:, None], out, paint)
    elif k == "fabric":
        fw = m.params.get("weave", 400.0)
        weave = np.sin(2 * np.pi * u * fw) * np.sin(2 * np.pi * v * fw) * aa_weight(fw, footprint)
        heather = fbm(u, v, 30.0, footprint, 3, s)
        t = 0.5 + 0.25 * weave + 0.2 * heather
        if m.params.get("plaid", False):
            pp = m.scale
            st = (np.abs(np.sin(np.pi * u / pp)) < 0.25) | (np.abs(np.sin(np.pi * v / pp)) < 0.25)
            t = t + 0.3 * st * aa_weight(2 / pp, footprint)
        out = _mix(np.broadcast_to(c1, (n, 3)), np.broadcast_to(c2, (n, 3)), np.clip(t, 0, 1).astype(np.float32))
    elif k == "carpet":
        fine = fbm(u, v, 150.0, footprint, 2, s)
        mott = fbm(u, v, 2.0, footprint, 3, s + 1)
        t = np.clip(0.5 + 0.35 * fine + 0.3 * mott, 0, 1)
        out = _mix(np.broadcast_to(c1, (n, 3)), np.broadcast_to(c2, (n, 3)), t.astype(np.float32))
        if m.params.get("border", 0) > 0:
            b = m.params["border"]
            w, h = m.params.get("size", (2.0, 1.5))
            inside = (u > b) & (u < w - b) & (v > b) & (v < h - b)
            out = np.where(inside[:, None], out, out * 0.45 + _rgb(m.params.get("border_color", (0.5, 0.1, 0.1))) * 0.55)
    elif k == "cardboard":
        t = np.clip(0.5 + 0.3 * fbm(u, v, 8.0, footprint, 3, s), 0, 1)
        out = _mix(np.broadcast_to(c1, (n, 3)), np.broadcast_to(c2, (n, 3)), t.astype(np.float32))
    elif k == "foliage":
        t = np.clip(0.5 + 0.6 * fbm(u, v, 25.0, footprint, 3, s), 0, 1)
        out = _mix(np.broadcast_to(c1, (n, 3)), np.broadcast_to(c2, (n, 3)), t.astype(np.float32))
    elif k == "painting":
        r = fbm(u, v, 3.0, footprint, 3, s)
        g = fbm(u, v, 3.0, footprint, 3, s + 11)
        b = fbm(u, v, 3.0, footprint, 3, s + 23)
        out = np.clip(np.stack([r, g, b], -1) * 0.5 + c1, 0.02, 0.95)
    elif k == "sky":
        # Outdoor backdrop seen through windows: sky gradient, clouds, a darker skyline.
        hgt = v  # metres above the backdrop bottom
        horizon = m.params.get("horizon", 4.0)
        sky = _mix(np.broadcast_to(c1, (n, 3)), np.broadcast_to(_rgb((1.0, 1.0, 1.0)), (n, 3)), np.clip(fbm(u, v, 0.15, footprint, 3, s) * 0.8 + 0.2, 0, 1))
        skyline = horizon + 3.0 * (cell_hash(np.floor(u / 2.5), 0 * u, s) ** 2) + 1.5 * fbm(u, 0 * u, 0.4, footprint, 2, s + 1)
        ground = _mix(np.broadcast_to(c2, (n, 3)), np.broadcast_to(c2 * 0.6, (n, 3)), np.clip(fbm(u, v, 1.0, footprint, 3, s + 2) * 0.5 + 0.5, 0, 1))
        out = np.where((hgt < skyline)[:, None], ground, sky)
    elif k == "emissive":
        out = np.broadcast_to(c1, (n, 3)).copy()
    else:  # generic noise
        t = np.clip(0.5 + 0.5 * fbm(u, v, m.scale, footprint, 4, s), 0, 1)
        out = _mix(np.broadcast_to(c1, (n, 3)), np.broadcast_to(c2, (n, 3)), t.astype(np.float32))
    if m.per_object_tint > 0:
        out = out * _tint(obj, s + 77, m.per_object_tint)
    return np.clip(out, 0.0, 1.0 if m.emissive <= 0 else 100.0).astype(np.float32)


# ----------------------------------------------------------------------------- palettes


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    """HSV -> linear RGB (v is linear reflectance)."""
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


def random_material(rng: np.random.Generator, role: str) -> Material:
    """A plausible material for a surface role: floor, wall, ceiling, wood, fabric, ..."""
    s = int(rng.integers(0, 2**31 - 1))
    if role == "floor":
        kind = rng.choice(["wood", "wood", "tiles", "carpet"])
        if kind == "wood":
            return random_material(rng, "floor_wood")
        if kind == "tiles":
            base = _hsv(rng.uniform(0.05, 0.15), rng.uniform(0.0, 0.25), rng.uniform(0.35, 0.75))
            return Material("tiles", base, (0.25, 0.24, 0.22), scale=float(rng.choice([0.3, 0.4, 0.45, 0.6])), specular=0.25, shininess=60, seed=s)
        base = _hsv(rng.uniform(0, 1), rng.uniform(0.1, 0.45), rng.uniform(0.12, 0.45))
        return Material("carpet", base, tuple(np.array(base) * 0.6), specular=0.0, seed=s)
    if role == "floor_wood":
        light = _hsv(rng.uniform(0.06, 0.1), rng.uniform(0.45, 0.7), rng.uniform(0.35, 0.6))
        dark = tuple(np.array(light) * rng.uniform(0.45, 0.7))
        return Material("wood", light, dark, scale=float(rng.uniform(0.1, 0.2)), specular=0.15, shininess=40, seed=s,
                        params={"plank_length": float(rng.uniform(0.9, 1.8)), "ring_freq": float(rng.uniform(15, 35))})
    if role == "wall":
        if rng.random() < 0.7:
            c = _hsv(rng.uniform(0, 1), rng.uniform(0.02, 0.3), rng.uniform(0.45, 0.8))
            return Material("paint", c, specular=0.02, shininess=8, seed=s)
        c = _hsv(rng.uniform(0, 1), rng.uniform(0.05, 0.35), rng.uniform(0.45, 0.75))
        c2 = tuple(np.array(c) * rng.uniform(0.7, 0.88))
        pat = str(rng.choice(["stripes", "dots", "diamonds"]))
        return Material("wallpaper", c, c2, scale=float(rng.uniform(0.08, 0.3)), specular=0.02, seed=s, params={"pattern": pat})
    if role == "ceiling":
        return Material("paint", _hsv(0.1, rng.uniform(0, 0.05), rng.uniform(0.7, 0.85)), specular=0.0, seed=s)
    if role == "wood":
        light = _hsv(rng.uniform(0.05, 0.11), rng.uniform(0.35, 0.75), rng.uniform(0.12, 0.6))
        dark = tuple(np.array(light) * rng.uniform(0.5, 0.75))
        return Material("wood", light, dark, scale=10.0, specular=float(rng.uniform(0.05, 0.3)), shininess=40, seed=s,
                        params={"planks": False, "ring_freq": float(rng.uniform(15, 40))})
    if role == "fabric":
        c = _hsv(rng.uniform(0, 1), rng.uniform(0.1, 0.6), rng.uniform(0.08, 0.55))
        c2 = tuple(np.array(c) * rng.uniform(0.55, 0.8))
        return Material("fabric", c, c2, scale=float(rng.uniform(0.05, 0.15)), specular=0.0, seed=s,
                        params={"plaid": bool(rng.random() < 0.25), "weave": float(rng.uniform(200, 600))})
    if role == "plastic":
        c = _hsv(rng.uniform(0, 1), rng.uniform(0.0, 0.8), rng.uniform(0.05, 0.8))
        return Material("plastic", c, specular=float(rng.uniform(0.2, 0.6)), shininess=float(rng.uniform(30, 120)), seed=s)
    if role == "white":
        return Material("plastic", _hsv(0.1, rng.uniform(0, 0.08), rng.uniform(0.6, 0.8)), specular=0.15, shininess=30, seed=s)
    if role == "metal":
        g = rng.uniform(0.3, 0.7)
        return Material("metal", (g, g, g * rng.uniform(0.9, 1.05)), specular=0.7, shininess=120, seed=s)
    if role == "books":
        return Material("plastic", (0.4, 0.3, 0.25), specular=0.05, shininess=20, per_object_tint=0.8, seed=s)
    if role == "clutter":
        return Material("plastic", _hsv(rng.uniform(0, 1), 0.5, 0.5), specular=0.3, shininess=60, per_object_tint=0.9, seed=s)
    if role == "cardboard":
        return Material("cardboard", (0.45, 0.3, 0.16), (0.32, 0.2, 0.1), specular=0.0, per_object_tint=0.15, seed=s)
    if role == "foliage":
        return Material("foliage", (0.05, 0.25, 0.04), (0.02, 0.1, 0.02), specular=0.1, seed=s)
    if role == "rug":
        c = _hsv(rng.uniform(0, 1), rng.uniform(0.2, 0.6), rng.uniform(0.1, 0.4))
        return Material("carpet", c, tuple(np.array(c) * 0.5), specular=0.0, seed=s,
                        params={"border": 0.12, "border_color": _hsv(rng.uniform(0, 1), 0.5, 0.35)})
    if role == "painting":
        return Material("painting", _hsv(rng.uniform(0, 1), 0.4, 0.35), specular=0.1, seed=s)
    if role == "screen":
        return Material("screen", (0.02, 0.02, 0.025), specular=0.8, shininess=200, seed=s)
    if role == "lamp":
        return Material("emissive", (1.0, 0.95, 0.85), emissive=1.0, seed=s)
    if role == "sky":
        return Material("sky", _hsv(0.58, rng.uniform(0.2, 0.5), 1.0), (0.25, 0.3, 0.22), emissive=1.0, seed=s,
                        params={"horizon": float(rng.uniform(2.0, 6.0))})
    return _room_type_material(rng, role, s)


def _room_type_material(rng: np.random.Generator, role: str, s: int) -> Material:
    """Materials of the room-type furniture (kitchens, bathrooms, offices)."""
    if role == "counter":
        if rng.random() < 0.5:  # stone: speckled granite or pale composite
            c = _hsv(rng.uniform(0, 0.15), rng.uniform(0.0, 0.2), rng.uniform(0.05, 0.7))
            return Material("noise", c, tuple(np.array(c) * rng.uniform(0.4, 0.8)), scale=float(rng.uniform(20, 60)),
                            specular=0.35, shininess=80, seed=s)
        return random_material(rng, "wood") if rng.random() < 0.5 else random_material(rng, "white")
    if role == "cabinet":  # kitchen and bathroom fronts: painted, white or wood
        r = rng.random()
        if r < 0.35:
            return random_material(rng, "wood")
        if r < 0.65:
            return Material("plastic", _hsv(0.1, rng.uniform(0, 0.05), rng.uniform(0.6, 0.82)), specular=0.2, shininess=40, seed=s)
        c = _hsv(rng.uniform(0, 1), rng.uniform(0.1, 0.5), rng.uniform(0.1, 0.6))
        return Material("paint", c, specular=0.15, shininess=30, seed=s)
    if role in ("splash", "wall_tiles"):
        c = _hsv(rng.uniform(0, 1), rng.uniform(0.0, 0.35), rng.uniform(0.35, 0.85))
        grout = tuple(np.clip(np.array(c) * rng.uniform(0.5, 1.2), 0, 0.9))
        kind = "tiles" if role == "splash" else "tiled_wall"
        params = {"grout": float(rng.uniform(0.002, 0.005))}
        if role == "wall_tiles":
            params["height"] = float(rng.choice([1.2, 1.5, 2.1, 9.0]))
            params["paint"] = _hsv(rng.uniform(0, 1), rng.uniform(0.0, 0.2), rng.uniform(0.55, 0.8))
        return Material(kind, c, grout, scale=float(rng.choice([0.1, 0.15, 0.2, 0.25, 0.3])), specular=0.4, shininess=90,
                        seed=s, params=params)
    if role == "ceramic":
        return Material("plastic", _hsv(0.1, rng.uniform(0, 0.04), rng.uniform(0.7, 0.85)), specular=0.5, shininess=90, seed=s)
    if role == "sink":
        g = rng.uniform(0.15, 0.4)
        return Material("metal", (g, g, g), specular=0.6, shininess=60, seed=s)
    if role == "mirror":  # no reflections in this renderer: a bright, glossy grey-blue pane
        g = rng.uniform(0.3, 0.6)
        return Material("noise", (g * 0.9, g * 0.95, g), (g * 0.6, g * 0.65, g * 0.7), scale=0.8, specular=0.9, shininess=400, seed=s)
    if role == "appliance":
        if rng.random() < 0.5:
            return Material("plastic", _hsv(0.1, 0.02, rng.uniform(0.7, 0.85)), specular=0.3, shininess=60, seed=s)
        g = rng.uniform(0.35, 0.55)
        return Material("metal", (g, g, g * 1.03), specular=0.6, shininess=80, seed=s)
    if role == "dark":
        g = rng.uniform(0.02, 0.12)
        return Material("plastic", (g, g, g * rng.uniform(0.95, 1.1)), specular=0.25, shininess=40, seed=s)
    if role == "keyboard":
        g = rng.uniform(0.02, 0.08) if rng.random() < 0.75 else rng.uniform(0.6, 0.8)
        return Material("tiles", (g, g, g), (g * 0.4 + 0.01,) * 3, scale=0.019, specular=0.2, shininess=30, seed=s,
                        params={"grout": 0.004})
    if role == "paper":
        return Material("plastic", _hsv(0.12, rng.uniform(0, 0.05), rng.uniform(0.75, 0.88)), specular=0.02,
                        per_object_tint=0.05, seed=s)
    if role == "fruit":
        return Material("plastic", _hsv(rng.uniform(0, 0.3), 0.8, 0.5), specular=0.3, shininess=40, per_object_tint=0.6, seed=s)
    if role == "whiteboard":
        return Material("plastic", (0.82, 0.83, 0.84), specular=0.5, shininess=120, seed=s)
    if role == "office_floor":
        if rng.random() < 0.6:  # carpet tiles
            c = _hsv(rng.uniform(0.5, 0.7) if rng.random() < 0.6 else rng.uniform(0, 1), rng.uniform(0.0, 0.3), rng.uniform(0.06, 0.3))
            return Material("tiles", c, tuple(np.array(c) * 0.85), scale=0.5, specular=0.0, seed=s, params={"grout": 0.003})
        c = _hsv(rng.uniform(0, 1), rng.uniform(0.0, 0.2), rng.uniform(0.3, 0.65))
        return Material("noise", c, tuple(np.array(c) * 0.9), scale=2.0, specular=0.3, shininess=50, seed=s)
    if role == "ceiling_tiles":
        c = _hsv(0.1, rng.uniform(0, 0.04), rng.uniform(0.7, 0.85))
        return Material("tiles", c, tuple(np.array(c) * 0.75), scale=0.6, specular=0.0, seed=s, params={"grout": 0.02})
    raise ValueError(f"unknown material role {role!r}")
