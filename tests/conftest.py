"""Shared fixtures: the real-data folder (skips with a reason when absent) and quiet threads."""

from __future__ import annotations

import os

import pytest

# Two xdist workers share two cores: one intra-op thread each avoids oversubscription.
os.environ.setdefault("OMP_NUM_THREADS", "1")

try:
    import torch

    torch.set_num_threads(int(os.environ.get("RGB2DEPTH_TEST_THREADS", "1")))
except ImportError:  # pragma: no cover
    pass

from rgb2depth.paths import shared_data_dir  # noqa: E402

NO_DATA = (
    "real data folder ../shared/data is absent (set RGB2DEPTH_DATA to its path); "
    "this test reads real files from it"
)


@pytest.fixture(scope="session")
def shared_data():
    """Path to ../shared/data; the test is skipped with a clear reason when it is absent."""
    d = shared_data_dir()
    if d is None:
        pytest.skip(NO_DATA)
    return d


def require(path):
    """Skip unless ``path`` exists (one file or folder of the shared data)."""
    if not path.exists():
        pytest.skip(f"{path} is absent from the shared data folder")
    return path


def benchmark_script(name: str):
    """The script ``benchmarks/<name>.py`` imported as a module (the benchmarks are scripts, not a
    package), so tests can call its functions and ``main``."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """An untrained ``unet_realtime`` saved as a model file (seeded): plumbing tests of the
    commands that take ``--model PATH``."""
    from rgb2depth import models
    from rgb2depth.models.io import save_model

    torch.manual_seed(0)
    p = tmp_path_factory.mktemp("model") / "unet.pt"
    save_model(models.create("unet_realtime"), p)
    return p


@pytest.fixture(scope="module")
def small_net(tmp_path_factory):
    """``(net, folder, depth)``: a small fully convolutional network (``c``, seeded) whose input
    size is 48x64, saved as ``folder/m.pt``, and its depth for the 48x64 image ``folder/im.png``
    (every runtime then runs the network at exactly 48x64): export round trips and int8."""
    import dataclasses

    import numpy as np
    from PIL import Image

    from rgb2depth import models
    from rgb2depth.inference.api import load
    from rgb2depth.models.io import save_model

    torch.manual_seed(0)
    net = models.create("c").eval()
    net.meta = dataclasses.replace(net.meta, input_size=(48, 64))
    d = tmp_path_factory.mktemp("small_net")
    save_model(net, d / "m.pt")
    img = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(img).save(d / "im.png")
    return net, d, load(d / "m.pt", threads=1).predict(img)


def folder_dataset(root, n: int = 3, size: tuple[int, int] = (48, 64), depth: float = 2.0, seed: int = 0):
    """A folder dataset of ``n`` random-texture images (``s0``, ``s1``, ...) with constant depth
    ``depth`` metres, written with :class:`rgb2depth.data.folder.FolderWriter`; returns ``root``."""
    import numpy as np

    from rgb2depth.data.folder import FolderWriter

    w = FolderWriter(root)
    rng = np.random.default_rng(seed)
    for i in range(n):
        w.write(f"s{i}", rng.integers(0, 256, (*size, 3), dtype=np.uint8), np.full(size, depth, np.float32))
    return root
