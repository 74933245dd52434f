"""``rgb2depth export``: write a model as ONNX or TorchScript, optionally verify it."""

from __future__ import annotations

from pathlib import Path

import typer


def export(
    model: str = typer.Option("default", "--model", "-m", help="'default', a model file/checkpoint, or a registry name (untrained)."),
    format: str = typer.Option("onnx", "--format", "-f", help="onnx or torchscript."),
    output: Path = typer.Option(..., "--output", "-o", help="File to write (.onnx / .pt)."),
    size: str = typer.Option(None, "--size", help="Input H x W the graph is traced at (default: the model's input size). The exported graph is specialised to it; the batch size stays free in ONNX."),
    verify: bool = typer.Option(False, "--verify", help="Run PyTorch and the exported file on the same random input and report the max abs difference."),
    tolerance: float = typer.Option(1e-3, "--tolerance", help="With --verify: fail (exit 1) when the max abs difference in metres exceeds this."),
) -> None:
    """Export a depth network (normalisation included; meta stored in the file)."""
    import warnings

    from rgb2depth.export.formats import export_onnx, export_torchscript, verify_export
    from rgb2depth.fileio import OutputError, ensure_dir
    from rgb2depth.inference.api import ModelLoadError, _resolve
    from rgb2depth.inference.profiling import parse_size

    fmt = format.lower()
    if fmt not in ("onnx", "torchscript"):
        typer.echo(f"error: --format must be onnx or torchscript, got {format!r}", err=True)
        raise typer.Exit(2)
    try:
        if output.is_dir():
            raise OutputError(f"{output}: is a folder; give the file to write (-o model.{'onnx' if fmt == 'onnx' else 'pt'})")
        ensure_dir(output.parent, "folder of -o")
    except OutputError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            net, onnx_path, name, _ = _resolve(model)
            hw = parse_size(size) if size else None
        except (ModelLoadError, FileNotFoundError, ValueError) as e:
            typer.echo(f"error: {str(e).splitlines()[0]}", err=True)
            raise typer.Exit(2) from None
    for w in caught:
        if issubclass(w.category, UserWarning):
            typer.echo(f"warning: {w.message}", err=True)
    if net is None:
        typer.echo(f"error: {onnx_path}: already an ONNX file; give a model file or name", err=True)
        raise typer.Exit(2)
    try:
        if fmt == "onnx":
            path = export_onnx(net, output, hw)
        else:
            path = export_torchscript(net, output, hw)
    except Exception as e:  # noqa: BLE001 - reported as one line
        typer.echo(f"error: export of {name} failed: {str(e).splitlines()[0]}", err=True)
        raise typer.Exit(1) from None
    h, w = hw or tuple(net.meta.input_size)
    typer.echo(f"wrote {path} ({fmt}, input N x {net.meta.in_channels} x {h} x {w} in [0,1], "
               f"output {net.meta.output}, {path.stat().st_size / 1e6:.1f} MB)")
    if verify:
        r = verify_export(net, path, fmt, hw)
        ok = r["max_abs_diff_m"] <= tolerance
        typer.echo(f"verify: max abs difference PyTorch vs {fmt} = {r['max_abs_diff_m']:.3g} m "
                   f"(raw output {r['max_abs_diff_raw']:.3g}; batch {r['batch']} at {h}x{w}; "
                   f"depths up to {r['max_depth_m']:.2f} m) -> {'OK' if ok else 'FAILED'} (tolerance {tolerance:g} m)")
        if not ok:
            raise typer.Exit(1)
