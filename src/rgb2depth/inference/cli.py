"""``rgb2depth predict`` and ``rgb2depth benchmark`` (registered by :mod:`rgb2depth.cli`).

Heavy libraries (torch, cv2, onnxruntime) are imported inside the command functions so that
``rgb2depth --help`` stays fast.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import typer

from rgb2depth.inference.imageio import DEFAULT_MAX_PIXELS, MIN_SIDE


def _err(msg: str) -> None:
    """One line on stderr (without garbling a running progress bar)."""
    from rgb2depth.progress import write_line

    write_line(f"error: {msg}")


def _load_predictor(model: str, backend: str | None, device: str, threads: int, max_pixels: int | None = None,
                    precision: str = "float32", calibrate: Path | None = None, flip: bool = False):
    """Load the model or exit with code 2 and a one-line message; untrained -> a warning line."""
    from rgb2depth.devices import check_device
    from rgb2depth.inference.api import ModelLoadError, load

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            device = check_device(device)
            pred = load(model, device=device, backend=backend, threads=threads or None, max_pixels=max_pixels,
                        precision=precision, calibration=calibrate, flip=flip)
        except (ModelLoadError, FileNotFoundError, ValueError) as e:
            typer.echo(f"error: {str(e).splitlines()[0]}", err=True)
            raise typer.Exit(2) from None
    for w in caught:
        if issubclass(w.category, UserWarning):
            typer.echo(f"warning: {w.message}", err=True)
    return pred


def _collect(inputs: list[str]) -> tuple[list[tuple[str, Path, str]], list[str]]:
    """Expand inputs into jobs ``(kind, path, output stem)``; returns (jobs, error lines)."""
    from rgb2depth.inference.imageio import find_images, is_video_path

    jobs: list[tuple[str, Path, str]] = []
    errors: list[str] = []
    used: set[str] = set()

    def unique(stem: str, path: Path) -> str:
        s = stem
        if s in used:  # foo.jpg and foo.png in one folder, or two inputs named foo
            s = f"{stem}_{path.suffix.lstrip('.').lower()}" if path.suffix else stem
            k = 2
            while s in used:
                s, k = f"{stem}_{k}", k + 1
        used.add(s)
        return s

    for text in inputs:
        p = Path(text)
        if not p.exists():
            errors.append(f"{text}: no such file or folder")
        elif p.is_dir():
            images = find_images(p)
            if not images:
                errors.append(f"{text}: folder contains no images (looked for .jpg, .png, ... recursively)")
            for im in images:
                rel = im.relative_to(p).with_suffix("")
                jobs.append(("image", im, unique(rel.as_posix(), im)))
        elif is_video_path(p):
            jobs.append(("video", p, unique(p.stem, p)))
        else:
            jobs.append(("image", p, unique(p.stem, p)))
    return jobs, errors


def predict(
    inputs: list[str] = typer.Argument(None, help="Images, folders (searched recursively for images) and videos (mp4/avi/...).", show_default=False),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder (created if needed)."),
    model: str = typer.Option("default", "--model", "-m", help="'default' (the shipped weights), a model file/checkpoint, a file written by rgb2depth export (.onnx, float32 or int8; TorchScript), or a registry name (untrained)."),
    save: str = typer.Option(None, "--save", help="Comma-separated outputs: npy (float32 metres), png16 (uint16 millimetres), color (colour-mapped PNG), ply (coloured point cloud). Default for images: npy,png16,color. For videos the depth video is always written; per-frame files only when --save is given."),
    cmap: str = typer.Option("turbo", "--cmap", help="Matplotlib colormap for the colour images and depth videos."),
    colorbar: bool = typer.Option(False, "--colorbar/--no-colorbar", help="Append a colour bar with depth in metres."),
    intrinsics: str = typer.Option(None, "--intrinsics", help="Camera 'fx,fy,cx,cy' in pixels at the input image's resolution, for --save ply. Default: a 62-degree horizontal field of view, square pixels, centred principal point."),
    focal: float = typer.Option(None, "--focal", help="Horizontal focal length in pixels at the input's resolution, for models that predict depth for a canonical camera (the default model). Default: the EXIF focal length when present, else the model's canonical camera (see its model card).", show_default=False),
    camera: int = typer.Option(None, "--camera", help="Record depth from camera N (OpenCV index) until Ctrl-C or --max-frames."),
    smooth: float = typer.Option(0.0, "--smooth", help="Temporal smoothing for videos/cameras: depth\\[t] = a*depth\\[t-1] + (1-a)*prediction\\[t], a in \\[0,1); 0 = off."),
    backend: str = typer.Option(None, "--backend", help="torch or onnxruntime (exported once per input size to a cached ONNX file). Default: onnxruntime for an .onnx model, for --int8 and for the default model on the CPU, else torch.", show_default=False),
    precision: str = typer.Option("float32", "--precision", help="float32, int8 (ONNX Runtime, statically quantised; see --calibrate) or bf16 (PyTorch, CPUs with native bfloat16 only)."),
    int8: bool = typer.Option(False, "--int8", help="Same as --precision int8: the int8 model (made once per input size and cached; the default model ships its calibration)."),
    calibrate: Path = typer.Option(None, "--calibrate", help="With --int8 for a model other than the default: a folder of real images like the ones to predict, to calibrate on (once; cached).", show_default=False),
    flip: bool = typer.Option(False, "--flip", help="Test-time flip averaging: also predict the mirrored image and average (twice the network's work)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    max_pixels: int = typer.Option(None, "--max-pixels", help=f"Refuse images with more pixels than this (decompression-bomb guard; default {DEFAULT_MAX_PIXELS:,} or RGB2DEPTH_MAX_PIXELS). Images need sides >= {MIN_SIDE} px.", show_default=False),
    max_frames: int = typer.Option(0, "--max-frames", help="Stop videos/cameras after this many frames (0 = all)."),
    ply_max_points: int = typer.Option(2_000_000, "--ply-max-points", help="Subsample the point cloud (every s-th pixel) to at most this many points (0 = all)."),
    threads: int = typer.Option(0, "--threads", help="Intra-op threads (0 = the library default)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars for folders and videos (shown on a terminal)."),
) -> None:
    """Predict depth (metres) for images, folders, videos or a camera and save it.

    For an image foo.jpg: OUTDIR/foo.npy, foo_depth.png, foo_color.png, foo.ply (see --save).
    Each input that cannot be used gets a one-line error; the others are still processed; the
    exit code is 1 when any input failed, 2 for a usage or model error.
    """
    import time

    from rgb2depth.fileio import OutputError, ensure_dir
    from rgb2depth.inference.imageio import ImageReadError, max_pixels_default
    from rgb2depth.inference.outputs import OutputWriter, parse_save
    from rgb2depth.inference.video import VideoReadError, process_stream
    from rgb2depth.progress import progress_bar

    inputs = list(inputs or [])
    if not inputs and camera is None:
        typer.echo("error: give at least one INPUT (image, folder, video) or --camera N", err=True)
        raise typer.Exit(2)
    try:
        kinds = parse_save(save)
        frame_kinds = parse_save(save, default=())
        writer = OutputWriter(Path(output), kinds, cmap, colorbar, intrinsics, ply_max_points or None)
        if not 0.0 <= smooth < 1.0:
            raise ValueError(f"--smooth must be in [0, 1), got {smooth}")
        if camera is not None and camera < 0:
            raise ValueError(f"--camera must be a camera index >= 0, got {camera}")
        if max_pixels is None:
            max_pixels_default()  # a malformed RGB2DEPTH_MAX_PIXELS is a usage error, found now
        ensure_dir(output, "output folder (-o)")
        if focal is not None and not focal > 0:
            raise ValueError(f"--focal must be a positive number of pixels, got {focal}")
    except (ValueError, OutputError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None

    jobs, errors = _collect(inputs)
    for e in errors:
        _err(e)
    failed = len(errors)
    done = 0
    if not jobs and camera is None:
        typer.echo(f"{failed} input(s) failed, nothing to predict", err=True)
        raise typer.Exit(1)

    if int8 and precision not in ("float32", "int8"):
        typer.echo(f"error: --int8 and --precision {precision} contradict each other", err=True)
        raise typer.Exit(2)
    pred = _load_predictor(model, backend, device, threads, max_pixels, "int8" if int8 else precision, calibrate,
                           flip)
    show = None if progress else False
    t0 = time.perf_counter()
    images = [j for j in jobs if j[0] == "image"]
    videos = [j for j in jobs if j[0] == "video"]
    bar = progress_bar(images, desc="predict", unit="img", disable=True if show is False else (None if len(images) > 1 else True), leave=False)
    for _, path, stem in bar:
        try:
            f = pred.image_focal(path, focal)  # the EXIF is read once, here
            rgb = pred.load_image(path)
            depth = pred.predict_rgb(rgb, name=str(path), focal=f)
            writer.write(stem, depth, rgb, focal=pred.depth_focal(f, depth.shape[1]))
            done += 1
        except (ImageReadError, OSError, RuntimeError) as e:
            _err(str(e).splitlines()[0] if str(path) in str(e) else f"{path}: {str(e).splitlines()[0]}")
            failed += 1
    bar.close()
    stream_writer = OutputWriter(Path(output), frame_kinds, cmap, colorbar, intrinsics, ply_max_points or None)
    streams = [(str(p), p, stem) for _, p, stem in videos]
    if camera is not None:
        streams.append((f"camera {camera}", int(camera), f"camera{camera}"))
    for name, source, stem in streams:
        try:
            info = process_stream(pred, source, name, stem, stream_writer, frame_files=bool(frame_kinds),
                                  smooth=smooth, max_frames=max_frames or None, progress=show,
                                  focal=focal)
            typer.echo(f"{name}: {info['frames']} frames -> {info['video']}", err=True)
            done += 1
        except (VideoReadError, ImageReadError, OSError, RuntimeError) as e:
            _err(str(e).splitlines()[0])
            failed += 1
    dt = time.perf_counter() - t0
    typer.echo(f"{done} input(s) predicted into {output} in {dt:.1f} s" + (f"; {failed} failed" if failed else ""), err=True)
    if failed:
        raise typer.Exit(1)


def benchmark(
    model: str = typer.Option("default", "--model", "-m", help="'default', a model file, a registry name (random weights are fine for timing), or an .onnx file."),
    size: str = typer.Option(None, "--size", help="Input H x W, e.g. 240x320 (default: the model's input size)."),
    backend: str = typer.Option(None, "--backend", help="torch or onnxruntime (default: onnxruntime for an .onnx model, int8 and the default model on the CPU, else torch).", show_default=False),
    precision: str = typer.Option("float32", "--precision", help="float32, int8 or bf16 (see predict)."),
    calibrate: Path = typer.Option(None, "--calibrate", help="With --precision int8 for a model other than the default: calibration images.", show_default=False),
    batch: int = typer.Option(1, "--batch", help="Images per forward pass."),
    warmup: int = typer.Option(100, "--warmup", help="Untimed warm-up iterations (paper 000: 100)."),
    iters: int = typer.Option(50, "--iters", help="Timed iterations (paper 000: 10; more gives a stabler median)."),
    threads: int = typer.Option(0, "--threads", help="Intra-op threads (0 = library default)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    end_to_end: bool = typer.Option(False, "--end-to-end", help="Also time predict() on a random uint8 image of that size (preprocess + network + postprocess)."),
) -> None:
    """Time the network with paper 000's protocol: warm-up, then timed iterations on fresh random input.

    Prints median and minimum milliseconds per forward pass, images per second, parameters and MACs.
    """
    import numpy as np
    import torch

    from rgb2depth.inference.profiling import count_macs, count_parameters, parse_size, time_calls

    if batch < 1 or iters < 1 or warmup < 0:
        typer.echo("error: --batch and --iters must be >= 1, --warmup >= 0", err=True)
        raise typer.Exit(2)
    pred = _load_predictor(model, backend, device, threads, precision=precision, calibrate=calibrate)
    try:
        h, w = parse_size(size) if size else tuple(pred.meta.input_size)
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    if pred.fixed_hw is not None and (h, w) != pred.fixed_hw:
        typer.echo(f"error: {model} was exported for {pred.fixed_hw[0]}x{pred.fixed_hw[1]}, not {h}x{w}", err=True)
        raise typer.Exit(2)
    c = pred.meta.in_channels
    gen = torch.Generator().manual_seed(0)
    # torch kernels on a GPU run asynchronously: time_calls waits for them (ONNX Runtime returns
    # finished outputs)
    torch_device = pred.device if pred.backend == "torch" else None
    res = time_calls(pred._run.raw, warmup=warmup, iters=iters,
                     setup=lambda i: torch.rand(batch, c, h, w, generator=gen), device=torch_device)
    params = count_parameters(pred.model) if pred.model is not None else None
    macs = count_macs(pred.model, h, w) if pred.model is not None else None
    fps = batch * 1000.0 / res["median_ms"]
    typer.echo(f"model      {pred.name} ({pred.backend}, {pred.precision}, {torch.get_num_threads()} torch threads)")
    typer.echo(f"input      {batch} x {c} x {h} x {w}")
    typer.echo(f"protocol   {warmup} warm-up + {iters} timed iterations, fresh random input each (paper 000 Sec. 4.2.2)")
    typer.echo(f"median     {res['median_ms']:.2f} ms per batch")
    typer.echo(f"min        {res['min_ms']:.2f} ms per batch")
    typer.echo(f"mean       {res['mean_ms']:.2f} ms per batch")
    typer.echo(f"fps        {fps:.1f} images/s (median)")
    typer.echo(f"parameters {params:,}" if params is not None else "parameters n/a (ONNX file)")
    typer.echo(f"MACs       {macs / 1e9:.3f} G per image" if macs is not None else "MACs       n/a (ONNX file)")
    if end_to_end:
        rng = np.random.default_rng(0)
        e2e = time_calls(lambda im: pred.predict_rgb(im), warmup=min(warmup, 20), iters=iters,
                         setup=lambda i: rng.integers(0, 256, (h, w, 3), dtype=np.uint8), device=torch_device)
        typer.echo(f"predict()  median {e2e['median_ms']:.2f} ms, min {e2e['min_ms']:.2f} ms "
                   f"({1000.0 / e2e['median_ms']:.1f} images/s, {h}x{w} uint8 in, metres out)")
