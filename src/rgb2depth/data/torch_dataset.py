"""torch Dataset adaptor: sample dicts -> the batch dict of docs/DEVELOPING.md.

``image`` (3,H,W) float32 in [0,1] (1 channel when the transform made the sample grayscale),
``depth`` (1,H,W) float32 metres NaN-invalid, ``valid`` (1,H,W) bool, ``id`` str.

Reproducible augmentation: sample ``i`` in epoch ``e`` draws from
``numpy.random.default_rng([seed, e, i])``, independent of worker count, worker order and
process (so a resumed run at epoch e sees the same augmentations). Call ``set_epoch(e)``
before each epoch; with persistent DataLoader workers, the epoch is read from a shared
counter so workers see the new value.

Cache: ``cache_size=(H, W)`` keeps decoded samples resized (nearest for depth) to that size in
memory per process, so JPEG/PNG decoding and the big resize happen once per worker, not once per
epoch. ``cache_dir`` additionally stores them as .npz files shared by all workers and runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from rgb2depth.geometry.camera import Intrinsics

from .transforms import ByIndex, resize


def sample_to_batch(s: dict) -> dict:
    rgb = s["rgb"]
    if s.get("gray"):
        rgb = rgb[:, :, :1]
    image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0)
    valid = np.array(s["valid"], dtype=bool, copy=True)  # never share memory with a cached sample
    depth = np.where(valid, s["depth"], np.nan).astype(np.float32)
    out = {
        "image": image,
        "depth": torch.from_numpy(depth)[None],
        "valid": torch.from_numpy(valid)[None],
        "id": s["id"],
    }
    return out


class DepthDataset(torch.utils.data.Dataset):
    """Wraps a source (``Sequence[dict]``) with a joint transform for DataLoader use.

    ``with_K=True`` adds ``K`` as a float32 tensor (fx, fy, cx, cy) and ``with_pose`` the 4x4
    pose (NaN when unknown), both collate with the default collate. ``relative``: one bool per
    sample, True where its depth is known only up to scale and shift (a loader's
    ``relative_depth``); when given, each batch item carries it as ``relative``.
    """

    def __init__(
        self,
        source: Sequence[dict],
        transform: Callable[[dict, np.random.Generator], dict] | None = None,
        seed: int = 0,
        cache_size: tuple[int, int] | None = None,
        cache_dir: str | Path | None = None,
        with_K: bool = False,
        with_pose: bool = False,
        relative: Sequence[bool] | None = None,
    ) -> None:
        self.source = source
        if relative is not None and len(relative) != len(source):
            raise ValueError(f"relative: {len(relative)} flags for {len(source)} samples")
        self.relative = None if relative is None else [bool(r) for r in relative]
        self.transform = transform
        self.seed = int(seed)
        self.cache_size = None if cache_size is None else (int(cache_size[0]), int(cache_size[1]))
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        if self.cache_dir is not None and self.cache_size is None:
            raise ValueError("cache_dir needs cache_size=(H, W)")
        self._cache: dict[int, dict] = {}
        # shared memory so persistent workers see set_epoch from the main process
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()
        self.with_K, self.with_pose = with_K, with_pose

    def __len__(self) -> int:
        return len(self.source)

    @property
    def epoch(self) -> int:
        return int(self._epoch[0])

    def set_epoch(self, epoch: int) -> None:
        self._epoch[0] = int(epoch)

    def rng(self, index: int, epoch: int | None = None) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch if epoch is None else epoch, int(index)])

    def _cache_path(self, index: int) -> Path:
        # a source that knows its samples' identities (training.data's config items) names them;
        # otherwise the index names a sample only within this one source
        cache_key = getattr(self.source, "cache_key", None)
        ident = cache_key(index) if cache_key else f"{type(self.source).__name__}:{getattr(self.source, 'root', '')}:{index}"
        key = f"{ident}:{self.cache_size}"
        return self.cache_dir / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz"  # type: ignore[operator]

    def raw(self, index: int) -> dict:
        """The (cached, resized) sample before augmentation."""
        if self.cache_size is None:
            return self.source[index]
        s = self._cache.get(index)
        if s is not None:
            return s
        path = self._cache_path(index) if self.cache_dir is not None else None
        if path is not None and path.is_file():
            z = np.load(path, allow_pickle=False)
            K = None if z["K"].size == 0 else Intrinsics(*z["K"][:4].tolist(), int(z["K"][4]), int(z["K"][5]))
            s = {"rgb": z["rgb"], "depth": z["depth"], "valid": np.isfinite(z["depth"]), "K": K, "id": str(z["id"])}
            if z["pose"].size:
                s["pose"] = z["pose"]
        else:
            s = resize(self.source[index], *self.cache_size)
            s = {k: s[k] for k in ("rgb", "depth", "valid", "K", "id", "pose", "gray") if k in s}
            if path is not None:
                from rgb2depth.fileio import atomic_path

                K = s["K"]
                kv = np.array([] if K is None else [K.fx, K.fy, K.cx, K.cy, K.width, K.height], np.float64)
                # a unique temporary name: processes sharing a cache folder never collide
                with atomic_path(path, fsync=False) as tmp:
                    np.savez(tmp, rgb=s["rgb"], depth=s["depth"], K=kv, id=np.array(s["id"]),
                             pose=np.asarray(s.get("pose", np.zeros(0))))
        self._cache[index] = s
        return s

    def fill_cache(self, num_workers: int = 0, progress: bool = False) -> None:
        """Decode and resize every sample into the in-memory cache now (call before DataLoader
        workers fork so they share it); ``num_workers`` > 0 decodes in parallel processes."""
        if self.cache_size is None:
            raise ValueError("fill_cache needs cache_size=(H, W)")
        todo = [i for i in range(len(self)) if i not in self._cache]
        if num_workers > 0 and todo:
            loader = torch.utils.data.DataLoader(_RawView(self, todo), batch_size=None, num_workers=num_workers,
                                                 collate_fn=_identity)
            it = iter(loader)
        else:
            it = (self.raw(i) for i in todo)
        if progress:
            from rgb2depth.progress import progress_bar

            it = progress_bar(it, total=len(todo), desc="decoding samples", leave=False)
        for i, s in zip(todo, it, strict=True):
            self._cache[i] = s

    def sample(self, index: int, epoch: int | None = None) -> dict:
        s = self.raw(index)
        if isinstance(self.transform, ByIndex):
            s = self.transform.at(index)(s, self.rng(index, epoch))
        elif self.transform is not None:
            s = self.transform(s, self.rng(index, epoch))
        return s

    def __getitem__(self, index: int) -> dict:
        s = self.sample(index)
        b = sample_to_batch(s)
        if self.with_K:
            K = s.get("K")
            b["K"] = torch.tensor([np.nan] * 4 if K is None else [K.fx, K.fy, K.cx, K.cy], dtype=torch.float32)
        if self.relative is not None:
            b["relative"] = torch.tensor(self.relative[index])
        if self.with_pose:
            p = s.get("pose")
            b["pose"] = torch.full((4, 4), float("nan"), dtype=torch.float64) if p is None else torch.from_numpy(np.asarray(p, np.float64))
        return b


def _identity(x):
    return x  # keep numpy samples as they are (the default would convert them to tensors)


class _RawView(torch.utils.data.Dataset):
    """``ds.raw(i)`` for the listed indices, as a map-style dataset (for parallel cache fill)."""

    def __init__(self, ds: DepthDataset, indices: list[int]) -> None:
        self.ds, self.indices = ds, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> dict:
        return self.ds.raw(self.indices[k])
