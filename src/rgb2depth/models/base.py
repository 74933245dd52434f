"""What every registered depth network tells its users: input, output kind, conversion.

Each model built by :func:`rgb2depth.models.create` carries a :class:`ModelMeta` in
``model.meta`` so that preprocessing and the conversion of the network's output to metres
travel with the model and cannot be mismatched.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch

OutputKind = Literal["metres", "log", "normalized"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ModelMeta:
    """Input and output conventions of one depth network.

    output: ``"metres"`` (depth in metres), ``"log"`` (natural log of metres, Eigen-style), or
    ``"normalized"`` (depth / ``max_depth`` in [0, 1], paper 000 and paper 002 sigmoid outputs).
    input_size: (H, W) the paper trains at; other sizes work (models pad internally).
    output_scale: output size relative to input (1.0 = same size, 0.5 = half, ...); ``None`` when
    the output has a fixed size (fully-connected heads).
    """

    paper: str = ""
    output: OutputKind = "metres"
    max_depth: float = 10.0
    input_size: tuple[int, int] = (240, 320)
    in_channels: int = 3
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    output_scale: float | None = 1.0
    notes: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelMeta:
        d = dict(d)
        d["input_size"] = tuple(d.get("input_size", (240, 320)))
        d["mean"] = tuple(d.get("mean", IMAGENET_MEAN))
        d["std"] = tuple(d.get("std", IMAGENET_STD))
        return cls(**d)


def to_metres(output: torch.Tensor, meta: ModelMeta) -> torch.Tensor:
    """Convert a network output of kind ``meta.output`` to depth in metres."""
    if meta.output == "metres":
        return output
    if meta.output == "log":
        return torch.exp(output)
    if meta.output == "normalized":
        return output * meta.max_depth
    raise ValueError(f"unknown output kind {meta.output!r}")


def from_metres(depth: torch.Tensor, meta: ModelMeta) -> torch.Tensor:
    """Inverse of :func:`to_metres`: express a metric target in the network's output kind.

    Invalid pixels must already be masked by the caller; ``log`` clamps to 1e-3 m so that no
    log of zero can appear.
    """
    if meta.output == "metres":
        return depth
    if meta.output == "log":
        return torch.log(depth.clamp_min(1e-3))
    if meta.output == "normalized":
        return depth / meta.max_depth
    raise ValueError(f"unknown output kind {meta.output!r}")


def camera_scale(meta: ModelMeta, focal: torch.Tensor | float | None) -> torch.Tensor | float:
    """Factor from a network's output to the depth seen by a camera with focal length ``focal``.

    ``focal`` is fx in image widths (fx / width, the same at any resolution). A network that
    predicts depth for a canonical camera (``meta.extra["canonical_focal"]``) sees an object of
    a given image size at ``canonical_focal / focal`` times its real distance, so its output is
    multiplied by ``focal / canonical_focal``. Models without a canonical camera, and unknown
    focal lengths (None or NaN), give 1.
    """
    canon = (meta.extra or {}).get("canonical_focal")
    if canon is None or focal is None:
        return 1.0
    if isinstance(focal, torch.Tensor):
        f = focal.to(torch.float32)
        return torch.where(torch.isfinite(f) & (f > 0), f / float(canon), torch.ones_like(f))
    f = float(focal)
    return f / float(canon) if math.isfinite(f) and f > 0 else 1.0
