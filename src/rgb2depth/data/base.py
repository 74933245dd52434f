"""Common pieces of every loader: the dataset registry, the sample dict, subsets and concat.

A *source* is a ``Sequence[dict]``: ``len(ds)`` and random access ``ds[i]`` returning the sample
dict of docs/DEVELOPING.md::

    rgb   HxWx3 uint8          depth HxW float32 metres, NaN = invalid
    valid HxW bool             K     rgb2depth.geometry.camera.Intrinsics or None
    id    str                  pose  (optional) 4x4 float64 camera-to-world

Loaders read files lazily in ``__getitem__`` so constructing one is cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from rgb2depth.geometry.camera import Intrinsics
from rgb2depth.registry import Registry

DATASETS = Registry("dataset")


class DataError(ValueError):
    """A data file that cannot be read; the message is one line naming the file."""

    def __init__(self, path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def make_sample(
    rgb: np.ndarray,
    depth: np.ndarray,
    K: Intrinsics | None,
    id: str,
    pose: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    **extra: Any,
) -> dict:
    """Build a sample dict, normalising depth: float32, non-finite or <= 0 -> NaN and invalid."""
    depth = np.asarray(depth, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        ok = depth > 0  # False for NaN
    ok &= depth < np.inf
    if valid is not None:
        ok &= valid.astype(bool)
    stray = ~ok & ~np.isnan(depth)  # invalid pixels not yet NaN (0, negative, inf, masked)
    if stray.any():
        depth = depth.copy()
        depth[stray] = np.nan
    if rgb.shape[:2] != depth.shape:
        raise ValueError(f"{id}: rgb {rgb.shape[:2]} and depth {depth.shape} sizes differ")
    s = {"rgb": rgb, "depth": depth, "valid": ok, "K": K, "id": id}
    if pose is not None:
        s["pose"] = np.asarray(pose, dtype=np.float64)
    s.update(extra)
    return s


class Source(Sequence):
    """Base class: subclasses set ``self.ids`` (or override ``__len__``) and ``load(i)``.

    ``relative_depth``: True for a loader whose depth is known only up to a scale and a shift
    of inverse depth (disparity without its offset); training feeds such samples to
    scale-and-shift-invariant loss terms only.
    """

    name = "source"
    relative_depth = False

    def __len__(self) -> int:
        return len(self.ids)

    def load(self, i: int) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return Subset(self, range(len(self))[i])
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {self.name} with {n} samples")
        return self.load(int(i) % n)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} samples)"


class Subset(Source):
    """The samples of ``source`` at ``indices`` (in that order; repeats allowed)."""

    def __init__(self, source: Sequence[dict], indices: Iterable[int]) -> None:
        self.source = source
        idx = [int(i) for i in indices]
        n = len(source)
        bad = [i for i in idx if not -n <= i < n]
        if bad:
            raise IndexError(f"subset indices {bad[:5]} out of range for {n} samples")
        self.indices = [i % n for i in idx]

    def __len__(self) -> int:
        return len(self.indices)

    def load(self, i: int) -> dict:
        return self.source[self.indices[i]]


class Concat(Source):
    """Several sources one after the other."""

    def __init__(self, datasets: Iterable[Sequence[dict]]) -> None:
        self.datasets = list(datasets)
        self.offsets = np.cumsum([0] + [len(d) for d in self.datasets])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def load(self, i: int) -> dict:
        k = int(np.searchsorted(self.offsets, i, side="right")) - 1
        return self.datasets[k][i - int(self.offsets[k])]


class Mapped(Source):
    """``fn(sample)`` applied lazily to every sample of ``source``."""

    def __init__(self, source: Sequence[dict], fn: Callable[[dict], dict]) -> None:
        self.source, self.fn = source, fn

    def __len__(self) -> int:
        return len(self.source)

    def load(self, i: int) -> dict:
        return self.fn(self.source[i])


def concat(datasets: Iterable[Sequence[dict]]) -> Concat:
    return Concat(datasets)


def subset(source: Sequence[dict], indices: Iterable[int]) -> Subset:
    return Subset(source, indices)


def split(
    source: Sequence[dict],
    parts: Sequence[float] | Sequence[Sequence[int]] = (0.9, 0.1),
    seed: int | None = 0,
    shuffle: bool = True,
) -> list[Subset]:
    """Split into subsets, by fractions (shuffled with ``seed`` unless ``shuffle=False``) or by
    explicit index lists. Fractions must sum to 1; rounding goes to the last part.

    For sequences (TUM, 7-Scenes) consecutive frames are near-duplicates: prefer
    ``shuffle=False`` (contiguous blocks) so train and validation do not share views.
    """
    n = len(source)
    if parts and not isinstance(parts[0], (int, float)):
        return [Subset(source, p) for p in parts]  # type: ignore[arg-type]
    fr = np.asarray(parts, dtype=np.float64)
    if np.any(fr < 0) or abs(fr.sum() - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {list(parts)}")
    order = np.arange(n)
    if shuffle:
        order = np.random.default_rng(seed).permutation(n)
    bounds = np.round(np.cumsum(fr) * n).astype(int)
    bounds[-1] = n
    out, start = [], 0
    for b in bounds:
        out.append(Subset(source, order[start:b].tolist()))
        start = b
    return out
