"""What a model argument names: ``"default"``, a model file, an exported file, or a registry name.

Every command that takes ``--model`` (``predict``, ``export``, ``serve``, ...) and
:func:`rgb2depth.load` resolve it here, so they accept the same things and fail with the same
one-line errors (:class:`ModelLoadError`):

- ``"default"``: the weights shipped in ``rgb2depth/weights/default.pt``;
- a path ending in ``.onnx``: an ONNX file written by ``rgb2depth export`` (float32 or int8;
  ONNX files are data: loading one runs no code);
- a TorchScript file written by ``rgb2depth export --format torchscript``
  (:func:`rgb2depth.export.formats.load_torchscript` says what is checked before it runs);
- any other file: an rgb2depth model file or training checkpoint, read with
  ``weights_only=True`` (:func:`rgb2depth.models.io.load_model`);
- a registered network name: built with random weights, with a warning that it is untrained.

File kinds are told apart by content, not by name: a TorchScript archive is a zip file holding
a ``code/`` folder, which ``torch.save`` archives never have.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message is one line saying which and why."""


def default_weights_path() -> Path:
    """The shipped default model file (it may be absent in a fresh checkout)."""
    from rgb2depth.paths import WEIGHTS_DIR

    return WEIGHTS_DIR / "default.pt"


@dataclass
class ResolvedModel:
    """A resolved ``--model`` argument.

    Exactly one of ``model`` (a PyTorch module with ``meta``), ``onnx_path`` and
    ``torchscript_path`` is set. ``weights_path`` is the file the PyTorch weights came from
    (None for a registry name), used to key files derived from it (int8 calibration).
    """

    name: str
    model: object | None = None
    onnx_path: Path | None = None
    torchscript_path: Path | None = None
    weights_path: Path | None = None
    untrained: bool = False
    is_default: bool = False

    @property
    def kind(self) -> str:
        """``"onnx"``, ``"torchscript"`` or ``"torch"``."""
        if self.onnx_path is not None:
            return "onnx"
        return "torchscript" if self.torchscript_path is not None else "torch"


def is_torchscript(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip holding ``<archive>/code/``)."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.split("/")[1:2] == ["code"] for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _load_file(path: Path):
    from rgb2depth.models.io import load_model

    try:
        return load_model(path)
    except (ValueError, KeyError, RuntimeError) as e:
        raise ModelLoadError(str(e).splitlines()[0]) from None


def resolve_model(name_or_path: str | os.PathLike) -> ResolvedModel:
    """Resolve ``name_or_path`` (see the module docstring); raises :class:`ModelLoadError`."""
    from rgb2depth import models

    text = str(name_or_path)
    if text == "default":
        path = default_weights_path()
        if not path.is_file():
            raise ModelLoadError(
                f"the default weights are not present ({path} does not exist): this installation "
                "has no trained default model yet; pass a model file (--model PATH) instead"
            )
        return ResolvedModel("default", model=_load_file(path), weights_path=path, is_default=True)
    path = Path(text).expanduser()
    if path.is_file():
        if path.suffix.lower() == ".onnx":
            return ResolvedModel(path.name, onnx_path=path)
        if is_torchscript(path):
            return ResolvedModel(path.name, torchscript_path=path)
        return ResolvedModel(path.name, model=_load_file(path), weights_path=path)
    if text in models.names():
        warnings.warn(
            f"model {text!r} is built with random weights (untrained): its depth is meaningless; "
            "use it only to test plumbing or speed",
            UserWarning,
            stacklevel=3,
        )
        return ResolvedModel(text, model=models.create(text), untrained=True)
    if path.suffix or os.sep in text:
        raise ModelLoadError(f"{text}: no such model file")
    raise ModelLoadError(
        f"{text!r} is neither 'default', a model file, nor a registered model "
        f"(known: {', '.join(models.names()) or 'none'})"
    )


__all__ = ["ModelLoadError", "ResolvedModel", "default_weights_path", "is_torchscript", "resolve_model"]
