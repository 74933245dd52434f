"""Progress bars: every long loop in rgb2depth shows one through :func:`progress_bar`.

One place decides how a bar behaves. In a terminal it redraws as tqdm usually does; when stderr is
a file or a pipe (a training run under ``nohup``, CI, a redirected benchmark) it redraws at most
every :data:`LOG_INTERVAL_S` seconds, so a log gets a line per half minute instead of ten per
second. tqdm rather than rich: tqdm's bars degrade to plain lines in a log, and ``tqdm.write``
keeps error lines from garbling a running bar.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from tqdm import tqdm

#: Seconds between redraws when stderr is not a terminal.
LOG_INTERVAL_S = 30.0


def interactive() -> bool:
    """Whether stderr is a terminal (a person watching), not a log file or pipe."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def progress_bar(iterable: Iterable | None = None, **kwargs) -> tqdm:
    """A tqdm bar with the project's defaults (redraw interval by :func:`interactive`, width
    following the terminal); every tqdm keyword works and wins over the defaults."""
    kwargs.setdefault("mininterval", 0.1 if interactive() else LOG_INTERVAL_S)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)


def write_line(message: str) -> None:
    """``message`` on stderr without breaking a progress bar that is being drawn."""
    tqdm.write(message, file=sys.stderr)
