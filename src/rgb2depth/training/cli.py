"""``rgb2depth train``: train a network from a YAML config (see configs/README.md).

Single process::

    rgb2depth train --config configs/default_unet_realtime.yaml train.epochs=5 data.num_workers=1

Distributed (DDP; gloo on CPU, NCCL on GPU), either form::

    torchrun --nproc_per_node=2 -m rgb2depth train --config C
    torchrun --nproc_per_node=2 --no-python rgb2depth train --config C

Exit codes: 0 done; 1 an output could not be written (a full disk, ...); 2 a wrong config,
override, option, device, or an unusable input (data, model.init, checkpoint); 3 training
diverged (non-finite loss or gradient, an overflowing optimiser step). Every error is one line
on stderr.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer


def _fail(message: object, code: int) -> typer.Exit:
    """Print ``message``'s first line as the error and return the Exit to raise."""
    text = str(message).strip()
    typer.echo(f"error: {text.splitlines()[0] if text else type(message).__name__}", err=True)
    return typer.Exit(code)


def train(
    config: Path = typer.Option(None, "--config", "-c", help="YAML experiment config (configs/*.yaml); may also be given as the first argument.", show_default=False),
    overrides: list[str] = typer.Argument(None, metavar="CONFIG.yaml KEY=VALUE", help="The config (or --config) then key=value overrides, e.g. configs/paper000_small.yaml train.epochs=3 optim.lr=1e-3", show_default=False),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUTPUT_DIR/checkpoints/last.pt (exactly)."),
    resume_from: Path = typer.Option(None, "--resume-from", help="Continue from this checkpoint file."),
    output_dir: Path = typer.Option(None, "--output-dir", "-o", help="Where checkpoints/logs go (overrides output_dir)."),
    device: str = typer.Option(None, "--device", help="cpu or cuda[:N] (default: cuda when available)."),
    print_config: bool = typer.Option(False, "--print-config", help="Print the resolved config and exit."),
) -> None:
    """Train a depth network from a config: checkpoints, metrics.jsonl, TensorBoard, model.pt."""
    from rgb2depth.training.config import ConfigError, check_options, dump, load_config

    ov = list(overrides or [])
    if config is None and ov and "=" not in ov[0] and ov[0].endswith((".yaml", ".yml")):
        config = Path(ov.pop(0))  # `rgb2depth train configs/x.yaml`, the way most users type it
    if config is None:
        raise _fail("no config: rgb2depth train CONFIG.yaml [key=value ...] (or --config CONFIG.yaml)", 2)
    if output_dir is not None:
        ov.append(f"output_dir={output_dir}")
    try:
        cfg = load_config(config, ov)
    except ConfigError as e:
        raise _fail(e, 2) from None
    if print_config:
        typer.echo(dump(cfg))
        return
    from rgb2depth.devices import check_device
    from rgb2depth.fileio import OutputError, ensure_dir

    try:
        check_options(cfg, str(config))
        if device is not None:
            device = check_device(device)
            if device == "cuda":  # one GPU per process: the one torchrun assigned
                device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
        ensure_dir(cfg["output_dir"], "output folder (output_dir)")
    except (ConfigError, ValueError, OutputError) as e:
        raise _fail(e, 2) from None
    from rgb2depth.training.trainer import NonFiniteLossError, Trainer

    try:
        Trainer(cfg, resume=str(resume_from) if resume_from else resume, device=device).run()
    except NonFiniteLossError as e:
        raise _fail(e, 3) from None
    except ConfigError as e:
        raise _fail(f"{config}: {e}", 2) from None
    except OutputError as e:  # a checkpoint, model or log that could not be written
        raise _fail(e, 1) from None
    except KeyError as e:  # an unknown registry name: the registry's message is its argument
        raise _fail(e.args[0] if e.args else e, 2) from None
    except (OSError, ValueError) as e:  # unreadable data / model.init / checkpoint
        raise _fail(e, 2) from None
