"""Inference for users: ``load`` a model, ``predict`` depth in metres.

- :mod:`.api`       ``load(name_or_path, device, backend, precision=...)`` -> :class:`DepthPredictor`
  (``predict``, ``predict_batch``, ``predict_with_rgb``); preprocessing documented there.
- :mod:`.resolve`   what a model argument names (``"default"``, model file, exported file, registry name).
- :mod:`.imageio`   robust decoding (EXIF orientation, modes, pixel limit, minimum size).
- :mod:`.outputs`   npy / 16-bit PNG / colour map (+ colour bar) / PLY writers.
- :mod:`.video`, :mod:`.camera`   frame-by-frame depth for videos and cameras.
- :mod:`.profiling` paper 000's timing protocol, parameter and MAC counts.
- :mod:`.cli`       the ``predict`` and ``benchmark`` commands.
"""

from rgb2depth.inference.api import DepthPredictor, ModelLoadError, load
from rgb2depth.inference.imageio import ImageReadError

__all__ = ["DepthPredictor", "ImageReadError", "ModelLoadError", "load"]
