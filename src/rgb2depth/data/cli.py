"""``rgb2depth stereo``: depth training targets from rectified stereo pairs (paper 002).

Writes a folder dataset (docs/DEVELOPING.md layout; read it back with
``rgb2depth.data.create("folder", root=OUT)``): the left images, depth PNGs (uint16,
metres = value / depth_scale, 0 = rejected) and intrinsics.json when the calibration gives them.
Every file is written atomically. A pair that cannot be used (unreadable image, missing
right image or per-pair calibration, a write failure) gets a one-line error and the others are
still written (exit code 1); missing inputs or calibration, or an unusable --out, stop at once
(exit code 2).
"""

from __future__ import annotations

from pathlib import Path

import typer

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".ppm", ".bmp")


def _pairs(left: Path, right: Path) -> list[tuple[str, Path, Path]]:
    if not left.is_dir():
        return [(left.stem, left, right)]
    out = []
    for p in sorted(left.iterdir()):
        if p.suffix.lower() in IMAGE_EXTS:
            out.append((p.stem, p, right / p.name))
    return out


def stereo(
    left: Path = typer.Argument(..., help="Left (reference) image, or a folder of them (e.g. KITTI image_2/)."),
    right: Path = typer.Argument(..., help="Right image, or a folder with the same file names (e.g. image_3/)."),
    out: Path = typer.Option(Path("stereo_targets"), "--out", "-o", help="Output folder dataset."),
    method: str = typer.Option("sgbm", help="sgbm (semi-global matching), bm (block matching), sgbm_wls (SGBM + weighted-least-squares filter), elas (Geiger et al.'s ELAS: denser, see docs/results/stereo.md)."),
    calib: Path | None = typer.Option(None, help="Middlebury calib.txt or KITTI calibration file (P2/P3); a folder: one <stem>.txt per pair (KITTI object calib/)."),
    focal: float | None = typer.Option(None, help="Focal length in pixels (overrides --calib)."),
    baseline: float | None = typer.Option(None, help="Baseline in metres (overrides --calib)."),
    doffs: float = typer.Option(0.0, help="Principal point x-offset between the cameras in pixels (Middlebury doffs)."),
    num_disparities: int | None = typer.Option(None, help="Disparity search range, multiple of 16 (default: width/6 rounded up)."),
    block_size: int | None = typer.Option(None, help="Matching window (SGBM 5, BM 15)."),
    lr_check: float = typer.Option(1.0, help="Left-right consistency tolerance in px; negative disables."),
    texture: float = typer.Option(2.0, help="Minimum mean |d/dx| over the window; 0 disables (sgbm, bm, sgbm_wls; elas's prior fills weak texture)."),
    speckle_window: int | None = typer.Option(None, help="Remove disparity blobs smaller than this (px); 0 disables. Default: 100 (sgbm, bm, sgbm_wls), 200 (elas)."),
    speckle_range: float | None = typer.Option(None, help="Max disparity variation inside a blob (px). Default: 2 (sgbm, bm, sgbm_wls), 1 (elas)."),
    equalize: bool = typer.Option(True, help="CLAHE contrast equalisation before matching."),
    depth_scale: float = typer.Option(256.0, help="Depth PNG scale: metres = value / scale (256: up to 256 m, 1/256 m steps)."),
    max_depth: float | None = typer.Option(None, help="Reject depths beyond this (m)."),
) -> None:
    """Compute disparity on rectified pairs, mask unreliable pixels, write depth targets."""
    import numpy as np
    from rich.progress import track

    from rgb2depth.data.depth_io import DataError
    from rgb2depth.data.folder import FolderWriter
    from rgb2depth.data.stereo import StereoConfig, disparity_to_depth, has_wls, read_stereo_calib
    from rgb2depth.fileio import OutputError, ensure_dir, reason
    from rgb2depth.geometry.camera import Intrinsics

    from .depth_io import read_rgb
    from .stereo import compute_disparity

    if method == "sgbm_wls" and not has_wls():
        typer.echo("error: method sgbm_wls needs cv2.ximgproc: this OpenCV is not the contrib build "
                   "(pip uninstall opencv-python-headless; pip install opencv-contrib-python-headless)", err=True)
        raise typer.Exit(2)
    try:
        cfg = StereoConfig(method=method, num_disparities=num_disparities, block_size=block_size,
                           lr_max_diff=None if lr_check < 0 else lr_check, texture=texture or None,
                           speckle_window=speckle_window, speckle_range=speckle_range, equalize=equalize)
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    for p in (left, right):
        if not p.exists():
            typer.echo(f"error: {p}: no such file or folder", err=True)
            raise typer.Exit(2)
    if left.is_dir() != right.is_dir():
        typer.echo(f"error: {left} and {right}: give two files or two folders", err=True)
        raise typer.Exit(2)
    pairs = _pairs(left, right)
    if not pairs:
        typer.echo(f"error: {left}: no images ({', '.join(IMAGE_EXTS)})", err=True)
        raise typer.Exit(2)
    if calib is None and (focal is None or baseline is None):
        typer.echo("error: give --calib, or both --focal and --baseline", err=True)
        raise typer.Exit(2)
    if calib is not None and not calib.exists():
        typer.echo(f"error: --calib {calib}: no such file or folder", err=True)
        raise typer.Exit(2)
    try:
        ensure_dir(out, "output folder (--out)")
        writer = FolderWriter(out, depth_scale=depth_scale)
    except OSError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    failed = 0
    wrote_K = False
    for stem, lp, rp in track(pairs, description="stereo", disable=len(pairs) < 2):
        try:
            c = {}
            if calib is not None:
                c = read_stereo_calib(calib / f"{stem}.txt" if calib.is_dir() else calib)
            f = focal if focal is not None else c["focal"]
            B = baseline if baseline is not None else c["baseline"]
            off = doffs if doffs or not c else c["doffs"]
            L, R = read_rgb(lp), read_rgb(rp)
            if L.shape != R.shape:
                raise DataError(rp, f"size {R.shape[1]}x{R.shape[0]} differs from the left image {L.shape[1]}x{L.shape[0]}")
            res = compute_disparity(L, R, cfg)
            depth = disparity_to_depth(res.disparity, f, B, off)
            too_far = np.isfinite(depth) & (depth * depth_scale > 65535)
            if max_depth is not None:
                too_far |= np.isfinite(depth) & (depth > max_depth)
            depth[too_far] = np.nan
            K = None
            if c and not wrote_K and not (calib is not None and calib.is_dir()):
                K = Intrinsics(f, c.get("fy", f), c["cx"], c["cy"], L.shape[1], L.shape[0])
                wrote_K = True
            writer.write(stem, L, depth, K)
            typer.echo(f"{stem}: kept {np.isfinite(depth).mean():.1%} of pixels")
        except KeyError as e:  # a calibration without the entry (e.g. no principal point)
            failed += 1
            typer.echo(f"error: {lp}: the calibration lacks {e}", err=True)
        except (DataError, OutputError) as e:  # the message names the file
            failed += 1
            typer.echo(f"error: {e}", err=True)
        except (ValueError, OSError) as e:
            failed += 1
            typer.echo(f"error: {lp}: {reason(e)}", err=True)
    typer.echo(f"wrote {len(pairs) - failed} targets to {out}")
    if failed:
        raise typer.Exit(1)
