"""``rgb2depth serve`` (registered by :mod:`rgb2depth.cli`): the page and API under uvicorn."""

from __future__ import annotations

import typer

from rgb2depth.serve.service import DEFAULT_MAX_BATCH, DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_BYTES


def serve(
    model: str = typer.Option("default", "--model", "-m", help="'default' (the shipped weights), a model file/checkpoint, a file written by rgb2depth export (.onnx, TorchScript), or a registry name (untrained)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface; the API has no authentication)."),
    port: int = typer.Option(7860, "--port", "-p", help="TCP port."),
    max_upload_mb: float = typer.Option(DEFAULT_MAX_UPLOAD_BYTES / 2**20, "--max-upload-mb", help="Refuse request bodies above this many MiB (HTTP 413)."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", help="Refuse images with more pixels than this (HTTP 400; decompression-bomb guard)."),
    max_batch: int = typer.Option(DEFAULT_MAX_BATCH, "--max-batch", help="Most images the network runs at once: requests arriving together share a forward pass (1 = one at a time)."),
    backend: str = typer.Option(None, "--backend", help="torch or onnxruntime (default: onnxruntime for an .onnx model, else torch).", show_default=False),
    threads: int = typer.Option(0, "--threads", help="Intra-op threads of the network (0 = the library default)."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level: critical, error, warning, info, debug."),
) -> None:
    """Serve a depth web page and an HTTP API until Ctrl-C.

    The page takes a dropped photo and shows its depth, colour bar, 3D point cloud and downloads;
    the API answers POST /api/predict, GET /api/model and GET /api/health."""
    import uvicorn

    from rgb2depth.inference.api import ModelLoadError
    from rgb2depth.serve.app import create_app

    if max_upload_mb <= 0 or max_pixels <= 0 or max_batch < 1:
        typer.echo("error: --max-upload-mb, --max-pixels and --max-batch must be positive", err=True)
        raise typer.Exit(2)
    try:
        app = create_app(model, max_upload_bytes=int(max_upload_mb * 2**20), max_pixels=max_pixels,
                         max_batch=max_batch, backend=backend, threads=threads or None)
    except (ModelLoadError, FileNotFoundError, ValueError) as e:
        typer.echo(f"error: {str(e).splitlines()[0]}", err=True)
        raise typer.Exit(2) from None
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"rgb2depth serve: model {app.state.service.predictor!r}; open http://{shown}:{port}/", err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
