"""The ``synth`` dataset name: the procedural generator of ``rgb2depth.synth`` (another part of
the toolkit), constructed lazily so the data package does not depend on open3d at import."""

from __future__ import annotations

from typing import Any


def synth_dataset(**kw: Any):
    """``rgb2depth.synth.generator.SynthDataset(**kw)`` (count, size, seed, trajectory, ...)."""
    try:
        from rgb2depth.synth.generator import SynthDataset
    except ImportError as e:
        raise RuntimeError(
            f"dataset 'synth' needs rgb2depth.synth.generator.SynthDataset, which cannot be imported ({e})"
        ) from None
    return SynthDataset(**kw)
