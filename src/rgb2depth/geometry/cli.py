"""The ``rgb2depth reconstruct`` command (paper 003, Section 4.4): depth -> odometry -> TSDF.

Heavy libraries (open3d, torch, cv2) are imported inside the function so ``rgb2depth --help``
stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer


def reconstruct(
    sequence: Path = typer.Argument(..., help="A TUM RGB-D sequence folder, a 7-Scenes sequence folder, a "
                                    "generic rgb/+depth/ folder, a folder of images, or a video file."),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder (created): mesh.ply, cloud.ply, "
                                "trajectory.txt (TUM), preview.png, summary.json."),
    model: str = typer.Option("default", "--model", help="Depth network: 'default', a model file, or a registry name."),
    poses: str = typer.Option("odometry", "--poses", help="'odometry' (RGB-D odometry on the depth used) or "
                              "'ground-truth' (the sequence's poses)."),
    depth: str = typer.Option("predicted", "--depth", help="'predicted' (the network) or 'ground-truth' (the "
                              "sequence's sensor depth: the reference reconstruction)."),
    voxel: float = typer.Option(0.01, "--voxel", help="TSDF voxel size in metres (truncation = 4 voxels)."),
    stride: int = typer.Option(1, "--stride", help="Use every N-th frame."),
    max_frames: int = typer.Option(0, "--max-frames", help="Stop after N frames (0 = all)."),
    intrinsics: str = typer.Option(None, "--intrinsics", help="fx,fy,cx,cy in pixels of the stored images "
                                   "(required for image folders and videos without intrinsics.json)."),
    width: int = typer.Option(320, "--width", help="Working width in pixels (aspect kept; 0 = as stored)."),
    depth_max: float = typer.Option(4.0, "--depth-max", help="Ignore depth beyond this many metres."),
    device: str = typer.Option("cpu", "--device", help="Device for the depth network."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Reconstruct a scene in 3D from per-frame (predicted) depth: track, fuse, write mesh."""
    from rgb2depth.geometry.reconstruct import POSE_MODES, ReconstructionError
    from rgb2depth.geometry.reconstruct import reconstruct as run

    if poses not in POSE_MODES:
        raise typer.BadParameter(f"--poses must be one of {', '.join(POSE_MODES)}, got {poses!r}")
    if depth not in ("predicted", "ground-truth"):
        raise typer.BadParameter(f"--depth must be 'predicted' or 'ground-truth', got {depth!r}")
    if voxel <= 0 or stride < 1 or max_frames < 0 or width < 0 or depth_max <= 0:
        raise typer.BadParameter("--voxel and --depth-max must be > 0, --stride >= 1, --max-frames and --width >= 0")
    try:
        res = run(
            sequence, output, depth=depth, model=model, poses=poses, voxel=voxel, stride=stride,
            max_frames=max_frames or None, intrinsics=intrinsics, width=width or None, depth_max=depth_max,
            device=device, progress=progress,
        )
    except (ReconstructionError, FileNotFoundError, ValueError, OSError) as e:
        typer.echo(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", err=True)
        raise typer.Exit(1) from None
    except Exception as e:  # model loading errors etc.: one line, non-zero exit
        if type(e).__name__ in ("ModelLoadError", "ImageReadError", "DataError"):
            typer.echo(f"error: {str(e).splitlines()[0]}", err=True)
            raise typer.Exit(1) from None
        raise
    msg = f"{res.frames} frames integrated"
    if res.skipped:
        msg += f", {len(res.skipped)} skipped"
    if poses == "odometry":
        msg += f", {res.odometry_failures} odometry failures"
    if res.ate:
        msg += f"; ATE RMSE {res.ate['rmse'] * 100:.1f} cm vs the sequence's poses"
    typer.echo(msg)
    for k, v in res.files.items():
        typer.echo(f"  {k:12s} {v}")
    for s in res.skipped[:5]:
        typer.echo(f"  skipped: {s}", err=True)
