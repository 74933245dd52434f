"""Where things live: the shared real-data folder and the packaged weights."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
WEIGHTS_DIR = PACKAGE_DIR / "weights"


def shared_data_dir() -> Path | None:
    """The real-data folder (``../shared/data`` beside a checkout), or None when absent.

    ``RGB2DEPTH_DATA`` overrides the search. A user's installation normally has none: every
    caller must cope with ``None``.
    """
    env = os.environ.get("RGB2DEPTH_DATA")
    candidates = [Path(env)] if env else []
    # src/rgb2depth -> repo root -> ../shared/data
    repo_root = PACKAGE_DIR.parent.parent
    candidates += [repo_root.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for c in candidates:
        if c.is_dir() and (c / "README.md").exists():
            return c.resolve()
    return None


def cache_dir() -> Path:
    """Folder for generated, re-creatable data (pre-rendered synthetic sets, decoded caches).

    ``RGB2DEPTH_CACHE`` overrides it; the default is ``~/.cache/rgb2depth``. Configs refer to it
    as ``${cache}``.
    """
    env = os.environ.get("RGB2DEPTH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "rgb2depth"
