"""Synthetic indoor RGB-D scenes with exact metric z-depth.

``rgb2depth.synth.generator.SynthDataset`` renders samples on the fly; ``rgb2depth synth``
(``synth.cli``) writes them as a folder dataset. Modules: ``scene`` (meshes, lights, the scene
record, floor-plan tests), ``furniture`` and ``clutter`` (furniture and small-object makers),
``rooms`` (room structure, openings, placement, lights) and ``layouts`` (the furnishing
programs of the room types, what lies behind doors, daylight), ``camera`` (view kinds and RGB-D camera intrinsics), ``textures`` (procedural
materials), ``render`` (open3d Embree ray casting + numpy shading, camera response),
``sensor`` (Kinect-like depth degradation).
"""

from __future__ import annotations


def __getattr__(name: str):  # lazy: importing the package stays cheap for the CLI hub
    if name in ("SynthDataset", "default_intrinsics", "NYU_INTRINSICS", "parse_weights"):
        from . import generator

        return getattr(generator, name)
    raise AttributeError(name)
