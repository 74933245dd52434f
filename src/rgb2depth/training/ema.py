"""An exponential moving average of a network's weights, kept beside the trained network.

With ``train.ema_decay: d`` the trainer keeps ``w_avg <- d * w_avg + (1 - d) * w`` after every
optimiser step, over parameters *and* buffers (BatchNorm running statistics average the same
way, so the averaged network needs no extra pass over the data). Validation, ``best.pt`` and
``model.pt`` then use the averaged network; ``model_unaveraged.pt`` keeps the last weights as
trained, so one run measures what the averaging itself changes.

Why: the final weights of a run carry the noise of its last steps (the default model's
validation moved by 0.04 delta1 between its last two epochs); an average over the last few
thousand steps is a cheap form of ensembling that image-to-depth trainers commonly keep
(the decay ``d`` spans about ``1 / (1 - d)`` steps).

The averaging itself is PyTorch's :class:`torch.optim.swa_utils.AveragedModel` with
:func:`~torch.optim.swa_utils.get_ema_multi_avg_fn`; this module adds what the trainer needs
around it: a weights_only checkpoint entry for exact resumption and a range check.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

#: The file beside ``model.pt`` holding the last weights without averaging.
UNAVERAGED_NAME = "model_unaveraged.pt"


class WeightAverage:
    """The moving average of ``model``'s weights; ``.module`` is a network of the same class
    (with the same ``meta``), usable wherever the trained one is."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        decay = float(decay)
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"train.ema_decay must be in [0, 1), got {decay!r}")
        self.decay = decay
        self._avg = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        self._avg.eval()

    @property
    def module(self) -> nn.Module:
        return self._avg.module

    @property
    def updates(self) -> int:
        return int(self._avg.n_averaged.item())

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the current weights of ``model`` in (the first call copies them)."""
        self._avg.update_parameters(model)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates,
                "state_dict": {k: v.detach().clone() for k, v in self.module.state_dict().items()}}

    def load_state_dict(self, state: dict, source: str) -> None:
        """Restore a :meth:`state_dict` (from a checkpoint named ``source``)."""
        from rgb2depth.models.io import load_weights

        if float(state.get("decay", -1)) != self.decay:
            raise ValueError(f"{source}: the checkpoint averaged weights with decay "
                             f"{state.get('decay')!r}, the config says train.ema_decay = {self.decay}")
        load_weights(self.module, state["state_dict"], source)
        self._avg.n_averaged.fill_(int(state["updates"]))

