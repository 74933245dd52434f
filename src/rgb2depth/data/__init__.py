"""Datasets and the data pipeline: loaders for the real formats, stereo-derived
targets, joint augmentations, and the torch Dataset adaptor.

``create(name, **kw)`` builds a registered loader (``names()`` lists them); every loader is a
``Sequence[dict]`` of samples (docs/DEVELOPING.md). Loader modules are imported on first use so
``import rgb2depth.data`` stays light.

=============== ======================================================================== =============
name            what / key arguments                                                      stored units
=============== ======================================================================== =============
tum             TUM RGB-D sequence (root, max_difference=0.02, poses="interpolate"|          png / 5000
                "nearest"|None, stride, K)
tum_keyframes   fr3/cabinet keyframe layout (root; intrinsics from TUM3.yaml)                png / 5000
seven_scenes    Microsoft 7-Scenes sequence folder (root, stride)                            png mm
nyu_labeled     nyu_depth_v2_labeled.mat (path, split="train"|"test"|"all", splits=,        metres
                depth="filled"|"raw")
nyu_csv         DenseDepth CSV layout (csv_path, root=None, train_max_depth=10)             8-bit/16-bit
nyu_h5          sparse-to-dense .h5 files under root                                         metres
nyu_raw         raw Kinect frames (root=scene folder | pairs=[(ppm, pgm)], register=True,    disparity
                mask_min_max=False)
kitti_raw       images + Velodyne + calib -> sparse depth (root [, files=Eigen list] |       metres
                items=[(png, bin, calib)], camera=2, max_depth)
kitti_depth     depth-completion PNGs (root, raw_root, split, files, kind | selection=)      png / 256
make3d          Make3D (root | pairs, size=(345, 460), max_depth=70, channel="d"|"z")        metres
middlebury      scene folder(s) (root, focal=, baseline= for 2001/2003)                      disparity
sun_rgbd        SUN RGB-D frame folders (root | pairs, refined=False, max_depth, K)          png mm rot3
folder          rgb/ depth/ intrinsics.json poses.txt meta.json (root, depth_scale=1000)     png / scale
synth           rgb2depth.synth.generator.SynthDataset(**kw)                                 metres
=============== ======================================================================== =============

``middlebury_relative`` (root, views=(1, 5)) reads the Middlebury 2005/2006 scenes (8-bit
disparity / 3), whose disparity is known only up to an offset: its samples are relative depth
(``Source.relative_depth``), for scale-and-shift-invariant losses only.

Other entry points: ``concat``, ``subset``, ``split`` (base.py); ``transforms.build``
(joint augmentation); ``DepthDataset`` (torch adaptor, torch_dataset.py); ``stereo`` (targets
from rectified pairs); ``folder.FolderWriter`` (write the folder layout); ``DataError`` (bad
file: one line naming the file and the problem).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import cv2

from .base import DATASETS, Concat, DataError, Source, Subset, concat, make_sample, split, subset

# DataLoader workers are forked. If OpenCV's internal thread pool was used before the fork, a
# forked worker can inherit a held pool lock and deadlock in its first parallel cv2 call (seen
# here: a worker stuck in cv2.warpAffine). Data work runs on one core per worker anyway, so
# OpenCV's own threading is switched off for the process.
cv2.setNumThreads(0)

_LAZY = {
    "tum": ("rgb2depth.data.tum", "TUMSequence"),
    "tum_keyframes": ("rgb2depth.data.tum", "TUMKeyframes"),
    "seven_scenes": ("rgb2depth.data.seven_scenes", "SevenScenes"),
    "nyu_labeled": ("rgb2depth.data.nyu", "NYULabeled"),
    "nyu_csv": ("rgb2depth.data.nyu", "NYUCsv"),
    "nyu_h5": ("rgb2depth.data.nyu", "NYUH5"),
    "nyu_raw": ("rgb2depth.data.nyu", "NYURaw"),
    "kitti_raw": ("rgb2depth.data.kitti", "KITTIRaw"),
    "kitti_depth": ("rgb2depth.data.kitti", "KITTIDepth"),
    "make3d": ("rgb2depth.data.make3d", "Make3D"),
    "middlebury": ("rgb2depth.data.middlebury", "Middlebury"),
    "middlebury_relative": ("rgb2depth.data.middlebury", "MiddleburyRelative"),
    "sun_rgbd": ("rgb2depth.data.sunrgbd", "SUNRGBD"),
    "folder": ("rgb2depth.data.folder", "FolderDataset"),
    "synth": ("rgb2depth.data.synthetic", "synth_dataset"),
}


def _lazy(name: str, module: str, attr: str):
    def make(**kw: Any):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            raise KeyError(f"dataset {name!r} is not available: {e}") from None
        return getattr(mod, attr)(**kw)

    make.__name__ = name
    make.__doc__ = f"{module}.{attr}"
    return make


for _n, (_m, _a) in _LAZY.items():
    DATASETS.register(_n)(_lazy(_n, _m, _a))


def create(name: str, **kw: Any) -> Sequence[dict]:
    """Build the dataset registered as ``name`` (see the table above)."""
    return DATASETS.create(name, **kw)


def names() -> list[str]:
    return DATASETS.names()


def __getattr__(attr: str):
    # torch is imported only when the Dataset adaptor is asked for.
    if attr in ("DepthDataset", "sample_to_batch"):
        from . import torch_dataset

        return getattr(torch_dataset, attr)
    if attr == "transforms":
        return importlib.import_module("rgb2depth.data.transforms")
    raise AttributeError(f"module 'rgb2depth.data' has no attribute {attr!r}")


__all__ = [
    "DATASETS", "Concat", "DataError", "Source", "Subset", "concat", "create", "make_sample",
    "names", "split", "subset", "DepthDataset", "sample_to_batch",
]
