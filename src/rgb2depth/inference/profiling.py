"""Speed and size measurements: paper 000's timing protocol, parameter and MAC counts.

Paper 000 Section 4.2.2 times inference by feeding a fresh random tensor to the network in
each iteration, first 100 times to warm up, then averaging the next iterations (10 in the
paper). :func:`time_calls` follows it (warm-up count and timed iterations configurable) and
reports median and minimum as well as the mean, because on a shared CPU the median is the
stable figure. MACs are counted with PyTorch's own ``torch.utils.flop_counter.FlopCounterMode``
(one multiply-accumulate = 2 FLOPs).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def count_parameters(model) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def count_macs(model, height: int, width: int, batch: int = 1) -> int:
    """Multiply-accumulates of one forward pass of ``batch`` images of ``height`` x ``width``."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(batch, model.meta.in_channels, height, width)
    was_training = model.training
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(x)
    model.train(was_training)
    return int(counter.get_total_flops() // 2)


def device_synchronizer(device=None) -> Callable[[], None]:
    """A function that waits for the work queued on ``device`` (a ``torch.device``, its name
    such as ``"cuda:0"``, or None for the CPU): ``torch.cuda.synchronize`` / ``torch.mps.
    synchronize``; a no-op for the CPU and for other backends (an ONNX Runtime session returns
    only when its outputs are ready)."""
    kind = getattr(device, "type", None) or (str(device).split(":")[0] if device is not None else "cpu")
    if kind == "cuda":
        import torch

        return lambda: torch.cuda.synchronize(device)
    if kind == "mps":
        import torch

        return torch.mps.synchronize
    return lambda: None


def time_calls(fn: Callable[[int], object], warmup: int = 100, iters: int = 50,
               setup: Callable[[int], object] | None = None, device=None) -> dict:
    """Time ``fn(arg)``: ``warmup`` untimed calls, then ``iters`` timed ones.

    ``setup(i)`` (untimed) makes the argument of call ``i`` (e.g. a fresh random tensor, as in
    paper 000); without it ``fn`` gets ``i``. Returns milliseconds: median, min, mean, all.
    ``device``: where ``fn`` computes. CUDA and MPS kernels run asynchronously, so the device is
    synchronised before the clock starts (the setup's copies are not counted) and before it is
    read (the call's kernels are).
    """
    sync = device_synchronizer(device)
    times = []
    for i in range(warmup + iters):
        arg = setup(i) if setup is not None else i
        sync()
        t0 = time.perf_counter()
        fn(arg)
        sync()
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt * 1000.0)
    return {
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "mean_ms": statistics.fmean(times),
        "times_ms": times,
        "warmup": warmup,
        "iters": iters,
    }


def parse_size(text: str) -> tuple[int, int]:
    """``"240x320"`` (H x W) -> (240, 320)."""
    try:
        h, w = (int(t) for t in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise ValueError(f"size must be HxW (e.g. 240x320), got {text!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, got {text!r}")
    return h, w
