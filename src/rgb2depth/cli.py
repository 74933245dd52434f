"""The ``rgb2depth`` command line: one typer app, each sub-command defined beside its code.

Sub-command modules import heavy libraries (torch, cv2, open3d) inside the command function, so
``rgb2depth --help`` stays fast.
"""

from __future__ import annotations

import importlib
import inspect

import typer
from typer.core import TyperCommand, TyperGroup


def _flags_without_type(params: list) -> list:
    """typer shows a flag's type (``<bool>``) in the help as if the flag took a value; a flag
    takes none, so its type column is left empty (an empty metavar; parsing is unchanged)."""
    for p in params:
        if getattr(p, "is_flag", False) and p.metavar is None:
            p.metavar = ""
    return params


def reflow(text: str | None) -> str | None:
    """A docstring's paragraphs as the terminal should wrap them: typer's rich help keeps the
    docstring's own line breaks after the first paragraph, which the terminal then wraps again
    (lines ending mid-sentence). Blank lines still separate paragraphs; lines starting with
    ``- `` or ``* `` stay list items."""
    if not text:
        return text
    out = []
    for para in inspect.cleandoc(text).split("\n\n"):
        lines = [ln.strip() for ln in para.splitlines()]
        items: list[str] = []
        for ln in lines:
            if items and not ln.startswith(("- ", "* ")):
                items[-1] += " " + ln
            else:
                items.append(ln)
        out.append("\n".join(items))
    return "\n\n".join(out)


class _Command(TyperCommand):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)

    def get_params(self, ctx):  # noqa: D102 - see _flags_without_type
        return _flags_without_type(super().get_params(ctx))


class _Group(TyperGroup):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)

    def get_params(self, ctx):  # noqa: D102 - see _flags_without_type
        return _flags_without_type(super().get_params(ctx))


app = typer.Typer(
    cls=_Group,
    name="rgb2depth",
    help="Single-image depth estimation: predict, train, evaluate, export, reconstruct.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (command name, module, function): the function's signature defines the options.
COMMANDS: list[tuple[str, str, str]] = [
    ("demo", "rgb2depth.demo", "demo"),
    ("predict", "rgb2depth.inference.cli", "predict"),
    ("train", "rgb2depth.training.cli", "train"),
    ("evaluate", "rgb2depth.evaluation.cli", "evaluate"),
    ("report", "rgb2depth.evaluation.cli", "report"),
    ("export", "rgb2depth.export.cli", "export"),
    ("benchmark", "rgb2depth.inference.cli", "benchmark"),
    ("synth", "rgb2depth.synth.cli", "synth"),
    ("reconstruct", "rgb2depth.geometry.cli", "reconstruct"),
    ("stereo", "rgb2depth.data.cli", "stereo"),
    ("serve", "rgb2depth.serve.cli", "serve"),
]


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    """rgb2depth: single-image depth estimation toolkit."""
    if version:
        from rgb2depth import __version__

        typer.echo(__version__)
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()


@app.command("models", cls=_Command)
def list_models(verbose: bool = typer.Option(False, "--verbose", "-v", help="Show each model's description and the trained weights shipped for it.")) -> None:
    """List the registered networks (-v: which have trained weights shipped with the package)."""
    from rgb2depth import models

    shipped = models.shipped_weights() if verbose else {}
    for name in models.names():
        if not verbose:
            typer.echo(name)
            continue
        fn = models.MODELS.get(name)
        doc = (fn.__doc__ or "").strip().splitlines()
        files = shipped.get(name, [])
        weights = ("trained weights shipped: " + ", ".join(
            f"--model default ({f})" if f.name == "default.pt" else f"--model {f}" for f in files)) if files \
            else "no trained weights shipped (random init: train it, or pass a model file)"
        typer.echo(f"{name:20s} {doc[0] if doc else ''}\n{'':20s} {weights}")


def _register() -> None:
    for name, module, func in COMMANDS:
        app.command(name, cls=_Command)(getattr(importlib.import_module(module), func))


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
