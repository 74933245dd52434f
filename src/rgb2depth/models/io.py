"""Model files: a self-describing format that rebuilds the network from the file alone.

A model file is a plain dict (loadable with ``torch.load(..., weights_only=True)``)::

    {"format": "rgb2depth-model/1", "name": <registry name>, "options": {...},
     "meta": ModelMeta.to_dict(), "state_dict": {...}, "info": {...free-form...}}

Training checkpoints (optimizer, RNG, ...) embed the same keys under ``"model"`` so that
:func:`load_model` accepts either.

A model file holds every weight of the network, so loading one rebuilds the network without
its pretrained-backbone options (:func:`rebuild`): nothing is downloaded and no other file is
unpickled, whatever ``options`` says.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from rgb2depth.fileio import atomic_path, torch_load
from rgb2depth.models.base import ModelMeta

FORMAT = "rgb2depth-model/1"
#: Entries every model record must hold (``info`` is optional).
RECORD_KEYS = ("name", "options", "meta", "state_dict")


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
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``.

    A crash at any moment leaves either the old file or the new one, never a torn file; a
    failed write (full disk, ...) removes the temporary file and raises
    :class:`rgb2depth.fileio.OutputError`, one line naming ``path``
    (:func:`rgb2depth.fileio.atomic_path`).
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def save_model(model: nn.Module, path: str | os.PathLike, info: dict | None = None) -> None:
    atomic_save(model_record(model, info), path)


def read_record(path: str | os.PathLike, map_location: str = "cpu") -> dict[str, Any]:
    """The model record of a model file or training checkpoint (``weights_only=True``), checked.

    Raises ``FileNotFoundError`` / ``ValueError`` with one line naming the file and the problem
    (unreadable, not a model file, keys missing).
    """
    rec = torch_load(path, "model file", map_location)
    if isinstance(rec, dict) and rec.get("format") != FORMAT and isinstance(rec.get("model"), dict):
        rec = rec["model"]
    if not isinstance(rec, dict) or rec.get("format") != FORMAT:
        raise ValueError(f"{path}: not an rgb2depth model file (format {FORMAT} expected)")
    missing = [k for k in RECORD_KEYS if k not in rec]
    if missing:
        raise ValueError(f"{path}: model record lacks {', '.join(map(repr, missing))}")
    for key, kind in (("name", str), ("options", dict), ("meta", dict), ("state_dict", dict)):
        if not isinstance(rec[key], kind):
            raise ValueError(f"{path}: model record entry {key!r} must be a {kind.__name__}, "
                             f"got {type(rec[key]).__name__}")
    return rec


def load_weights(model: nn.Module, state: dict[str, Any], source: str | os.PathLike) -> None:
    """``model.load_state_dict(state)`` (strict) with a one-line ``ValueError`` naming
    ``source`` and the first missing / unexpected / mis-shaped keys when they do not fit."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [k for k in own if k in state and hasattr(state[k], "shape")
              and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected)):
            if keys:
                parts.append(f"{len(keys)} {label} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})")
        if shapes:
            k = shapes[0]
            parts.append(f"{len(shapes)} of another shape ({k}: file {tuple(state[k].shape)}, "
                         f"model {tuple(own[k].shape)})")
        name = getattr(model, "rgb2depth_name", type(model).__name__)
        raise ValueError(f"{source}: weights do not fit {name}: {'; '.join(parts)}")
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as e:  # dtype or non-tensor values
        raise ValueError(f"{source}: weights do not fit: {str(e).strip().splitlines()[0]}") from None


def rebuild(rec: dict[str, Any], source: str | os.PathLike) -> nn.Module:
    """The network of a checked model record, built without reading pretrained backbone
    weights (``models.create(..., load_pretrained=False)``: the record holds every weight).

    An unknown model, unknown option or wrongly typed option is a one-line ``ValueError``
    naming ``source``.
    """
    from rgb2depth import models

    name, options = rec["name"], rec["options"]
    try:
        models.check_options(name, options)
        return models.create(name, load_pretrained=False, **options)
    except KeyError as e:
        raise ValueError(f"{source}: {e.args[0] if e.args else e}") from None
    except (ValueError, TypeError) as e:
        raise ValueError(f"{source}: {str(e).strip().splitlines()[0]}") from None


def load_model(path: str | os.PathLike, map_location: str = "cpu") -> nn.Module:
    """Rebuild a model from a model file or a training checkpoint (``weights_only=True``).

    Loading never executes code from the file and never fetches or reads pretrained backbone
    weights, whatever the stored options say (:func:`rebuild`). Every problem is a one-line
    ``FileNotFoundError`` / ``ValueError`` naming the file.
    """
    rec = read_record(path, map_location)
    model = rebuild(rec, path)
    load_weights(model, rec["state_dict"], path)
    try:
        model.meta = ModelMeta.from_dict(rec["meta"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: bad model meta ({str(e).strip().splitlines()[0]})") from None
    model.rgb2depth_info = rec.get("info", {})
    return model.eval()


def shipped_weights(folder: str | os.PathLike | None = None) -> dict[str, list[Path]]:
    """The trained model files shipped in the package (``rgb2depth/weights/*.pt``, or
    ``folder``), by the registry name of the network each holds (read from the file's record,
    ``weights_only=True``). ``weights/default.pt`` is what ``--model default`` loads; a file
    that is not a readable model file is left out."""
    from rgb2depth.paths import WEIGHTS_DIR

    found: dict[str, list[Path]] = {}
    for path in sorted(Path(folder or WEIGHTS_DIR).glob("*.pt")):
        try:
            name = read_record(path)["name"]
        except (FileNotFoundError, ValueError):
            continue
        found.setdefault(name, []).append(path)
    return found

