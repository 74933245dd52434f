"""ImageNet backbones written in this project, state_dict-compatible with torchvision.

Every backbone here names its parameters exactly as torchvision does (``conv1``, ``bn1``,
``layer1.0.conv1`` ... ``fc`` for ResNets; ``features.N`` / ``classifier.N`` for VGG and AlexNet),
so an ImageNet state_dict published for torchvision loads with ``strict=True``. The depth
networks of papers 001, 003 and 004 are built on them:

- :func:`resnet18`, :func:`resnet50` (He et al. 2016; paper 001 Figs. 3-4, paper 003 Sec. 3 and
  Fig. 1, paper 004 Sec. 5.4),
- :func:`vgg16` (Simonyan and Zisserman 2015; paper 003 Table 1),
- :func:`alexnet` (Krizhevsky et al. 2012, torchvision's single-GPU variant; paper 001 Fig. 3,
  paper 003 Table 1).

``pretrained=`` takes a path to a state_dict file (``torch.save(model.state_dict())`` of the
torchvision model, or the ``.pth`` torchvision publishes), or ``True`` to download torchvision's
published ImageNet weights with :func:`torch.hub.load_state_dict_from_url` (needs network
access; never used in tests). Either way the file is read with ``weights_only=True``, so a
tampered file (in the hub cache, ``$TORCH_HOME/hub/checkpoints``, or elsewhere) cannot run
code; a failed download is a one-line error naming the URL. Model files never come here:
rebuilding a saved network skips its pretrained options (``models.create(...,
load_pretrained=False)``). Backbones built with ``include_top=False`` have no classifier
head; the head's keys in the file are then skipped, every other key must match exactly.

Feature extraction: each backbone has ``forward_features(x, return_stages=False)`` returning the
last feature map, or with ``return_stages=True`` the list of stage outputs (one per stride),
and ``stage_channels`` / ``stage_strides`` describing that list.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn as nn

from rgb2depth.fileio import load_failure, torch_load

PretrainedArg = bool | str | os.PathLike | None


def load_pretrained(
    module: nn.Module,
    pretrained: PretrainedArg,
    url: str,
    head_prefixes: Iterable[str] = (),
) -> nn.Module:
    """Load ImageNet weights into ``module`` from a path, or from ``url`` when ``pretrained`` is True.

    Keys starting with one of ``head_prefixes`` are skipped when the module has no such keys
    (a backbone built without its classifier head); every other key must match (strict).
    Errors name the file and the problem in one line.
    """
    if pretrained is None or pretrained is False:
        return module
    if pretrained is True:
        source = url
        try:
            state = torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=True, weights_only=True)
        except OSError as e:  # URLError, HTTPError, socket errors, an unwritable cache folder
            why = getattr(e, "reason", None) or e.strerror or e
            raise ValueError(f"{url}: cannot download the pretrained weights ({why}); pass a "
                             "local state_dict file as pretrained=PATH instead") from None
        except Exception as e:  # noqa: BLE001 - an unreadable or tampered cached file
            raise ValueError(f"{url}: the downloaded or cached weights ({torch.hub.get_dir()}/checkpoints) "
                             f"are not a plain state_dict ({load_failure(e)})") from None
    else:
        source = os.fspath(pretrained)
        state = torch_load(source, "pretrained weights file")
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{source}: expected a state_dict (dict of tensors), got {type(state).__name__}")
    own = module.state_dict()
    heads = tuple(head_prefixes)
    state = {
        k: v
        for k, v in state.items()
        if not (heads and k.startswith(heads) and k not in own)
    }
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(
            f"{source}: state_dict keys do not match {type(module).__name__} "
            f"(missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''})"
        )
    bad = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if bad:
        k = bad[0]
        raise ValueError(
            f"{source}: shape mismatch for {k}: file {tuple(state[k].shape)}, "
            f"model {tuple(own[k].shape)} ({len(bad)} mismatching keys)"
        )
    module.load_state_dict(state, strict=True)
    return module


class AdaptiveAvgPool2d(nn.AdaptiveAvgPool2d):
    """``nn.AdaptiveAvgPool2d`` that also exports to ONNX when the sizes do not divide.

    The ONNX exporter only handles adaptive pooling whose output size divides the input size
    (AlexNet's 6x6 pool on a small image does not); the same bins written as two averaging
    matrices, ``P_h @ x @ P_w^T``, are exact and export as MatMul. No parameters, so state_dict
    keys are unchanged.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        oh, ow = (self.output_size, self.output_size) if isinstance(self.output_size, int) else self.output_size
        h, w = x.shape[-2:]
        if (h % oh == 0 and w % ow == 0) or not torch.jit.is_tracing():
            return super().forward(x)
        return _pool_matrix(oh, h, x) @ x @ _pool_matrix(ow, w, x).t()


def _pool_matrix(out: int, size: int, like: torch.Tensor) -> torch.Tensor:
    """(out, size) matrix averaging PyTorch's adaptive bins [floor(i*size/out), ceil((i+1)*size/out))."""
    # Built in numpy, so that tracing records one constant: indexed assignment on a tensor
    # becomes index_put nodes, on which torch's ONNX exporter crashed (SIGFPE) for small maps.
    m = np.zeros((out, int(size)), dtype=np.float64)
    for i in range(out):
        a, b = (i * int(size)) // out, -(-(i + 1) * int(size) // out)
        m[i, a:b] = 1.0 / (b - a)
    return torch.from_numpy(m).to(dtype=like.dtype, device=like.device)


class SequentialBackbone(nn.Module):
    """Shared by VGG and AlexNet: a ``features`` Sequential, ``avgpool`` and ``classifier``.

    Subclasses set ``features``, ``avgpool``, ``classifier`` (when ``include_top``),
    ``include_top`` and ``stage_indices`` (indices into ``features`` whose outputs are stages).
    """

    features: nn.Sequential
    stage_indices: tuple[int, ...]
    include_top: bool

    def forward_features(
        self, x: torch.Tensor, return_stages: bool = False
    ) -> torch.Tensor | list[torch.Tensor]:
        """Output of ``features``, or the outputs at ``stage_indices`` (one per stride)."""
        if not return_stages:
            return self.features(x)
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.stage_indices:
                out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.include_top:
            raise RuntimeError(
                f"this {type(self).__name__} was built with include_top=False; use forward_features"
            )
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


from rgb2depth.models.backbones.alexnet import AlexNet, alexnet  # noqa: E402
from rgb2depth.models.backbones.resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet50  # noqa: E402
from rgb2depth.models.backbones.vgg import VGG, vgg16  # noqa: E402

__all__ = [
    "VGG",
    "AlexNet",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "alexnet",
    "load_pretrained",
    "resnet18",
    "resnet50",
    "vgg16",
]

