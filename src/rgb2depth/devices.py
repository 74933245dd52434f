"""Checking a ``--device`` before anything is loaded onto it.

PyTorch reports an unusable device deep inside the first ``.to(device)`` (an assertion on a
CPU-only build, an invalid-ordinal error for a missing GPU); the commands check the text first
and say in one line what is wrong.
"""

from __future__ import annotations


def check_device(text: str) -> str:
    """``text`` (``cpu``, ``cuda``, ``cuda:N``) if this PyTorch build can use it, else a one-line
    ``ValueError`` saying why (unknown name, no CUDA in the build, no such GPU)."""
    import torch

    t = str(text).strip().lower()
    if t == "cpu":
        return t
    kind, _, index = t.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise ValueError(f"--device {text!r}: expected cpu, cuda or cuda:N")
    if torch.version.cuda is None:
        raise ValueError(f"--device {text}: this PyTorch ({torch.__version__}) is built without CUDA; use --device cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"--device {text}: no CUDA GPU is available on this machine; use --device cpu")
    count = torch.cuda.device_count()
    if index and int(index) >= count:
        raise ValueError(f"--device {text}: there is no GPU {index} ({count} GPU(s): cuda:0..cuda:{count - 1})")
    return t
