"""``rgb2depth export``: write a model as ONNX (float32 or int8) or TorchScript, optionally verify it."""

from __future__ import annotations

from pathlib import Path

import typer


def _fail(msg: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {msg}", err=True)
    return typer.Exit(code)


def export(
    model: str = typer.Option("default", "--model", "-m", help="'default', a model file/checkpoint, or a registry name (untrained)."),
    format: str = typer.Option("onnx", "--format", "-f", help="onnx or torchscript."),
    output: Path = typer.Option(..., "--output", "-o", help="File to write (.onnx / .pt)."),
    size: str = typer.Option(None, "--size", help="Input H x W the graph is traced at (default: the model's input size). The exported graph is specialised to it; the batch size stays free in ONNX."),
    verify: bool = typer.Option(False, "--verify", help="Run PyTorch and the exported file on the same random input and report the max abs difference; with --int8, report the depth difference int8 vs float32 on the calibration folder's images that were not calibrated on."),
    tolerance: float = typer.Option(1e-3, "--tolerance", help="With --verify: fail (exit 1) when the max abs difference in metres exceeds this (float32 exports)."),
    int8: bool = typer.Option(False, "--int8", help="ONNX only: static int8 quantisation (ONNX Runtime QDQ, int8 weights per channel, uint8 activations), calibrated on --calibrate."),
    calibrate: Path = typer.Option(None, "--calibrate", help="With --int8: a folder of real images as varied as the ones the model will see (scenes, depth ranges, lighting; frames of one scene clip the activations of others), searched recursively.", show_default=False),
    calibrate_count: int = typer.Option(32, "--calibrate-count", help="With --int8: how many of the folder's images to calibrate on (spread evenly over the sorted list)."),
    int8_tolerance: float = typer.Option(0.05, "--int8-tolerance", help="With --int8 --verify: fail (exit 1) when the median relative depth difference int8 vs float32 exceeds this."),
    save_calibration: Path = typer.Option(None, "--save-calibration", help="With --int8: also write the calibration record (activation ranges, keyed to the weights) as JSON, from which rgb2depth makes int8 models at any input size.", show_default=False),
) -> None:
    """Export a depth network (normalisation included; meta stored in the file)."""
    import warnings

    from rgb2depth.export.calibration import CalibrationError, calibration_images
    from rgb2depth.export.formats import export_onnx, export_torchscript, verify_export
    from rgb2depth.fileio import OutputError, ensure_dir
    from rgb2depth.inference.profiling import parse_size
    from rgb2depth.inference.resolve import ModelLoadError, resolve_model

    fmt = format.lower()
    if fmt not in ("onnx", "torchscript"):
        raise _fail(f"--format must be onnx or torchscript, got {format!r}")
    if int8 and fmt != "onnx":
        raise _fail("--int8 needs --format onnx")
    if int8 and calibrate is None:
        raise _fail("--int8 needs --calibrate DIR: a folder of real images to calibrate on")
    if not int8 and (calibrate is not None or save_calibration is not None):
        raise _fail("--calibrate and --save-calibration go with --int8")
    try:
        if output.is_dir():
            raise OutputError(f"{output}: is a folder; give the file to write (-o model.{'onnx' if fmt == 'onnx' else 'pt'})")
        ensure_dir(output.parent, "folder of -o")
        chosen, rest = calibration_images(calibrate, calibrate_count) if int8 else ([], [])
    except (OutputError, CalibrationError) as e:
        raise _fail(str(e)) from None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            r = resolve_model(model)
            hw = parse_size(size) if size else None
        except (ModelLoadError, FileNotFoundError, ValueError) as e:
            raise _fail(str(e).splitlines()[0]) from None
    for w in caught:
        if issubclass(w.category, UserWarning):
            typer.echo(f"warning: {w.message}", err=True)
    if r.model is None:
        raise _fail(f"{r.onnx_path or r.torchscript_path}: already an exported file; give a model file or name")
    net = r.model
    h, w = hw or tuple(net.meta.input_size)
    if int8:
        _export_int8(net, r.name, output, (h, w), chosen, rest, verify, int8_tolerance, save_calibration, calibrate)
        return
    try:
        path = export_onnx(net, output, hw) if fmt == "onnx" else export_torchscript(net, output, hw)
    except Exception as e:  # noqa: BLE001 - reported as one line
        raise _fail(f"export of {r.name} failed: {str(e).splitlines()[0]}", 1) from None
    typer.echo(f"wrote {path} ({fmt}, input N x {net.meta.in_channels} x {h} x {w} in [0,1], "
               f"output {net.meta.output}, {path.stat().st_size / 1e6:.1f} MB)")
    if verify:
        res = verify_export(net, path, fmt, hw)
        ok = res["max_abs_diff_m"] <= tolerance
        typer.echo(f"verify: max abs difference PyTorch vs {fmt} = {res['max_abs_diff_m']:.3g} m "
                   f"(raw output {res['max_abs_diff_raw']:.3g}; batch {res['batch']} at {h}x{w}; "
                   f"depths up to {res['max_depth_m']:.2f} m) -> {'OK' if ok else 'FAILED'} (tolerance {tolerance:g} m)")
        if not ok:
            raise typer.Exit(1)


def _export_int8(net, name: str, output: Path, hw: tuple[int, int], chosen: list[Path], rest: list[Path],
                 verify: bool, tolerance: float, save_calibration: Path | None, folder: Path) -> None:
    import tempfile
    import time

    from rgb2depth.export.formats import export_onnx
    from rgb2depth.export.quantize import calibrate, depth_difference
    from rgb2depth.fileio import OutputError
    from rgb2depth.inference.imageio import ImageReadError

    if verify and not rest:
        raise _fail(f"{folder}: no calibration-free images left for --verify "
                    f"({len(chosen)} found, all used); lower --calibrate-count")
    typer.echo(f"calibrating {name} on {len(chosen)} images of {folder} at {hw[0]}x{hw[1]} ...", err=True)
    t0 = time.perf_counter()
    try:
        cal = calibrate(net, chosen, hw, output=output)
        if save_calibration is not None:
            cal.save(save_calibration)
    except (ImageReadError, OutputError) as e:
        raise _fail(str(e).splitlines()[0]) from None
    except Exception as e:  # noqa: BLE001 - reported as one line
        raise _fail(f"int8 export of {name} failed: {str(e).splitlines()[0]}", 1) from None
    typer.echo(f"wrote {output} (onnx int8, input N x {net.meta.in_channels} x {hw[0]} x {hw[1]} in [0,1], "
               f"output {net.meta.output}, {output.stat().st_size / 1e6:.1f} MB; calibrated in "
               f"{time.perf_counter() - t0:.0f} s)")
    if save_calibration is not None:
        typer.echo(f"wrote {save_calibration} (calibration record for weights {cal.model['weights_sha256'][:12]})")
    if not verify:
        return
    step = max(1, len(rest) // 8)
    check = rest[::step][:8]
    with tempfile.TemporaryDirectory(prefix="rgb2depth-verify-") as d:
        ref = export_onnx(net, Path(d) / "float.onnx", hw)
        try:
            res = depth_difference(net, ref, output, check, hw)
        except ImageReadError as e:
            raise _fail(str(e).splitlines()[0]) from None
    ok = res["median_rel"] <= tolerance
    typer.echo(f"verify: depth int8 vs float32 on {res['images']} calibration-free images of {folder}: "
               f"median |difference| {100 * res['median_rel']:.2f} % of depth, 95th percentile "
               f"{100 * res['p95_rel']:.2f} %, max {res['max_abs_m']:.3f} m (median depth "
               f"{res['median_depth_m']:.2f} m) -> {'OK' if ok else 'FAILED'} "
               f"(tolerance {100 * tolerance:g} % median)")
    if not ok:
        raise typer.Exit(1)
