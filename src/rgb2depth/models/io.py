"""Model files: a self-describing format that rebuilds the network from the file alone.

A model file is a plain dict (loadable with ``torch.load(..., weights_only=True)``)::

    {"format": "rgb2depth-model/1", "name": <registry name>, "options": {...},
     "meta": ModelMeta.to_dict(), "state_dict": {...}, "info": {...free-form...}}

Training checkpoints (optimizer, RNG, ...) embed the same keys under ``"model"`` so that
:func:`load_model` accepts either.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from rgb2depth.models.base import ModelMeta

FORMAT = "rgb2depth-model/1"


def model_record(model: nn.Module, info: dict | None = None) -> dict[str, Any]:
    """The dict stored for ``model`` (built by :func:`rgb2depth.models.create`)."""
    name = getattr(model, "rgb2depth_name", None)
    if name is None:
        raise ValueError("model was not built by rgb2depth.models.create; its name is unknown")
    module = model.module if hasattr(model, "module") else model  # unwrap DDP
    return {
        "format": FORMAT,
        "name": name,
        "options": dict(getattr(model, "rgb2depth_options", {})),
        "meta": model.meta.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
        "info": dict(info or {}),
    }


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``.

    A crash at any moment leaves either the old file or the new one, never a torn file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; give the result the usual umask-derived mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_model(model: nn.Module, path: str | os.PathLike, info: dict | None = None) -> None:
    atomic_save(model_record(model, info), path)


def load_model(path: str | os.PathLike, map_location: str = "cpu") -> nn.Module:
    """Rebuild a model from a model file or a training checkpoint (``weights_only=True``)."""
    from rgb2depth.models import create

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        rec = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - re-raised with the file named
        raise ValueError(f"{path}: not a readable model file ({e.__class__.__name__}: {e})") from e
    if isinstance(rec, dict) and rec.get("format") != FORMAT and isinstance(rec.get("model"), dict):
        rec = rec["model"]
    if not isinstance(rec, dict) or rec.get("format") != FORMAT:
        raise ValueError(f"{path}: not an rgb2depth model file (format {FORMAT} expected)")
    model = create(rec["name"], **rec["options"])
    model.load_state_dict(rec["state_dict"])
    model.meta = ModelMeta.from_dict(rec["meta"])
    model.rgb2depth_info = rec.get("info", {})
    return model.eval()
