"""Calibration for int8 models: the images, and the record of what calibration found.

**Images.** :func:`calibration_images` picks images spread evenly over a folder and keeps the
others apart as calibration-free images for checking; :func:`network_input` prepares an image
exactly as ``predict`` does (decode, resize to the network input, [0, 1]).

**Records.** A :class:`Calibration` holds the activation ranges of one network (ONNX Runtime's
calibration-cache dictionary: they do not depend on the input size) and the quantisation plan
chosen with them (which layers stay float32, the output correction; see
:mod:`rgb2depth.export.quantize`), so a network can be quantised at any input size ``predict``
chooses without the images. A record is keyed to the float weights by
:func:`rgb2depth.export.formats.weights_digest`; :func:`check_calibration` refuses one made for
other weights or another quantisation scheme, so a stale record is never used silently. Records
are JSON: loading one runs no code. The default model ships its record beside its weights
(:func:`default_calibration_path`), made by :data:`DEFAULT_COMMAND`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CALIBRATION_FORMAT = "rgb2depth-int8-calibration/1"
#: How networks are quantised; a record made under other settings is refused.
SETTINGS = {"format": "QDQ", "activations": "uint8 per tensor", "weights": "int8 per channel",
            "calibration": "percentile 99.99 (min-max if a tensor is constant)",
            "plan": "float32 input-side prefix, float32 output layer, output scale and offset corrected"}
#: Calibration images used when ``--calibrate-count`` is not given.
DEFAULT_COUNT = 32
DEFAULT_CALIBRATION = "default.int8.json"
#: The command that (re)makes the default model's record; ``{data}`` is the real data folder.
#: It calibrates on training-side frames only (TUM fr1/rpy), never on the NYU sample or the
#: TUM cabinet keyframes, which are kept for reporting.
DEFAULT_COMMAND = ("rgb2depth export --model default --format onnx --int8 "
                   "--calibrate {data}/tum/rgbd_dataset_freiburg1_rpy/rgb --calibrate-count 64 "
                   "--save-calibration src/rgb2depth/weights/default.int8.json -o default.int8.onnx")


class CalibrationError(ValueError):
    """Calibration images or a calibration record cannot be used; one line naming which."""


def default_calibration_path() -> Path:
    from rgb2depth.paths import WEIGHTS_DIR

    return WEIGHTS_DIR / DEFAULT_CALIBRATION


# -- images ---------------------------------------------------------------------------------------

def calibration_images(folder: str | os.PathLike, count: int = DEFAULT_COUNT) -> tuple[list[Path], list[Path]]:
    """``(chosen, rest)``: ``count`` images spread evenly over the sorted images of ``folder``
    (searched recursively) and the others (calibration-free, for checking the quantised model).

    Raises :class:`CalibrationError` (one line) for a missing folder, a file, no images or a
    count below 1.
    """
    from rgb2depth.inference.imageio import find_images

    folder = Path(folder)
    if count < 1:
        raise CalibrationError(f"--calibrate-count must be at least 1, got {count}")
    if not folder.exists():
        raise CalibrationError(f"{folder}: no such folder of calibration images")
    if not folder.is_dir():
        raise CalibrationError(f"{folder}: is a file; --calibrate takes a folder of images")
    images = find_images(folder)
    if not images:
        raise CalibrationError(f"{folder}: folder contains no images (looked for .jpg, .png, ... recursively)")
    idx = sorted({int(round(i)) for i in np.linspace(0, len(images) - 1, min(count, len(images)))})
    chosen = set(idx)
    return [images[i] for i in idx], [p for i, p in enumerate(images) if i not in chosen]


def network_input(image, hw: tuple[int, int], in_channels: int) -> np.ndarray:
    """(1, C, H, W) float32 in [0, 1]: ``image`` (path or HxWx3 uint8) prepared as ``predict``
    prepares it for a network input of ``hw`` (:func:`rgb2depth.inference.api.prepare_input`)."""
    from rgb2depth.inference.api import prepare_input
    from rgb2depth.inference.imageio import to_rgb_array

    name = str(image) if isinstance(image, (str, os.PathLike)) else "<array>"
    x = prepare_input(to_rgb_array(image, name=name), hw, in_channels)
    return x.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255.0)


def images_digest(images) -> str:
    """A digest of image file names and sizes (identifies a calibration set)."""
    h = hashlib.sha256()
    for p in images:
        h.update(f"{Path(p).name}:{Path(p).stat().st_size}\n".encode())
    return h.hexdigest()[:16]


# -- records --------------------------------------------------------------------------------------

@dataclass
class Calibration:
    """Activation ranges of one network (``ranges``: ONNX Runtime's calibration-cache
    dictionary), the quantisation ``plan`` chosen with them (``float_nodes``: node names kept
    float32; ``output_node``, ``output_scale`` and ``output_shift``: the float32 output layer
    and the correction of its output; ``search``: what each tried plan measured) and what made them:
    ``model`` (registry name, ``weights_sha256``), ``images`` (folder, count, names digest),
    ``settings``, library versions."""

    ranges: dict
    model: dict
    plan: dict = field(default_factory=dict)
    images: dict = field(default_factory=dict)
    settings: dict = field(default_factory=lambda: dict(SETTINGS))
    versions: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"format": CALIBRATION_FORMAT, "model": self.model, "images": self.images, "plan": self.plan,
                "settings": self.settings, "versions": self.versions, "ranges": self.ranges}

    def summary(self) -> dict:
        """The record without its ranges (stored in int8 files)."""
        d = self.to_dict()
        d.pop("ranges")
        return d

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def save(self, path: str | os.PathLike) -> Path:
        from rgb2depth.fileio import write_text

        return write_text(path, json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Calibration:
        """Read a record; a missing, malformed or foreign file is a one-line
        :class:`CalibrationError` naming it."""
        path = Path(path)
        if not path.is_file():
            raise CalibrationError(f"{path}: no such int8 calibration file")
        try:
            d = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CalibrationError(f"{path}: not a readable int8 calibration file ({str(e).splitlines()[0]})") from None
        if not isinstance(d, dict) or d.get("format") != CALIBRATION_FORMAT:
            raise CalibrationError(f"{path}: not an rgb2depth int8 calibration file ({CALIBRATION_FORMAT} expected)")
        for key in ("ranges", "model", "plan"):
            if not isinstance(d.get(key), dict):
                raise CalibrationError(f"{path}: int8 calibration file lacks {key!r}")
        return cls(ranges=d["ranges"], model=d["model"], plan=d["plan"], images=d.get("images", {}),
                   settings=d.get("settings", {}), versions=d.get("versions", {}))


def model_key(model) -> dict:
    """What a calibration record is keyed to: the network's name and weights digest."""
    from rgb2depth.export.formats import weights_digest

    return {"name": str(getattr(model, "rgb2depth_name", type(model).__name__)),
            "weights_sha256": weights_digest(model)}


