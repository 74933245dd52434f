"""``rgb2depth train``: train a network from a YAML config (see configs/README.md).

Single process::

    rgb2depth train --config configs/default_unet_realtime.yaml train.epochs=5 data.num_workers=1

Distributed (DDP; gloo on CPU, NCCL on GPU), either form::

    torchrun --nproc_per_node=2 -m rgb2depth train --config C
    torchrun --nproc_per_node=2 --no-python rgb2depth train --config C
"""

from __future__ import annotations

from pathlib import Path

import typer


def train(
    config: Path = typer.Option(..., "--config", "-c", help="YAML experiment config (configs/*.yaml)."),
    overrides: list[str] = typer.Argument(None, help="key=value overrides, e.g. train.epochs=3 optim.lr=1e-3"),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUTPUT_DIR/checkpoints/last.pt (exactly)."),
    resume_from: Path = typer.Option(None, "--resume-from", help="Continue from this checkpoint file."),
    output_dir: Path = typer.Option(None, "--output-dir", "-o", help="Where checkpoints/logs go (overrides output_dir)."),
    device: str = typer.Option(None, "--device", help="cpu or cuda[:N] (default: cuda when available)."),
    print_config: bool = typer.Option(False, "--print-config", help="Print the resolved config and exit."),
) -> None:
    """Train a depth network from a config: checkpoints, metrics.jsonl, TensorBoard, model.pt."""
    from rgb2depth.training.config import ConfigError, dump, load_config

    ov = list(overrides or [])
    if output_dir is not None:
        ov.append(f"output_dir={output_dir}")
    try:
        cfg = load_config(config, ov)
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    if print_config:
        typer.echo(dump(cfg))
        return
    from rgb2depth.training.trainer import NonFiniteLossError, Trainer

    try:
        Trainer(cfg, resume=str(resume_from) if resume_from else resume, device=device).run()
    except NonFiniteLossError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(3) from None
    except (FileNotFoundError, ValueError, KeyError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        typer.echo(f"error: {msg}", err=True)
        raise typer.Exit(2) from None
