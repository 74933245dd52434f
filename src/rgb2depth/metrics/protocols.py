"""Evaluation protocols as named data: the depth range, the evaluation crop, and where each comes from.

A :class:`Protocol` says which ground-truth pixels count (``min_depth < gt < max_depth``, finite,
inside the crop) and the range predictions are clamped to before scoring.

Registered protocols (``get_protocol(name)``, ``protocol_names()``):

``nyu``
    NYU Depth v2 test set with the Eigen et al. crop: rows 45:471, cols 41:601 of the 480x640
    frame, scaled to the actual image size (``round(45 * H / 480)`` ...), depth 1e-3..10 m.
    Used by paper 003 (FCRN, Table 2) and paper 001 (which evaluates on NYU after Eigen).
``kitti-eigen`` / ``kitti-eigen-50``
    KITTI Eigen split, Eigen crop: rows ``int(0.3324324 H):int(0.91351351 H)``, cols
    ``int(0.0359477 W):int(0.96405229 W)``; depth 1e-3..80 m (50 m for the ``-50`` variant).
``kitti-garg`` / ``kitti-garg-50``
    KITTI, Garg crop: rows ``int(0.40810811 H):int(0.99189189 H)``, cols
    ``int(0.03594771 W):int(0.96405229 W)``; depth 1e-3..80 m (50 m for ``-50``).
``make3d``
    Make3D, criterion C1 of paper 003 section 4.3: only pixels with ground truth below 70 m count
    (no crop); predictions are clamped to (0, 70] m.
``none``
    No crop, every finite positive ground-truth pixel counts; predictions only floored at a tiny
    positive value (:data:`EPS_DEPTH`) so that logarithms stay finite.

Valid pixels are strict on both ends (``min_depth < gt < max_depth``), as in the BTS / AdaBins
evaluation code; ``gt == 0`` (the "missing" marker of KITTI/NYU PNGs) is never valid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

#: Floor for predictions and for every protocol's lower clamp: keeps log(pred) finite.
EPS_DEPTH = 1e-6


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol.

    ``crop`` is ``(top, bottom, left, right)`` as fractions of the image height/width, or None;
    ``crop_rounding`` says how the fractions become pixel indices: ``"floor"`` (``int(f * H)``,
    the KITTI convention) or ``"round"`` (NYU: 45/480 ... scaled to the image size).
    """

    name: str
    min_depth: float
    max_depth: float
    crop: tuple[float, float, float, float] | None = None
    crop_rounding: Literal["floor", "round"] = "floor"
    description: str = ""

    def __post_init__(self) -> None:
        if not (self.min_depth >= 0 and self.max_depth > self.min_depth):
            raise ValueError(
                f"protocol {self.name!r}: need 0 <= min_depth < max_depth, got "
                f"{self.min_depth}..{self.max_depth}"
            )
        if self.crop is not None:
            t, b, left, r = self.crop
            if not (0 <= t < b <= 1 and 0 <= left < r <= 1):
                raise ValueError(f"protocol {self.name!r}: crop fractions {self.crop} out of order")

    @property
    def clamp_min(self) -> float:
        """Lower clamp for predictions (never below :data:`EPS_DEPTH`)."""
        return max(self.min_depth, EPS_DEPTH)

    @property
    def clamp_max(self) -> float:
        return self.max_depth

    def crop_box(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Pixel box ``(top, bottom, left, right)`` (Python slice bounds) for an HxW image."""
        if self.crop is None:
            return 0, height, 0, width
        t, b, left, r = self.crop
        if self.crop_rounding == "round":
            conv = round
        else:
            conv = int
        box = (conv(t * height), conv(b * height), conv(left * width), conv(r * width))
        top, bottom, lft, rgt = (int(v) for v in box)
        if bottom <= top or rgt <= lft:
            raise ValueError(
                f"protocol {self.name!r}: crop is empty for a {height}x{width} image"
            )
        return top, bottom, lft, rgt

    def crop_mask(self, height: int, width: int) -> np.ndarray:
        """Boolean HxW mask, True inside the evaluation crop."""
        t, b, left, r = self.crop_box(height, width)
        m = np.zeros((height, width), dtype=bool)
        m[t:b, left:r] = True
        return m

    def range_mask(self, gt: np.ndarray) -> np.ndarray:
        """True where gt is finite and strictly inside (min_depth, max_depth)."""
        with np.errstate(invalid="ignore"):
            return np.isfinite(gt) & (gt > self.min_depth) & (gt < self.max_depth)

    def with_range(self, min_depth: float | None = None, max_depth: float | None = None) -> Protocol:
        """A copy with another depth range (e.g. a cap at 50 m)."""
        return replace(
            self,
            min_depth=self.min_depth if min_depth is None else min_depth,
            max_depth=self.max_depth if max_depth is None else max_depth,
        )


_NYU_CROP = (45 / 480, 471 / 480, 41 / 640, 601 / 640)
_GARG_CROP = (0.40810811, 0.99189189, 0.03594771, 0.96405229)
_EIGEN_CROP = (0.3324324, 0.91351351, 0.0359477, 0.96405229)

_PROTOCOLS: dict[str, Protocol] = {}


def register_protocol(protocol: Protocol) -> Protocol:
    """Add a protocol to the registry (names must be unique)."""
    if protocol.name in _PROTOCOLS and _PROTOCOLS[protocol.name] != protocol:
        raise KeyError(f"protocol {protocol.name!r} is registered twice")
    _PROTOCOLS[protocol.name] = protocol
    return protocol


for _p in (
    Protocol(
        "nyu", 1e-3, 10.0, _NYU_CROP, "round",
        "NYU Depth v2, Eigen crop rows 45:471 cols 41:601 of 480x640 (scaled), 1e-3..10 m",
    ),
    Protocol(
        "kitti-eigen", 1e-3, 80.0, _EIGEN_CROP, "floor",
        "KITTI, Eigen crop, 1e-3..80 m",
    ),
    Protocol(
        "kitti-eigen-50", 1e-3, 50.0, _EIGEN_CROP, "floor",
        "KITTI, Eigen crop, 1e-3..50 m",
    ),
    Protocol(
        "kitti-garg", 1e-3, 80.0, _GARG_CROP, "floor",
        "KITTI, Garg crop, 1e-3..80 m",
    ),
    Protocol(
        "kitti-garg-50", 1e-3, 50.0, _GARG_CROP, "floor",
        "KITTI, Garg crop, 1e-3..50 m",
    ),
    Protocol(
        "make3d", 0.0, 70.0, None, "floor",
        "Make3D, criterion C1 (paper 003 sec. 4.3): ground truth below 70 m, no crop",
    ),
    Protocol("none", 0.0, math.inf, None, "floor", "no crop, every finite gt > 0"),
):
    register_protocol(_p)


def protocol_names() -> list[str]:
    return sorted(_PROTOCOLS)


def get_protocol(protocol: str | Protocol | None) -> Protocol:
    """The protocol named ``protocol`` (None -> ``none``; a Protocol is returned as is)."""
    if protocol is None:
        return _PROTOCOLS["none"]
    if isinstance(protocol, Protocol):
        return protocol
    try:
        return _PROTOCOLS[protocol]
    except KeyError:
        raise KeyError(
            f"unknown evaluation protocol {protocol!r} (known: {', '.join(protocol_names())})"
        ) from None
