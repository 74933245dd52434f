"""What a training run writes about itself: ``metrics.jsonl``, TensorBoard and console lines.

Kept apart from the trainer because it is bookkeeping, not training: only the main process
(rank 0 under ``torchrun``) writes; every other rank gets a log whose methods do nothing, so the
trainer calls them without asking which rank it is.

``metrics.jsonl`` holds one JSON record per line (``kind: train`` every ``train.log_every``
steps, ``kind: val`` after each validation), each line synced to disk. A checkpoint stores the
file's length (:meth:`RunLog.size`), and a resumed run cuts the file back to it
(:meth:`RunLog.truncate`) before logging those steps again, so the file of a run resumed after a
kill reads as the file of a run that never stopped. TensorBoard's writer is told the same with
``purge_step``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

METRICS_NAME = "metrics.jsonl"


class RunLog:
    """The log of the run writing into ``out``; a no-op unless ``main``."""

    def __init__(self, out: Path, main: bool = True, tensorboard: bool = True) -> None:
        self.out = Path(out)
        self.main = main
        self.path = self.out / METRICS_NAME
        self._writer = None
        self._writer_cls = None
        if main and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer_cls = SummaryWriter
            except ImportError:  # pragma: no cover - tensorboard is a dependency
                self._writer_cls = None

    # ------------------------------------------------------------------ metrics.jsonl
    def size(self) -> int:
        """Bytes in ``metrics.jsonl`` now (stored in each checkpoint)."""
        return self.path.stat().st_size if self.path.exists() else 0

    def truncate(self, size: int) -> None:
        """Drop what was logged after a checkpoint holding ``size``: the resumed run logs it again."""
        if self.main and self.path.exists():
            with open(self.path, "r+b") as f:
                f.truncate(int(size))

    def reset(self) -> None:
        """A run starting from scratch does not append to an older run's records."""
        if self.main and self.path.exists():
            self.path.unlink()

    def record(self, rec: dict) -> None:
        """Append one record, synced to disk."""
        if not self.main:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())

    # ------------------------------------------------------------------ console
    def text(self, msg: str) -> None:
        if self.main:
            print(msg, flush=True)

    # ------------------------------------------------------------------ TensorBoard
    def open_tensorboard(self, step: int) -> None:
        """Start the TensorBoard writer; a resumed run (``step`` > 0) purges events after ``step``."""
        if self._writer_cls is not None and self._writer is None:
            self._writer = self._writer_cls(log_dir=str(self.out / "tensorboard"),
                                            purge_step=step + 1 if step else None)

    def scalars(self, prefix: str, values: dict, step: int) -> None:
        """``values`` as TensorBoard scalars named ``prefix + key``."""
        if self._writer is not None:
            for k, v in values.items():
                self._writer.add_scalar(f"{prefix}{k}", v, step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        """An HxWx3 image (e.g. :func:`rgb2depth.viz.image_grid`) in TensorBoard."""
        if self._writer is not None:
            self._writer.add_image(tag, image, step, dataformats="HWC")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
