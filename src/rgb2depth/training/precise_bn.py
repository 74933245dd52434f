"""Precise BatchNorm statistics: recompute a trained network's running means and variances.

During training a BatchNorm layer keeps ``running = (1 - m) * running + m * batch_statistic``
(PyTorch's default momentum ``m`` is 0.1, so the stored statistics are an average over roughly
the last ten batches). With small batches drawn from a mix of domains (the default model's batch
of 8 mixes real photographs and rendered rooms), the statistics a network is saved with depend on
which few batches happened to come last, and the network's output scale moves with them.
"Rethinking 'Batch' in BatchNorm" (Wu & Johnson, 2021) calls the remedy *precise BN*: after
training, reset the statistics and average them with equal weight over many batches of the
training distribution (the same augmentation, the same batch size), with the weights fixed.

The averaging itself is PyTorch's :func:`torch.optim.swa_utils.update_bn` (reset, momentum
``None`` = cumulative average, forward passes in training mode); this module adds what a
reproducible recipe needs around it: which samples (a seeded draw from the training set, without
touching the global random state, so an exactly resumed run stays exact) and a copy, so the
network being trained keeps its own statistics.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch.optim.swa_utils import update_bn

from rgb2depth.training.data import collate


def draw_seed(config_seed: int, steps: int) -> int:
    """Seed of the batch draw for a network trained ``steps`` steps under ``config_seed``: the
    trainer's ``train.precise_bn`` and ``benchmarks/precise_bn.py`` both use it, so the script
    applied to a run trained without the option writes the file the option would have."""
    return int(config_seed) + int(steps)


def sample_batches(dataset: Sequence[dict], batches: int, batch_size: int, seed: int,
                   channels_last: bool = False, device: str | torch.device = "cpu") -> Iterator[torch.Tensor]:
    """``batches`` image batches of ``batch_size`` samples of ``dataset`` in a seeded random
    order (without replacement while the set lasts; a set smaller than ``batches * batch_size``
    is drawn again in a new order)."""
    if batches < 1 or batch_size < 1:
        raise ValueError(f"precise BN needs at least one batch of at least one sample "
                         f"(got {batches} batches of {batch_size})")
    n = len(dataset)
    if n == 0:
        raise ValueError("precise BN: the dataset is empty")
    rng = np.random.default_rng(seed)
    need = batches * batch_size
    order = np.concatenate([rng.permutation(n) for _ in range(-(-need // n))])[:need]
    for b in range(batches):
        idx = order[b * batch_size:(b + 1) * batch_size]
        image = collate([dataset[int(i)] for i in idx])["image"].to(device)
        yield image.contiguous(memory_format=torch.channels_last) if channels_last else image


def recompute_bn_stats(model: nn.Module, dataset: Sequence[dict], batches: int, batch_size: int,
                       seed: int = 0, channels_last: bool = False, progress: bool = False) -> nn.Module:
    """A copy of ``model`` (in eval mode) whose BatchNorm running statistics are the equal-weight
    average over ``batches`` training batches; ``model`` itself is left unchanged. Weights,
    ``meta`` and every other attribute are copied as they are. A network without BatchNorm
    draws no batch (``update_bn`` returns before reading any)."""
    out = copy.deepcopy(model)
    device = next(out.parameters()).device
    it = sample_batches(dataset, batches, batch_size, seed, channels_last=channels_last, device=device)
    if progress:
        from rgb2depth.progress import progress_bar

        it = progress_bar(it, total=batches, desc="precise BN statistics", leave=False)
    with torch.no_grad():
        update_bn(it, out)
    return out.eval()
