"""Small objects for support surfaces (clutter): books, cups, bottles, boxes, lamps, and per room
type papers, phones, mugs, kettles, toasters, toiletries, towels, fruit bowls, ...

Each returns ``(parts, (width, depth), height)`` in the maker frame of ``furniture`` (parts
in the same format), placed by ``rooms.RoomBuilder.clutter`` on the tops furniture offers.
"""

from __future__ import annotations

import numpy as np


def clutter_item(rng, max_h: float, kind: str | None = None):
    """A small object for a support surface: (parts, (w, d), h); ``kind`` picks one (else random)."""
    k = rng.choice(["books", "cup", "bottle", "vase", "bowl", "ball", "box", "lamp"]) if kind is None else kind
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


#: Clutter kinds per support surface of a room type (``clutter_item(..., palette=...)``).
CLUTTER = {
    "office": ("books", "papers", "papers", "mug", "cup", "bottle", "phone", "pens", "box", "books", "plant_small", "lamp"),
    "kitchen": ("bottle", "bottle", "cup", "mug", "bowl", "plate", "kettle", "toaster", "microwave", "jar", "jar",
                "fruit", "board", "box"),
    "bathroom": ("toiletry", "toiletry", "toiletry", "cup", "towel", "box"),
    "bedroom": ("books", "lamp", "lamp", "cup", "vase", "box", "phone", "toiletry", "plant_small"),
    "living": ("books", "vase", "bowl", "cup", "mug", "remote", "plant_small", "box", "lamp", "candle", "papers"),
    "corridor": ("box", "vase", "plant_small", "books", "bowl"),
}


def room_clutter_item(rng, max_h: float, palette):
    """A small object for a support surface drawn from ``palette`` (kinds of ``CLUTTER``)."""
    k = str(rng.choice(palette))
    u = rng.uniform
    if k in ("books", "cup", "bottle", "vase", "bowl", "box", "lamp"):
        return clutter_item(rng, max_h, kind=k)
    if k == "mug":
        r, h = u(0.035, 0.045), u(0.08, 0.1)
        return [("cyl", (0, 0, 0), r, r, h, "clutter"), ("box", (r + 0.012, 0, h * 0.55), (0.025, 0.012, h * 0.6), "clutter")], (2 * r + 0.05, 2 * r + 0.05), h
    if k == "papers":
        t = u(0.002, 0.02)
        return [("box", (0, 0, t / 2), (0.21, 0.297, t), "paper")], (0.3, 0.32), t
    if k == "phone":
        return [("box", (0, 0, 0.004), (0.072, 0.15, 0.008), "dark"), ("box", (0, 0, 0.0085), (0.066, 0.14, 0.001), "screen")], (0.16, 0.16), 0.01
    if k == "pens":
        parts = [("cyl", (0, 0, 0), 0.038, 0.038, 0.1, "clutter")]
        for _ in range(int(rng.integers(2, 6))):
            parts.append(("cyl", (u(-0.02, 0.02), u(-0.02, 0.02), 0.02), 0.004, 0.004, u(0.12, 0.15), "clutter"))
        return parts, (0.09, 0.09), 0.17
    if k == "plant_small":
        r = u(0.05, 0.08)
        return [("cyl", (0, 0, 0), r * 0.8, r, r * 1.6, "clutter"), ("sph", (0, 0, r * 1.6 + r * 1.1), (r * 1.3,) * 3, "foliage")], (2.7 * r, 2.7 * r), r * 4.2
    if k == "plate":
        r = u(0.1, 0.14)
        return [("cyl", (0, 0, 0), r * 0.6, r, 0.02, "ceramic")], (2 * r, 2 * r), 0.02
    if k == "kettle":
        r, h = u(0.07, 0.09), u(0.18, 0.24)
        return [("cyl", (0, 0, 0), r, r * 0.85, h, "appliance"), ("box", (r + 0.015, 0, h * 0.55), (0.03, 0.025, h * 0.7), "dark"),
                ("cyl", (0, 0, 0), r + 0.02, r + 0.02, 0.015, "dark")], (2 * r + 0.07, 2 * r + 0.05), h
    if k == "toaster":
        w, d, h = u(0.26, 0.32), u(0.15, 0.2), u(0.18, 0.22)
        return [("box", (0, 0, h / 2), (w, d, h), "appliance"), ("box", (0, -d / 5, h + 0.001), (w * 0.6, 0.03, 0.002), "dark"),
                ("box", (0, d / 5, h + 0.001), (w * 0.6, 0.03, 0.002), "dark")], (w, d), h
    if k == "microwave":
        w, d, h = u(0.44, 0.52), u(0.33, 0.4), u(0.26, 0.3)
        return [("box", (0, 0, h / 2), (w, d, h), "appliance"), ("box", (-0.06, d / 2 + 0.003, h / 2), (w - 0.16, 0.006, h - 0.06), "screen")], (w, d + 0.01), h
    if k == "jar":
        r, h = u(0.04, 0.07), u(0.1, 0.22)
        return [("cyl", (0, 0, 0), r, r, h, "clutter"), ("cyl", (0, 0, h), r * 0.9, r * 0.9, 0.02, "metal")], (2 * r, 2 * r), h + 0.02
    if k == "fruit":
        r = u(0.1, 0.14)
        parts = [("cyl", (0, 0, 0), r * 0.5, r, 0.06, "ceramic")]
        for j in range(int(rng.integers(2, 6))):
            a = j * 2.1
            fr = u(0.03, 0.045)
            parts.append(("sph", (np.cos(a) * r * 0.45, np.sin(a) * r * 0.45, 0.06 + fr * 0.7), (fr,) * 3, "fruit"))
        return parts, (2 * r, 2 * r), 0.15
    if k == "board":
        w, d = u(0.3, 0.45), u(0.2, 0.3)
        return [("box", (0, 0, 0.01), (w, d, 0.02), "wood")], (w, d), 0.02
    if k == "toiletry":
        r, h = u(0.02, 0.035), u(0.08, 0.2)
        return [("cyl", (0, 0, 0), r, r, h, "clutter"), ("cyl", (0, 0, h), r * 0.4, r * 0.4, 0.03, "clutter")], (2 * r, 2 * r), h + 0.03
    if k == "towel":
        w, d, h = u(0.2, 0.35), u(0.15, 0.25), u(0.04, 0.12)
        return [("box", (0, 0, h / 2), (w, d, h), "fabric")], (w, d), h
    if k == "remote":
        return [("box", (0, 0, 0.01), (0.05, 0.18, 0.02), "dark")], (0.19, 0.19), 0.02
    # candle
    r, h = u(0.025, 0.045), u(0.05, 0.2)
    return [("cyl", (0, 0, 0), r, r, h, "white")], (2 * r, 2 * r), h
