"""Datasets for training and validation, built from a config's ``data`` section.

Each ``data.train`` / ``data.val`` item names a loader of :mod:`rgb2depth.data` (``tum``,
``tum_keyframes``, ``seven_scenes``, ``nyu_csv``, ``folder``, ``synth``, ...) with its keyword
arguments, plus an optional ``select: {start, stop, stride, limit, repeat}`` applied here
(loaders keep their own arguments, e.g. TUM's ``stride``; ``repeat: k`` lists the selected
samples k times, so a small real set weighs more against a large synthetic one, each repeat
augmented differently), and for training items an optional ``augment`` whose keys replace
those of ``data.augment`` for that item's samples (:func:`item_augment`; e.g. camera effects on
rendered rooms only). A ``module:function`` name calls that function
instead of the registry, so experiments can plug in their own sources.

Decoding a 640x480 JPEG + PNG pair and resizing it costs more than a training step of the
compact U-Net on these CPUs, so by default every sample is decoded and resized once (to the
input size, or ``data.cache: [H, W]``; ``data.cache_dir`` also keeps them on disk, each file
named by its config item (less ``select``) and its index in that loader, so splits, selections
and runs that list the same item share its files and never mix another's) by
:class:`rgb2depth.data.DepthDataset`, filled before any DataLoader worker forks; the
augmentation (:func:`rgb2depth.data.transforms.build`) then runs on the small cached arrays.
``data.cache: false`` reads the files every time.

Determinism: the order of samples is a pure function of (seed, epoch) (the sampler) and the
augmentation of each sample a pure function of (seed, epoch, index)
(:class:`rgb2depth.data.DepthDataset`), which is what lets ``--resume`` continue mid-epoch
exactly.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DistributedSampler

#: Keys of a data item that are neither loader arguments nor part of its samples' identity
#: (they pick indices or augment them): build_source drops them, cache keys leave them out.
ITEM_KEYS = ("select", "augment")


def import_object(path: str) -> Any:
    """The object named ``module:attr.attr`` (plugin datasets, loss and model factories)."""
    mod, _, attr = path.partition(":")
    try:
        obj = importlib.import_module(mod)
    except ModuleNotFoundError as e:
        raise ValueError(f"cannot import {mod!r} for {path!r}: {e}") from None
    for a in attr.split("."):
        obj = getattr(obj, a)
    return obj


def build_source(item: dict) -> Sequence[dict]:
    """One loader of ``rgb2depth.data`` (or ``module:function``) from a config item."""
    item = dict(item)
    name = item.pop("name")
    select = item.get("select") or {}
    item = {k: v for k, v in item.items() if k not in ITEM_KEYS}  # augment: build_dataset applies it
    if ":" in name:
        src = import_object(name)(**item)
    else:
        from rgb2depth import data

        src = data.create(name, **item)
    if select:
        unknown = set(select) - {"start", "stop", "stride", "limit", "repeat"}
        if unknown:
            raise ValueError(f"data item {name!r}: unknown select keys {sorted(unknown)}")
        idx = list(range(len(src)))[select.get("start", 0):select.get("stop"):select.get("stride", 1)]
        if select.get("limit") is not None:
            idx = idx[: int(select["limit"])]
        idx = idx * int(select.get("repeat", 1))
        src = Subset(src, idx)
    if len(src) == 0:
        raise ValueError(f"data item {name!r} ({item}) has no samples")
    return src


def _keyed(src: Sequence[dict], item: dict) -> Sequence[dict]:
    """``src`` with ``cache_key(i)``: the loader's config item (without ``select``, which only
    picks indices) and the index within that loader, so a sample's decode-cache file is the same
    whichever list, split or selection reaches it."""
    base = json.dumps({k: v for k, v in item.items() if k not in ITEM_KEYS}, sort_keys=True, default=str)
    inner = src.source if isinstance(src, Subset) else src
    keyed = _Keyed(inner, base)
    return Subset(keyed, src.indices) if isinstance(src, Subset) else keyed


class _Keyed(Sequence):
    def __init__(self, source: Sequence[dict], base: str) -> None:
        self.source, self.base = source, base

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> dict:  # type: ignore[override]
        return self.source[i]

    def cache_key(self, i: int) -> str:
        return f"{self.base}:{i}"


class Subset(Sequence):
    """The items of ``source`` at ``indices``, in that order (a dataset's ``select`` and the
    trainer's ``train.val_limit``); keeps the source's cache keys when it has them."""

    def __init__(self, source: Sequence[dict], indices: list[int]) -> None:
        self.source, self.indices = source, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:  # type: ignore[override]
        return self.source[self.indices[i]]

    def cache_key(self, i: int) -> str:
        return self.source.cache_key(self.indices[i])  # type: ignore[attr-defined]


class _Concat(Sequence):
    def __init__(self, sources: list[Sequence[dict]]) -> None:
        self.sources = sources
        self.offsets = np.cumsum([0] + [len(s) for s in sources])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: int) -> dict:  # type: ignore[override]
        if not 0 <= i < len(self):
            raise IndexError(i)
        k = int(np.searchsorted(self.offsets, i, side="right")) - 1
        return self.sources[k][i - int(self.offsets[k])]

    def cache_key(self, i: int) -> str:
        k = int(np.searchsorted(self.offsets, i, side="right")) - 1
        return self.sources[k].cache_key(i - int(self.offsets[k]))


def build_dataset(cfg: dict, split: str, seed: int, progress: bool = False):
    """The torch dataset of ``split`` ("train" or "val"): sources -> cache -> transform.

    Returns an object with ``__len__``, ``__getitem__`` (torch sample dicts: ``image`` 3xHxW
    float in [0, 1], ``depth`` 1xHxW metres NaN-invalid, ``valid`` 1xHxW bool, ``id``) and
    ``set_epoch(epoch)``; None when the split lists no data.
    """
    dcfg = cfg["data"]
    if dcfg.get("factory"):
        return import_object(dcfg["factory"])(cfg=cfg, split=split, seed=seed)
    items = dcfg[split]
    if not items:
        return None
    sources = [_keyed(build_source(it), it) for it in items]
    source = sources[0] if len(sources) == 1 else _Concat(sources)
    size = tuple(dcfg["input_size"]) if dcfg["input_size"] else None
    aug = dcfg["augment"] if split == "train" else dcfg.get("val_augment") or {}
    from rgb2depth.data import DepthDataset, transforms

    train = split == "train"
    if not train:
        for it in items:
            if it.get("augment") is not None:
                raise ValueError(f"data.{split} item {it.get('name')!r}: augment applies to training items only")
    augs = [item_augment(aug, it) for it in items]
    if any(a != aug for a in augs):
        offsets = np.cumsum([0] + [len(s) for s in sources]).tolist()
        transform = transforms.ByIndex(offsets, [transforms.build(a, train=True, size=size) for a in augs])
    else:
        transform = transforms.build(aug, train=train, size=size)
    caches = {cache_size_for(dcfg.get("cache", True), size, transforms.resolve(a)) for a in augs}
    cache_size = caches.pop() if len(caches) == 1 else None
    # with_K: each batch carries the intrinsics after augmentation, which networks that predict
    # depth for a canonical camera need to scale their targets (models.camera_scale).
    cache_dir = dcfg.get("cache_dir") if cache_size else None
    relative = [is_relative(s) for s in sources]
    if any(relative) and not train:
        k = relative.index(True)
        raise ValueError(f"data.{split}[{k}] ({items[k].get('name')!r}) gives depth only up to scale and shift: "
                         "validation scores metric depth, so list it under data.train only")
    flags = [r for r, s in zip(relative, sources, strict=True) for _ in range(len(s))] if any(relative) else None
    ds = DepthDataset(source, transform, seed=seed, cache_size=cache_size, cache_dir=cache_dir, with_K=True,
                      relative=flags)
    if cache_size is not None:
        it = range(len(ds))
        if progress:
            from rgb2depth.progress import progress_bar

            it = progress_bar(it, desc=f"decoding {split} samples", leave=False)
        for i in it:  # fill the cache before DataLoader workers fork (they share it)
            ds.raw(i)
    return ds


def is_relative(src: Sequence[dict]) -> bool:
    """Whether a built source (through its ``select`` and cache-key wrappers) is a loader whose
    depth is known only up to scale and shift (:attr:`rgb2depth.data.Source.relative_depth`)."""
    while not hasattr(type(src), "relative_depth") and hasattr(src, "source"):
        src = src.source  # type: ignore[attr-defined]
    return bool(getattr(src, "relative_depth", False))


def item_augment(augment: dict, item: dict) -> dict:
    """``data.augment`` with a training item's own ``augment`` keys replacing the shared ones
    (whole keys: ``camera: {...}`` replaces the shared ``camera``; ``camera: null`` drops it)."""
    own = item.get("augment")
    if own is None:
        return augment
    if not isinstance(own, dict):
        raise ValueError(f"data item {item.get('name')!r}: augment must be a mapping, got {own!r}")
    merged = {**(augment or {}), **own}
    return {k: v for k, v in merged.items() if v is not None}


def cache_size_for(cache, size, aug: dict) -> tuple[int, int] | None:
    """Size at which decoded samples are cached: ``[H, W]`` as given; ``true`` -> the input size
    unless the transform crops or downsamples the full frame first (then it would change what
    the network sees, so nothing is cached); ``false`` -> no cache."""
    if not cache:
        return None
    if isinstance(cache, list | tuple):
        return int(cache[0]), int(cache[1])
    if size is None or any(aug.get(k) for k in ("downsample", "center_crop", "crop", "resize")):
        return None
    return int(size[0]), int(size[1])


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` (order a pure function of seed + epoch) that can start mid-epoch.

    ``set_start(k)`` skips the first ``k`` indices of this rank's share, so a run resumed after
    ``b`` batches of size ``B`` sees exactly the batches it had not seen (``k = b * B``).
    """

    def __init__(self, dataset, num_replicas: int = 1, rank: int = 0, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle,
                         seed=seed, drop_last=drop_last)
        self.start = 0

    def set_start(self, start: int) -> None:
        self.start = int(start)

    def __iter__(self):
        idx = list(super().__iter__())
        return iter(idx[self.start:])

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start)


def collate(batch: list[dict]) -> dict:
    """Tensors (``K`` included) and arrays stacked; ``id`` (and other strings) stay lists."""
    out: dict[str, Any] = {}
    for k in batch[0]:
        vals = [b[k] for b in batch]
        if isinstance(vals[0], torch.Tensor):
            out[k] = torch.stack(vals)
        elif isinstance(vals[0], np.ndarray):
            out[k] = torch.from_numpy(np.stack(vals))
        elif isinstance(vals[0], str | int | float):
            out[k] = vals
    return out
