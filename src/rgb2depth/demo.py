"""``rgb2depth demo [IMAGE]``: depth for a sample image, a figure, raw outputs, and (with the
real data present) the NYU sample with ground truth, error maps and metrics.

Needs no network and no ``../shared``: the sample is ``rgb2depth/assets/demo_room.png``, a room
rendered by the project's own synthetic generator (with its ground-truth depth
``demo_room_depth.png``, uint16 mm, and camera ``demo_room_intrinsics.json``). A user's image
can be given instead. Outputs (default folder ``./rgb2depth-demo``):

- ``<stem>_demo.png``: input | colour-mapped depth with a colour bar | point-cloud view
  (matplotlib 3D scatter of the back-projected, coloured points) [| ground truth | error];
- ``<stem>.npy`` (float32 metres), ``<stem>_depth.png`` (uint16 mm), ``<stem>_color.png``,
  ``<stem>.ply`` (coloured point cloud; the sample's intrinsics, else a 62-degree field of view);
- with ``../shared/data`` present: ``nyu_demo.png`` (per NYU sample image: input, ground
  truth, prediction, absolute error) and ``nyu_metrics.json`` (``metrics.compute_metrics``,
  protocol ``nyu`` = Eigen crop, 1e-3..10 m; per image and mean, without and with median
  scaling).

The default model is the one shipped in ``rgb2depth/weights/default.pt``. When it is absent the
demo stops with a message saying so rather than showing depth from random weights; ``--model``
runs it with any model file (a registry name runs an untrained network, labelled as such in
every figure title and printed line).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

SAMPLE = "demo_room.png"
SAMPLE_DEPTH = "demo_room_depth.png"
SAMPLE_K = "demo_room_intrinsics.json"
NYU_DIR = ("nyu", "nyu2_mini_test")
POINTS_IN_VIEW = 25_000


def assets_dir() -> Path:
    from rgb2depth.paths import PACKAGE_DIR

    return PACKAGE_DIR / "assets"


def _read_gt_mm(path: Path):
    """uint16 millimetre PNG -> float32 metres with NaN for 0 (invalid)."""
    import cv2
    import numpy as np

    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.dtype != np.uint16 or raw.ndim != 2:
        raise ValueError(f"{path}: not a 16-bit single-channel depth PNG")
    d = raw.astype(np.float32) / 1000.0
    d[raw == 0] = np.nan
    return d


def _read_intrinsics(path: Path, width: int, height: int):
    from rgb2depth.geometry.camera import Intrinsics

    k = json.loads(path.read_text())
    K = Intrinsics(float(k["fx"]), float(k["fy"]), float(k["cx"]), float(k["cy"]),
                   int(k.get("width", width)), int(k.get("height", height)))
    return K if (K.width, K.height) == (width, height) else K.scaled(width, height)


def _cloud_axes(ax, depth, rgb, K, title):
    """Matplotlib 3D scatter of the coloured point cloud, viewed from above and to the side."""
    import numpy as np

    from rgb2depth.geometry.pointcloud import depth_to_pointcloud, stride_for

    h, w = depth.shape
    pc = depth_to_pointcloud(depth, K, rgb, stride=stride_for(h * w, POINTS_IN_VIEW))
    p = pc.points
    # camera frame x right, y down, z forward -> plot (x, z, -y) so that up is up
    ax.scatter(p[:, 0], p[:, 2], -p[:, 1], c=pc.colors / 255.0, s=2.0, marker=".", linewidths=0, depthshade=False)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("z (m)")
    ax.set_zlabel("up (m)")
    if len(p):
        lo, hi = p.min(0), p.max(0)
        c, r = (lo + hi) / 2, float((hi - lo).max()) / 2 or 1.0
        ax.set_xlim(c[0] - r, c[0] + r)
        ax.set_ylim(c[2] - r, c[2] + r)
        ax.set_zlim(-c[1] - r, -c[1] + r)
    ax.view_init(elev=25, azim=-70)
    ax.set_title(title)
    return np.asarray(p)


def _sample_figure(path, rgb, depth, K, label, cmap, gt=None, metrics=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from rgb2depth.inference.outputs import display_range

    n = 3 if gt is None else 5
    fig = plt.figure(figsize=(4.6 * n, 4.4))
    ax = fig.add_subplot(1, n, 1)
    ax.imshow(rgb)
    ax.set_title("input")
    ax.axis("off")
    vmin, vmax = display_range(depth if gt is None else np.where(np.isfinite(gt), gt, np.nan))
    ax = fig.add_subplot(1, n, 2)
    im = ax.imshow(depth, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_title(f"predicted depth ({label})")
    ax.axis("off")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="depth (m)")
    _cloud_axes(fig.add_subplot(1, n, 3, projection="3d"), depth, rgb, K, "point cloud")
    if gt is not None:
        ax = fig.add_subplot(1, n, 4)
        im = ax.imshow(gt, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title("ground truth (rendered)")
        ax.axis("off")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="depth (m)")
        ax = fig.add_subplot(1, n, 5)
        err = np.abs(depth - gt)
        im = ax.imshow(err, cmap="magma", vmin=0, vmax=float(np.nanpercentile(err, 98)) if np.isfinite(err).any() else 1)
        t = "absolute error"
        if metrics:
            t += f"\nAbsRel {metrics['abs_rel']:.3f}  RMSE {metrics['rmse']:.3f} m  d1 {metrics['delta1']:.3f}"
        ax.set_title(t)
        ax.axis("off")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="|pred - gt| (m)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _nyu_samples(folder: Path):
    """[(id, rgb, depth m with NaN)] of the NYU sample (via the data module when present)."""
    csv = folder / "nyu2_mini_test.csv"
    try:
        from rgb2depth.data.nyu import NYUCsv

        src = NYUCsv(csv)
        out = []
        for i in range(len(src)):
            s = src.load(i)
            out.append((s["id"], s["rgb"], s["depth"]))
        return out
    except ImportError:
        import cv2

        out = []
        for line in csv.read_text().splitlines()[1:]:
            if not line.strip():
                continue
            img, dep = (t.strip() for t in line.split(",")[:2])
            rgb = cv2.cvtColor(cv2.imread(str(folder / img)), cv2.COLOR_BGR2RGB)
            out.append((Path(img).stem, rgb, _read_gt_mm(folder / dep)))
        return out


def _metrics(pred, gt, protocol, align=None):
    import warnings

    import numpy as np

    from rgb2depth.metrics import compute_metrics

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = compute_metrics(pred, gt, np.isfinite(gt), protocol=protocol, align=align)
    return {k: float(m[k]) for k in ("delta1", "delta2", "delta3", "abs_rel", "rmse", "log10") if k in m}


def _nyu_part(pred, data_dir: Path, out: Path, label: str, cmap: str) -> dict | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    folder = data_dir.joinpath(*NYU_DIR)
    if not (folder / "nyu2_mini_test.csv").is_file():
        return None
    samples = _nyu_samples(folder)
    rows = []
    fig, axes = plt.subplots(len(samples), 4, figsize=(13, 2.5 * len(samples)), squeeze=False)
    for r, (sid, rgb, gt) in enumerate(samples):
        depth = pred.predict_rgb(rgb, name=sid)
        m = _metrics(depth, gt, "nyu")
        ms = _metrics(depth, gt, "nyu", align="median")
        rows.append({"id": sid, "metrics": m, "median_scaled": ms})
        vmin, vmax = float(np.nanmin(gt)), float(np.nanmax(gt))
        err = np.abs(depth - gt)
        panels = [(rgb, None, "input"), (gt, cmap, "ground truth"), (depth, cmap, f"prediction ({label})"),
                  (err, "magma", f"|error|  AbsRel {m['abs_rel']:.3f}  RMSE {m['rmse']:.2f} m  d1 {m['delta1']:.2f}")]
        for c, (img, cm, title) in enumerate(panels):
            ax = axes[r, c]
            if cm is None:
                ax.imshow(img)
            else:
                hi = vmax if c < 3 else float(np.nanpercentile(err, 98))
                im = ax.imshow(img, cmap=cm, vmin=vmin if c < 3 else 0, vmax=hi)
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
            ax.set_title(f"{sid}: {title}" if c == 0 else title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "nyu_demo.png", dpi=80)
    plt.close(fig)
    keys = rows[0]["metrics"].keys()
    mean = {k: float(np.mean([row["metrics"][k] for row in rows])) for k in keys}
    mean_s = {k: float(np.mean([row["median_scaled"][k] for row in rows])) for k in keys}
    result = {"protocol": "nyu", "model": label, "images": len(rows), "mean": mean,
              "mean_median_scaled": mean_s, "per_image": rows}
    (out / "nyu_metrics.json").write_text(json.dumps(result, indent=2))
    return result


def demo(
    image: Path = typer.Argument(None, help="Your own image (default: the project's sample room, rendered by its synthetic generator).", show_default=False),
    output: Path = typer.Option(Path("rgb2depth-demo"), "--output", "-o", help="Folder for the figure and raw outputs."),
    model: str = typer.Option("default", "--model", "-m", help="'default' (the shipped weights), a model file/checkpoint, or a registry name (untrained)."),
    backend: str = typer.Option("torch", "--backend", help="torch or onnxruntime."),
    nyu: bool = typer.Option(True, "--nyu/--no-nyu", help="When ../shared/data is present, also show the NYU sample with ground truth, errors and metrics."),
    cmap: str = typer.Option("turbo", "--cmap", help="Matplotlib colormap for depth."),
) -> None:
    """Show what rgb2depth does: depth, colour map, point cloud for a sample (or your) image."""
    import warnings

    from rgb2depth import paths
    from rgb2depth.inference.api import ModelLoadError, load
    from rgb2depth.inference.imageio import ImageReadError
    from rgb2depth.inference.outputs import OutputWriter

    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pred = load(model, backend=backend)
        except ModelLoadError as e:
            msg = str(e).splitlines()[0]
            if model == "default":
                msg = ("the default weights are not present in this installation "
                       f"({paths.WEIGHTS_DIR / 'default.pt'} is missing), so the demo cannot show "
                       "depth from a trained model; run it with a model file: "
                       "rgb2depth demo --model PATH")
            typer.echo(f"error: {msg}", err=True)
            raise typer.Exit(2) from None
    label = pred.name
    if pred.untrained:
        label = f"{pred.name}, UNTRAINED random weights"
        typer.echo(f"warning: model {pred.name!r} has random weights: the depth shown is meaningless", err=True)
    for w in caught:
        if issubclass(w.category, UserWarning) and "untrained" not in str(w.message):
            typer.echo(f"warning: {w.message}", err=True)

    gt = K = None
    if image is None:
        image = assets_dir() / SAMPLE
        if not image.is_file():
            typer.echo(f"error: the sample image {image} is not present in this installation; "
                       "give an image path: rgb2depth demo IMAGE", err=True)
            raise typer.Exit(2)
        if (assets_dir() / SAMPLE_DEPTH).is_file():
            gt = _read_gt_mm(assets_dir() / SAMPLE_DEPTH)
    try:
        depth, rgb = pred.predict_with_rgb(image)
    except ImageReadError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    h, w = depth.shape
    if image == assets_dir() / SAMPLE and (assets_dir() / SAMPLE_K).is_file():
        K = _read_intrinsics(assets_dir() / SAMPLE_K, w, h)
    if gt is not None and gt.shape != depth.shape:
        gt = None
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(image).stem
    writer = OutputWriter(out, ("npy", "png16", "color", "ply"), cmap, True,
                          None if K is None else f"{K.fx},{K.fy},{K.cx},{K.cy}")
    files = writer.write(stem, depth, rgb)
    metrics = _metrics(depth, gt, "none") if gt is not None else None
    fig_path = out / f"{stem}_demo.png"
    _sample_figure(fig_path, rgb, depth, K or writer.camera(w, h), label, cmap, gt, metrics)
    t_sample = time.perf_counter() - t0
    typer.echo(f"model: {pred!r}")
    typer.echo(f"{image}: {w}x{h}, predicted depth {float(depth.min()):.2f}..{float(depth.max()):.2f} m")
    if metrics:
        typer.echo("  against its rendered ground truth: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
    typer.echo(f"  figure: {fig_path}")
    kinds = {".npy": "depth (float32 m)", "_depth.png": "depth (uint16 mm)",
             "_color.png": "colour map", ".ply": "point cloud"}
    for f in files:
        kind = next((v for k, v in kinds.items() if f.name.endswith(k)), "")
        typer.echo(f"  {kind}: {f}")
    data_dir = paths.shared_data_dir() if nyu else None
    if data_dir is not None:
        res = _nyu_part(pred, data_dir, out, label, cmap)
        if res is not None:
            m, ms = res["mean"], res["mean_median_scaled"]
            typer.echo(f"NYU sample ({res['images']} images, protocol nyu): "
                       + ", ".join(f"{k} {v:.3f}" for k, v in m.items()))
            typer.echo("  with median scaling: " + ", ".join(f"{k} {v:.3f}" for k, v in ms.items()))
            typer.echo(f"  figure: {out / 'nyu_demo.png'}\n  metrics: {out / 'nyu_metrics.json'}")
    elif nyu:
        typer.echo("(the real-data folder ../shared/data is absent: NYU comparison skipped)")
    typer.echo(f"done in {time.perf_counter() - t0:.1f} s (sample image {t_sample:.1f} s); outputs in {out.resolve()}")