def check_calibration(calibration: Calibration, model, source: str | os.PathLike, remedy: str = "") -> None:
    """Refuse a record made for other weights or other settings (one-line :class:`CalibrationError`)."""
    tail = f"; {remedy}" if remedy else ""
    want = model_key(model)["weights_sha256"]
    got = calibration.model.get("weights_sha256")
    if got != want:
        raise CalibrationError(f"{source}: stale int8 calibration: made for weights {str(got)[:12]}, "
                               f"the model has {want[:12]}{tail}")
    if calibration.settings != SETTINGS:
        raise CalibrationError(f"{source}: int8 calibration made with other settings "
                               f"({json.dumps(calibration.settings)}){tail}")


def default_calibration(model) -> Calibration:
    """The shipped record of the default model, checked against ``model``'s weights."""
    from rgb2depth.paths import shared_data_dir

    path = default_calibration_path()
    remedy = ("give calibration images (predict --int8 --calibrate DIR) or remake it: "
              + DEFAULT_COMMAND.format(data=shared_data_dir() or "DATA"))
    if not path.is_file():
        raise CalibrationError(f"{path}: the default model has no int8 calibration file; {remedy}")
    cal = Calibration.load(path)
    check_calibration(cal, model, path, remedy)
    return cal


__all__ = [
    "DEFAULT_COMMAND", "DEFAULT_COUNT", "SETTINGS", "Calibration", "CalibrationError", "calibration_images",
    "check_calibration", "default_calibration", "default_calibration_path", "images_digest", "model_key",
    "network_input",
]
