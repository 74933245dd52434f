"""``rgb2depth synth``: write a synthetic RGB-D dataset in the folder layout.

Layout (docs/DEVELOPING.md): ``DIR/rgb/<stem>.png`` (or ``.jpg``), ``DIR/depth/<stem>.png`` (uint16
millimetres, 0 = invalid), ``DIR/intrinsics.json`` (one camera) or ``DIR/intrinsics.txt`` (each
image's camera, with ``--focal-range``), ``DIR/poses.txt`` (TUM:
``stem tx ty tz qx qy qz qw``, camera-to-world) and ``DIR/synth.json`` (the generator's
settings). Sample ``i`` depends only on ``(seed, i)``, so the output is byte-identical for the
same arguments whatever ``--workers`` is.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _write_sample(out: Path, sample: dict, rgb_format: str = "png") -> tuple[str, str]:
    """Write one sample's images; return its poses.txt and intrinsics.txt lines."""
    import cv2
    import numpy as np
    from scipy.spatial.transform import Rotation

    from rgb2depth.data.folder import intrinsics_line
    from rgb2depth.fileio import imwrite

    stem = sample["id"]
    rgb_path, depth_path = out / "rgb" / f"{stem}.{rgb_format}", out / "depth" / f"{stem}.png"
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if rgb_format == "jpg" else []
    imwrite(rgb_path, cv2.cvtColor(sample["rgb"], cv2.COLOR_RGB2BGR), params)  # atomic
    d = sample["depth"]
    mm = np.where(sample["valid"], np.rint(np.nan_to_num(d, nan=0.0) * 1000.0), 0)
    mm = np.where(mm > 65535, 0, mm).astype(np.uint16)  # beyond 65.5 m: not representable
    imwrite(depth_path, mm)
    pose = sample["pose"]
    q = Rotation.from_matrix(pose[:3, :3]).as_quat()  # x, y, z, w
    return f"{stem} " + " ".join(f"{v:.9f}" for v in (*pose[:3, 3], *q)), intrinsics_line(stem, sample["K"])


_WORKER: dict = {}


def _init_worker(kwargs: dict, out: str, rgb_format: str = "png") -> None:
    import cv2

    from .generator import SynthDataset

    cv2.setNumThreads(1)
    _WORKER["ds"] = SynthDataset(**kwargs)
    _WORKER["out"] = Path(out)
    _WORKER["fmt"] = rgb_format


def _work(i: int) -> tuple[int, tuple[str, str]]:
    return i, _write_sample(_WORKER["out"], _WORKER["ds"][i], _WORKER["fmt"])


