"""rgb2depth: single-image (monocular) depth estimation with convolutional networks.

The package is organised by what each part does:

- :mod:`rgb2depth.models`     networks of the five papers, one registry (``models.create``)
- :mod:`rgb2depth.losses`     training losses, one registry (``losses.create``)
- :mod:`rgb2depth.metrics`    depth metrics and named evaluation protocols
- :mod:`rgb2depth.data`       dataset loaders, stereo-derived targets, joint augmentations
- :mod:`rgb2depth.training`   config-driven trainer (single/two-stage, resumable, DDP)
- :mod:`rgb2depth.evaluation` evaluation runs and reports
- :mod:`rgb2depth.inference`  ``load``/``predict`` API and the ``predict`` command
- :mod:`rgb2depth.export`     ONNX / TorchScript export with verification
- :mod:`rgb2depth.geometry`   cameras, point clouds, 3D reconstruction from predicted depth
- :mod:`rgb2depth.synth`      synthetic indoor RGB-D scene generator
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load"]


def load(name_or_path: str = "default", device: str = "cpu", backend: str | None = None, **options):
    """Load a depth predictor by registry name, model or exported file, or ``"default"``.

    ``options``: ``precision`` ("float32", "int8", "bf16"), ``calibration``, ``threads``, ...
    See :func:`rgb2depth.inference.api.load`; imported lazily so that ``import rgb2depth``
    stays cheap.
    """
    from rgb2depth.inference.api import load as _load

    return _load(name_or_path, device=device, backend=backend, **options)
