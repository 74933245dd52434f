"""The ``rgb2depth reconstruct`` command (paper 003, Section 4.4): depth -> tracking -> TSDF.

Heavy libraries (open3d, torch, cv2) are imported inside the function so ``rgb2depth --help``
stays fast. Exit codes: 0 done; 1 bad input (one line on stderr); 2 tracking was lost and the
run stopped early (the outputs cover the frames tracked before; the message says where).
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
    poses: str = typer.Option("odometry", "--poses", help="'odometry' (track the camera on the depth used) or "
                              "'ground-truth' (the sequence's poses)."),
    tracker: str = typer.Option("model", "--tracker", help="'model' (frame to model: ICP against the fused TSDF, "
                                "seeded by RGB-D odometry) or 'frame' (frame-to-frame RGB-D odometry)."),
    depth: str = typer.Option("predicted", "--depth", help="'predicted' (the network) or 'ground-truth' (the "
                              "sequence's sensor depth: the reference reconstruction)."),
    depth_scale: str = typer.Option(None, "--depth-scale", help="Per-frame scale of the depth: 'none', 'model' "
                                    "(median-scaled to the fused model's overlap; the default for predicted depth "
                                    "with odometry) or 'sensor' (median-scaled to the sensor depth: evaluation only)."),
    distortion: str = typer.Option("auto", "--distortion", help="Lens distortion k1,k2,p1,p2[,k3] to remove, 'auto' "
                                   "(TUM freiburg1/2 published values, by folder name) or 'none'."),
    voxel: float = typer.Option(0.01, "--voxel", help="TSDF voxel size in metres (truncation = 8 voxels)."),
    stride: int = typer.Option(1, "--stride", help="Use every N-th frame."),
    max_frames: int = typer.Option(0, "--max-frames", help="Stop after N frames (0 = all)."),
    intrinsics: str = typer.Option(None, "--intrinsics", help="fx,fy,cx,cy in pixels of the stored images "
                                   "(required for image folders and videos without intrinsics.json)."),
    width: int = typer.Option(320, "--width", help="Working width in pixels (aspect kept; 0 = as stored)."),
    depth_max: float = typer.Option(4.0, "--depth-max", help="Ignore depth beyond this many metres."),
    min_fitness: float = typer.Option(0.3, "--min-fitness", help="A tracked frame needs this fraction of its pixels "
                                      "matched to the reference, else it fails and is not integrated."),
    max_step: str = typer.Option("0.3,30", "--max-step", help="Largest plausible motion between tracked frames: "
                                 "metres,degrees; a larger step fails."),
    max_lost: int = typer.Option(10, "--max-lost", help="Stop after this many consecutive failed frames (0 = never)."),
    device: str = typer.Option("cpu", "--device", help="Device for the depth network."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Reconstruct a scene in 3D from per-frame (predicted) depth: track, fuse, write mesh.

    Frames that fail tracking are listed and left out of the map; exit code 2 when tracking
    was lost and the run stopped early.
    """
    from rgb2depth.geometry.odometry import TRACKERS, TrackingLimits
    from rgb2depth.geometry.reconstruct import (
        DEPTH_SCALES,
        POSE_MODES,
        ReconstructionError,
        format_report,
    )
    from rgb2depth.geometry.reconstruct import reconstruct as run

    if poses not in POSE_MODES:
        raise typer.BadParameter(f"--poses must be one of {', '.join(POSE_MODES)}, got {poses!r}")
    if tracker not in TRACKERS:
        raise typer.BadParameter(f"--tracker must be one of {', '.join(TRACKERS)}, got {tracker!r}")
    if depth not in ("predicted", "ground-truth"):
        raise typer.BadParameter(f"--depth must be 'predicted' or 'ground-truth', got {depth!r}")
    if depth_scale is not None and depth_scale not in DEPTH_SCALES:
        raise typer.BadParameter(f"--depth-scale must be one of {', '.join(DEPTH_SCALES)}, got {depth_scale!r}")
    if voxel <= 0 or stride < 1 or max_frames < 0 or width < 0 or depth_max <= 0 or max_lost < 0:
        raise typer.BadParameter("--voxel and --depth-max must be > 0, --stride >= 1, --max-frames, --width and "
                                 "--max-lost >= 0")
    try:
        step_t, step_r = (float(v) for v in max_step.split(","))
    except ValueError:
        raise typer.BadParameter(f"--max-step must be 'metres,degrees', got {max_step!r}") from None
    limits = TrackingLimits(min_fitness=min_fitness, max_translation=step_t, max_rotation_deg=step_r)
    try:
        res = run(
            sequence, output, depth=depth, model=model, poses=poses, tracker=tracker, voxel=voxel, stride=stride,
            max_frames=max_frames or None, intrinsics=intrinsics, distortion=None if distortion == "none" else distortion,
            depth_scale=depth_scale, width=width or None, depth_max=depth_max, limits=limits, max_lost=max_lost,
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
    typer.echo(format_report(res))
    for k, v in res.files.items():
        typer.echo(f"  {k:14s} {v}")
    for s in res.skipped[:5]:
        typer.echo(f"  skipped: {s}", err=True)
    if res.status != "ok":
        typer.echo(f"error: {res.message}", err=True)
        raise typer.Exit(2)
