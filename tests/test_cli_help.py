"""The command line's help text as a user reads it (rich rendering), and ``models -v``."""

from __future__ import annotations

import re

import pytest
import typer
from rich.text import Text
from typer.testing import CliRunner

from rgb2depth.cli import app

WIDE = {"COLUMNS": "400", "TERMINAL_WIDTH": "400"}


def commands():
    """(path, click command) of the app and every sub-command."""
    root = typer.main.get_command(app)
    yield ["rgb2depth"], root
    for name, cmd in root.commands.items():
        yield ["rgb2depth", name], cmd


def help_of(*args: str) -> str:
    r = CliRunner().invoke(app, [*args, "--help"], env=WIDE)
    assert r.exit_code == 0, r.output
    return r.output


def test_no_help_text_loses_characters_to_rich_markup():
    """typer renders help with rich markup, where ``[t]`` is a style tag and vanishes: every
    help string must render to itself (a literal bracket is written ``\\[``)."""
    for path, cmd in commands():
        for label, text in [("help", cmd.help or "")] + [(p.name, getattr(p, "help", None) or "") for p in cmd.params]:
            assert Text.from_markup(text).plain == text.replace("\\[", "["), (path, label)


def test_docstring_paragraphs_are_reflowed_not_broken_mid_sentence():
    """A command's help paragraphs are wrapped by the terminal, not at the docstring's own line
    ends: at 400 columns each paragraph of predict's help is one line."""
    from rgb2depth.cli import reflow

    assert reflow("First\n    line.\n\n    Second para\n    goes on.\n    - item one\n    - item\n      two") == \
        "First line.\n\nSecond para goes on.\n- item one\n- item two"
    out = help_of("predict")
    assert "(see --save). Each input that cannot be used gets a one-line error; the others are still " \
           "processed; the exit code is 1 when any input failed, 2 for a usage or model error." in out
    for path, cmd in commands():
        assert cmd.help == reflow(cmd.help), path


def test_smooth_formula_is_shown_whole():
    out = help_of("predict")
    assert "depth[t] = a*depth[t-1] + (1-a)*prediction[t], a in [0,1); 0 = off." in out


def test_flags_show_no_value_type():
    """A flag takes no value, so no ``<bool>``; options with a value keep their type."""
    for path, _ in commands():
        out = help_of(*path[1:])
        assert "<bool>" not in out, path
    out = help_of("predict")
    row = next(ln for ln in out.splitlines() if "--colorbar" in ln)
    assert re.search(r"--no-colorbar\s+Append a colour bar", row), row
    assert "<float>" in next(ln for ln in out.splitlines() if "--smooth" in ln)


def test_models_verbose_says_which_have_trained_weights():
    """Each network name, then whether trained weights ship for it: exactly the networks named by
    the model files in rgb2depth/weights (read here from the files themselves)."""
    import torch

    from rgb2depth import models
    from rgb2depth.paths import WEIGHTS_DIR

    shipped = {}
    for f in sorted(WEIGHTS_DIR.glob("*.pt")):
        rec = torch.load(f, map_location="cpu", weights_only=True)
        shipped.setdefault(rec["name"], []).append(f)
    if not shipped:
        pytest.skip("no trained weights in this checkout")
    r = CliRunner().invoke(app, ["models", "-v"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    names = models.names()
    assert [ln.split()[0] for ln in lines[::2]] == names
    for name, weights in zip(names, lines[1::2], strict=True):
        if name in shipped:
            assert weights.strip().startswith("trained weights shipped: --model "), weights
            for f in shipped[name]:  # default.pt is what --model default loads; others by path
                assert (f"--model default ({f})" if f.name == "default.pt" else f"--model {f}") in weights
        else:
            assert weights.strip() == "no trained weights shipped (random init: train it, or pass a model file)"


def test_negative_camera_index_is_a_usage_error(tmp_path):
    r = CliRunner().invoke(app, ["predict", "--camera", "-1", "-o", str(tmp_path)])
    assert r.exit_code == 2
    assert r.output.strip() == "error: --camera must be a camera index >= 0, got -1"
