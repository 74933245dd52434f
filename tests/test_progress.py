"""Progress bars redraw often in a terminal and rarely in a log (rgb2depth.progress)."""

from __future__ import annotations

import io
import sys
import time

from rgb2depth import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_line_per_interval_and_a_terminal_the_usual_redraws(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    assert not progress.interactive()
    bar = progress.progress_bar(range(40), file=log, desc="work")
    assert bar.mininterval == progress.LOG_INTERVAL_S
    for _ in bar:
        time.sleep(0.005)  # 0.2 s in all: many redraws at tqdm's 0.1 s default, none at 30 s
    assert log.getvalue().count("work") == 2  # the first draw and the final one

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert progress.interactive()
    bar = progress.progress_bar(range(40), file=terminal, desc="work")
    assert bar.mininterval == 0.1
    for _ in bar:
        time.sleep(0.005)
    assert terminal.getvalue().count("work") > 2
    assert progress.progress_bar(range(2), file=terminal, mininterval=5.0).mininterval == 5.0  # caller wins


def test_write_line_goes_to_stderr(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    progress.write_line("error: x.png: not an image")
    assert err.getvalue() == "error: x.png: not an image\n"