def synth(
    count: int = typer.Option(100, "--count", "-n", help="Number of images.", min=1),
    size: str = typer.Option("480x640", "--size", help="Output size HxW (intrinsics scale with it)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; same seed, same images."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (created)."),
    trajectory: bool = typer.Option(False, "--trajectory", help="Short smooth camera paths per room (for 3D reconstruction)."),
    frames_per_scene: int = typer.Option(10, "--frames-per-scene", help="Frames per room with --trajectory.", min=1),
    sensor_noise: bool = typer.Option(False, "--sensor-noise", help="Kinect-like depth noise, holes and range limits."),
    intrinsics: str = typer.Option(None, "--intrinsics", help="fx,fy,cx,cy in pixels of the output size (default: NYU Kinect scaled)."),
    scene_types: str = typer.Option(None, "--scene-types", help="The widened generator's room types and weights: 'mix', 'office,kitchen' or 'office:2,kitchen:1' (default: the original generic rooms).", show_default=False),
    views: str = typer.Option(None, "--views", help="Camera kinds and weights (hand-held, robot, close-up; 'mix'); default 'mix' with --scene-types, else the original sampler.", show_default=False),
    focal_range: str = typer.Option(None, "--focal-range", help="LO,HI: each room draws its camera's focal length in pixels at 640x480 (e.g. 500,640); every image's camera goes to intrinsics.txt.", show_default=False),
    workers: int = typer.Option(2, "--workers", "-j", help="Rendering processes.", min=1),
    rgb_format: str = typer.Option("png", "--rgb-format", help="png, or jpg (quality 95) for smaller folders."),
) -> None:
    """Render a synthetic indoor RGB-D dataset (exact metric z-depth, intrinsics, poses)."""
    from .generator import SynthDataset, parse_size

    if rgb_format not in ("png", "jpg"):
        raise typer.BadParameter(f"must be png or jpg, got {rgb_format!r}", param_hint="--rgb-format")
    try:
        hw = parse_size(size)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--size") from None
    focal = None
    if focal_range is not None:
        try:
            focal = [float(v) for v in focal_range.split(",")]
            if len(focal) != 2 or not 0 < focal[0] <= focal[1]:
                raise ValueError
        except ValueError:
            raise typer.BadParameter(f"must be LO,HI pixels with 0 < LO <= HI, got {focal_range!r}",
                                     param_hint="--focal-range") from None
        if intrinsics is not None:
            raise typer.BadParameter("give --intrinsics (one camera) or --focal-range (one per room), not both")
    kwargs = dict(count=count, size=hw, seed=seed, trajectory=trajectory, frames_per_scene=frames_per_scene,
                  sensor_noise=sensor_noise, intrinsics=intrinsics, threads=1, scene_types=scene_types,
                  views=views, focal_range=focal)
    try:
        ds = SynthDataset(**kwargs)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    from rgb2depth.fileio import OutputError, ensure_dir, write_text

    try:
        for sub in ("rgb", "depth"):
            ensure_dir(out / sub, "output folder (--out)")
        if ds.K is not None:  # one camera; with --focal-range every image's is in intrinsics.txt
            write_text(out / "intrinsics.json", json.dumps(ds.K.to_dict(), indent=1) + "\n")
    except OutputError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    settings = {k: v for k, v in kwargs.items() if k != "threads"}
    settings["size"] = list(hw)
    settings["depth"] = "z-depth, uint16 millimetres, 0 = invalid"
    try:
        _render_all(ds, kwargs, out, count, workers, rgb_format, settings)
    except OutputError as e:  # a full disk: one line, and no torn file left behind
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {count} samples to {out}")


def _render_all(ds, kwargs: dict, out: Path, count: int, workers: int, rgb_format: str, settings: dict) -> None:
    """Render and write every sample (in ``workers`` processes), then synth.json and poses.txt."""
    from rgb2depth.fileio import write_text
    from rgb2depth.progress import progress_bar

    write_text(out / "synth.json", json.dumps(settings, indent=1) + "\n")
    lines: list[tuple[str, str] | None] = [None] * count
    bar = progress_bar(total=count, desc="synth", unit="img")
    try:
        if workers <= 1 or count == 1:
            for i in range(count):
                lines[i] = _write_sample(out, ds[i], rgb_format)
                bar.update()
        else:
            import multiprocessing as mp
            import sys

            # fork is fast and safe while this process has not loaded open3d (its Embree/TBB
            # thread pools do not survive a fork); otherwise start clean interpreters
            method = "fork" if "open3d" not in sys.modules and sys.platform == "linux" else "spawn"
            ctx = mp.get_context(method)
            with ctx.Pool(min(workers, count), initializer=_init_worker, initargs=(kwargs, str(out), rgb_format)) as pool:
                for i, line in pool.imap_unordered(_work, range(count), chunksize=1):
                    lines[i] = line
                    bar.update()
    finally:
        bar.close()
    write_text(out / "poses.txt", "# stem tx ty tz qx qy qz qw (camera-to-world, metres)\n"
               + "\n".join(pose for pose, _ in lines) + "\n")
    if ds.K is None:
        from rgb2depth.data.folder import write_intrinsics_txt

        write_intrinsics_txt(out, [k for _, k in lines])
