"""The model zoo: every network of the five papers behind one registry.

``create(name, **options)`` builds a network; ``names()`` lists them. Each family lives in a
module named after what it is (``unet``, ``eigen``, ``refinement``, ``fcrn``,
``cnn_comparison``) whose docstring cites the paper section it implements. Every model carries
a :class:`~rgb2depth.models.base.ModelMeta` in ``model.meta``.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch.nn as nn

from rgb2depth.models.base import ModelMeta, camera_scale, from_metres, to_metres
from rgb2depth.registry import Registry

MODELS = Registry("model")
register_model = MODELS.register

# Family modules register their networks on import.
_FAMILY_MODULES = ("unet", "eigen", "refinement", "fcrn", "cnn_comparison", "lite_depth")
_loaded = False


def _load_families() -> None:
    global _loaded
    if _loaded:
        return
    for mod in _FAMILY_MODULES:
        importlib.import_module(f"rgb2depth.models.{mod}")
    _loaded = True


def names() -> list[str]:
    """Registered model names."""
    _load_families()
    return MODELS.names()


def check_options(name: str, options: dict[str, Any]) -> None:
    """One-line ``ValueError`` for an unknown model, option or wrongly typed option value
    (:meth:`rgb2depth.registry.Registry.check_options`); ``KeyError`` for an unknown name."""
    _load_families()
    MODELS.check_options(name, options)


def is_pretrained_option(key: str) -> bool:
    """Whether a model option names pretrained weights to read (``pretrained``, ``*_pretrained``)."""
    return key == "pretrained" or key.endswith("_pretrained")


def shipped_weights() -> dict[str, list]:
    """Registry name -> the trained model files shipped in ``rgb2depth/weights``
    (:func:`rgb2depth.models.io.shipped_weights`)."""
    from rgb2depth.models.io import shipped_weights as _shipped

    return _shipped()


def create(name: str, *, load_pretrained: bool = True, **options: Any) -> nn.Module:
    """Build the network registered as ``name`` with ``options``.

    The returned module has ``meta`` (:class:`ModelMeta`), ``rgb2depth_name`` and
    ``rgb2depth_options`` attributes, which :func:`rgb2depth.models.io.save_model` stores so the
    model can be rebuilt from a file alone.

    ``load_pretrained=False`` builds the network with every pretrained-weights option
    (:func:`is_pretrained_option`) set to None, while ``rgb2depth_options`` keeps the options
    as given. Callers that are about to load a complete state_dict (a model file, a checkpoint)
    use it, so that rebuilding a saved network never downloads or reads backbone weights.
    """
    _load_families()
    build = options if load_pretrained else {
        k: (None if is_pretrained_option(k) else v) for k, v in options.items()}
    model = MODELS.create(name, **build)
    if not isinstance(getattr(model, "meta", None), ModelMeta):
        raise TypeError(f"model {name!r} does not define a ModelMeta in .meta")
    model.rgb2depth_name = name
    model.rgb2depth_options = dict(options)
    return model


__all__ = [
    "MODELS", "ModelMeta", "camera_scale", "check_options", "create", "from_metres", "is_pretrained_option",
    "names", "register_model", "shipped_weights", "to_metres",
]
