"""Training checkpoints: everything needed to continue a run exactly, written atomically.

A checkpoint is a plain dict that loads with ``torch.load(..., weights_only=True)``::

    {"format": "rgb2depth-checkpoint/1",
     "model": models.io.model_record(model),        # so models.io.load_model accepts it
     "optimizer": ..., "scheduler": ..., "rng": {python, numpy, torch[, cuda]},
     "stage": int, "epoch": int, "batch": int (batches done in this epoch), "step": int,
     "best": {"metric", "value", "step"} | None, "config": dict, "scaler": None}

It is written by :func:`rgb2depth.models.io.atomic_save` (temporary file + fsync + rename), so a
run killed at any moment leaves the previous checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = "rgb2depth-checkpoint/1"


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch global RNG states as weights_only-loadable values."""
    py = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": {
            "name": np_name,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def make_checkpoint(model: torch.nn.Module, optimizer, scheduler, *, stage: int, epoch: int,
                    batch: int, step: int, best: dict | None, config: dict,
                    info: dict | None = None) -> dict[str, Any]:
    from rgb2depth.models.io import model_record

    return {
        "format": FORMAT,
        "model": model_record(model, info),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng_state(),
        "stage": int(stage),
        "epoch": int(epoch),
        "batch": int(batch),
        "step": int(step),
        "best": best,
        "config": config,
    }


#: Entries a checkpoint must hold to continue a run (``best`` and ``metrics_bytes`` may be absent).
REQUIRED = ("model", "optimizer", "scheduler", "rng", "stage", "epoch", "batch", "step")


def save_checkpoint(ckpt: dict, path: str | Path) -> None:
    from rgb2depth.models.io import atomic_save

    atomic_save(ckpt, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint (``weights_only=True``); errors are one line naming the file
    (unreadable, another format, entries missing)."""
    from rgb2depth.fileio import torch_load

    path = Path(path)
    ckpt = torch_load(path, "checkpoint")
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path}: not an rgb2depth training checkpoint ({FORMAT} expected)")
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {', '.join(map(repr, missing))}; it cannot "
                         "continue a run (use it as model.init to start a new one from its weights)")
    if not isinstance(ckpt["model"], dict) or "state_dict" not in ckpt["model"]:
        raise ValueError(f"{path}: checkpoint entry 'model' holds no model record")
    return ckpt


def clean_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporary files a killed :func:`save_checkpoint` (or ``save_model``) left in
    ``folder``, in the current and the older naming (:func:`rgb2depth.fileio.remove_temporaries`).
    Returns what was removed."""
    from rgb2depth.fileio import remove_temporaries

    return remove_temporaries(folder, older_naming=True)
