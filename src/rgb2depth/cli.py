"""The ``rgb2depth`` command line: one typer app, each sub-command defined beside its code.

Sub-command modules import heavy libraries (torch, cv2, open3d) inside the command function, so
``rgb2depth --help`` stays fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
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


@app.command("models")
def list_models(verbose: bool = typer.Option(False, "--verbose", "-v", help="Show each model's paper and output kind.")) -> None:
    """List the registered networks."""
    from rgb2depth import models

    for name in models.names():
        if not verbose:
            typer.echo(name)
            continue
        fn = models.MODELS.get(name)
        doc = (fn.__doc__ or "").strip().splitlines()
        typer.echo(f"{name:20s} {doc[0] if doc else ''}")


def _register() -> None:
    for name, module, func in COMMANDS:
        app.command(name)(getattr(importlib.import_module(module), func))


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
