"""``rgb2depth demo [IMAGE]``: depth for sample images, figures, raw outputs, and (with the
real data present) the NYU sample with ground truth, error maps and metrics.

Needs no network and no ``../shared``. With no IMAGE it shows, in this order (files in
``rgb2depth/assets/``, sources and licences in ``ATTRIBUTION.md`` there):

1. a real photo, ``tum_cabinet.jpg``: TUM RGB-D fr3/cabinet keyframe 0020 (Kinect, CC BY 4.0,
   Sturm et al. 2012), with its sensor depth ``tum_cabinet_depth.png`` and camera
   ``tum_cabinet_intrinsics.json``. The camera's focal length goes to the model (``focal=``), and
   the numbers are metrics against the Kinect depth (protocol ``none``, 1e-3..10 m as the
   project's TUM evaluation), raw and median-scaled. This scene is the project's validation
   scene, never training data, so these numbers are printed first;
2. a synthetic room, ``demo_room.png``, rendered by the project's own generator, the one that
   renders training data: its numbers flatter the model and are labelled so.

A user's image can be given instead (``--focal PX`` passes its focal length). Outputs (default
folder ``./rgb2depth-demo``), per image:

- ``<stem>_demo.png``: input | colour-mapped depth with a colour bar | point-cloud view
  (matplotlib 3D scatter of the back-projected, coloured points) [| ground truth | error];
- ``<stem>.npy`` (float32 metres), ``<stem>_depth.png`` (uint16 mm), ``<stem>_color.png``,
  ``<stem>.ply`` (coloured point cloud; the sample's intrinsics, else the focal length the
  model was given (``--focal`` or EXIF) with a centred principal point, else a 62-degree field
  of view);
- for a sample with ground truth: ``<stem>_metrics.json`` (the printed numbers, unrounded);
- with ``../shared/data`` present: ``nyu_demo.png`` (per NYU sample image: input, ground
  truth, prediction, absolute error) and ``nyu_metrics.json`` (``metrics.compute_metrics``,
  protocol ``nyu`` = Eigen crop, 1e-3..10 m; per image and mean, without and with median
  scaling).

Every file is written atomically (:mod:`rgb2depth.fileio`). The default model is the one shipped
in ``rgb2depth/weights/default.pt``. When it is absent the demo stops with a message saying so
rather than showing depth from random weights; ``--model`` runs it with any model file (a
registry name runs an untrained network, labelled as such in every figure title and printed
line).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import typer

REAL_SAMPLE = "tum_cabinet.jpg"
REAL_DEPTH = "tum_cabinet_depth.png"
REAL_K = "tum_cabinet_intrinsics.json"
SAMPLE = "demo_room.png"
SAMPLE_DEPTH = "demo_room_depth.png"
SAMPLE_K = "demo_room_intrinsics.json"
NYU_DIR = ("nyu", "nyu2_mini_test")
POINTS_IN_VIEW = 25_000
TUM_RANGE = (1e-3, 10.0)  # valid ground truth (m) of the project's TUM evaluations (tum_val)


@dataclass(frozen=True)
class Sample:
    """A shipped sample image with its ground truth and camera (files in :func:`assets_dir`),
    and the words the demo prints and draws for it, so that nobody mistakes one for the other."""

    image: str
    depth: str  # uint16 millimetres, 0 = invalid
    intrinsics: str  # JSON fx, fy, cx, cy, width, height; fx is passed to the model as focal
    headline: str  # printed above its numbers
    title: str  # figure title
    gt_label: str  # figure panel: "ground truth (<gt_label>)"
    gt_phrase: str  # printed before the metrics
    depth_range: tuple[float, float] | None  # valid ground truth (m); None: every finite gt > 0


SAMPLES = (
    Sample(REAL_SAMPLE, REAL_DEPTH, REAL_K,
           headline="real photo: TUM RGB-D fr3/cabinet keyframe 0020 (Kinect; CC BY 4.0, Sturm et al. "
                    "2012; the project's validation scene, not training data)",
           title="real photo: TUM RGB-D fr3/cabinet (Kinect; CC BY 4.0, Sturm et al. 2012), "
                 "a validation scene, not training data",
           gt_label="Kinect", gt_phrase="against the Kinect depth", depth_range=TUM_RANGE),
    Sample(SAMPLE, SAMPLE_DEPTH, SAMPLE_K,
           headline="synthetic room rendered by the project's training-data generator (the model "
                    "was trained on such renders: these numbers flatter it)",
           title="synthetic room rendered by the training-data generator "
                 "(the model was trained on such renders: flattering numbers)",
           gt_label="rendered", gt_phrase="against its rendered ground truth", depth_range=None),
)


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


def _sample_figure(path, rgb, depth, K, label, cmap, gt=None, metrics=None, gt_label="rendered", title=None):
    """Input | depth | point cloud [| ground truth (``gt_label``) | error]; ``title`` above."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from rgb2depth.evaluation.report import save_figure
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
        ax.set_title(f"ground truth ({gt_label})")
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
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.93) if title else None)
    save_figure(fig, path, dpi=90)


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
    """The demo's metric subset; ``protocol`` a name or a :class:`~rgb2depth.metrics.Protocol`."""
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

    from rgb2depth.evaluation.report import save_figure
    from rgb2depth.fileio import write_text

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
    save_figure(fig, out / "nyu_demo.png", dpi=80)
    keys = rows[0]["metrics"].keys()
    mean = {k: float(np.mean([row["metrics"][k] for row in rows])) for k in keys}
    mean_s = {k: float(np.mean([row["median_scaled"][k] for row in rows])) for k in keys}
    result = {"protocol": "nyu", "model": label, "images": len(rows), "mean": mean,
              "mean_median_scaled": mean_s, "per_image": rows}
    write_text(out / "nyu_metrics.json", json.dumps(result, indent=2))
    return result


def _fmt(m: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in m.items())


def _show(pred, image: Path, out: Path, label: str, cmap: str, focal: float | None = None,
          K=None, sample: Sample | None = None) -> None:
    """Predict ``image``, write its outputs and figure, and print what was done: one path for a
    user's image (``focal``/``K`` from ``--focal`` or None) and for each shipped sample (its
    camera, ground truth and the words that say what kind of image it is)."""
    import numpy as np

    from rgb2depth.fileio import write_text
    from rgb2depth.inference.outputs import OutputWriter
    from rgb2depth.metrics import get_protocol

    gt = metrics = scaled = None
    rgb = pred.load_image(image)
    h, w = rgb.shape[:2]
    if sample is not None:  # the sample's camera, at the image's size, gives the focal length
        K = _read_intrinsics(assets_dir() / sample.intrinsics, w, h)
        focal = K.fx
    else:  # --focal, else the EXIF focal length, else None (the model's canonical camera)
        focal = pred.image_focal(image, focal)
    depth = pred.predict_rgb(rgb, name=str(image), focal=focal)
    if sample is not None:
        gt = _read_gt_mm(assets_dir() / sample.depth)
        if gt.shape != depth.shape:
            raise ValueError(f"{assets_dir() / sample.depth}: {gt.shape[1]}x{gt.shape[0]}, "
                             f"but the image is {w}x{h}")
        proto = get_protocol("none")
        if sample.depth_range is not None:
            proto = proto.with_range(*sample.depth_range)
        metrics, scaled = _metrics(depth, gt, proto), _metrics(depth, gt, proto, align="median")
    elif focal is not None:
        from rgb2depth.geometry.camera import Intrinsics

        K = Intrinsics(focal, focal, (w - 1) / 2, (h - 1) / 2, w, h)
    stem = Path(image).stem
    writer = OutputWriter(out, ("npy", "png16", "color", "ply"), cmap, True,
                          None if K is None else f"{K.fx},{K.fy},{K.cx},{K.cy}")
    files = writer.write(stem, depth, rgb)
    fig_path = out / f"{stem}_demo.png"
    _sample_figure(fig_path, rgb, depth, K or writer.camera(w, h), label, cmap, gt, metrics,
                   gt_label=sample.gt_label if sample else "", title=sample.title if sample else None)
    if sample is not None:
        typer.echo(sample.headline)
    cam = "" if focal is None else f", focal {focal:.1f} px"
    typer.echo(f"  {image}: {w}x{h}{cam}, predicted depth {float(np.min(depth)):.2f}..{float(np.max(depth)):.2f} m")
    if metrics is not None:
        lo, hi = proto.min_depth, proto.max_depth
        rng = f"{lo:g}..{hi:g} m" if sample.depth_range else "every valid pixel"
        typer.echo(f"  {sample.gt_phrase} (protocol none, {rng}): {_fmt(metrics)}")
        typer.echo(f"  with median scaling: {_fmt(scaled)}")
        rec = {"image": str(image), "model": label, "focal": focal, "protocol": "none",
               "depth_range": list(sample.depth_range) if sample.depth_range else None,
               "ground_truth": sample.gt_label, "metrics": metrics, "median_scaled": scaled}
        files = [write_text(out / f"{stem}_metrics.json", json.dumps(rec, indent=2)), *files]
    typer.echo(f"  figure: {fig_path}")
    kinds = {".npy": "depth (float32 m)", "_depth.png": "depth (uint16 mm)", "_metrics.json": "metrics",
             "_color.png": "colour map", ".ply": "point cloud"}
    for f in files:
        kind = next((v for k, v in kinds.items() if f.name.endswith(k)), "")
        typer.echo(f"  {kind}: {f}")


def demo(
    image: Path = typer.Argument(None, help="Your own image (default: a real photo, TUM fr3/cabinet, then a room rendered by the project's synthetic generator).", show_default=False),
    output: Path = typer.Option(Path("rgb2depth-demo"), "--output", "-o", help="Folder for the figures and raw outputs."),
    model: str = typer.Option("default", "--model", "-m", help="'default' (the shipped weights), a model file/checkpoint, or a registry name (untrained)."),
    backend: str = typer.Option(None, "--backend", help="torch or onnxruntime (default: onnxruntime for an .onnx model, else torch).", show_default=False),
    focal: float = typer.Option(None, "--focal", help="Horizontal focal length of IMAGE in pixels at its resolution (default: EXIF, else the model's canonical camera). The samples use their own cameras.", show_default=False),
    nyu: bool = typer.Option(True, "--nyu/--no-nyu", help="When ../shared/data is present, also show the NYU sample with ground truth, errors and metrics."),
    cmap: str = typer.Option("turbo", "--cmap", help="Matplotlib colormap for depth."),
) -> None:
    """Show what rgb2depth does on a real photo and a synthetic room (or your image).

    Writes depth, colour map, point cloud and errors, and prints the metrics where ground truth
    is known."""
    import warnings

    from rgb2depth import paths
    from rgb2depth.fileio import OutputError, ensure_dir
    from rgb2depth.inference.api import ModelLoadError, load
    from rgb2depth.inference.imageio import ImageReadError

    t0 = time.perf_counter()
    if focal is not None and not focal > 0:
        typer.echo(f"error: --focal must be a positive number of pixels, got {focal}", err=True)
        raise typer.Exit(2)
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

    if image is None:
        jobs = [(assets_dir() / s.image, s) for s in SAMPLES if (assets_dir() / s.image).is_file()]
        if not jobs:
            typer.echo(f"error: the sample images ({', '.join(s.image for s in SAMPLES)}) are not present in "
                       f"{assets_dir()}; give an image path: rgb2depth demo IMAGE", err=True)
            raise typer.Exit(2)
    else:
        jobs = [(Path(image), None)]
    out = Path(output)
    typer.echo(f"model: {pred!r}")
    try:
        ensure_dir(out)
        for path, sample in jobs:
            _show(pred, path, out, label, cmap, focal if sample is None else None, sample=sample)
    except (ImageReadError, OutputError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    data_dir = paths.shared_data_dir() if nyu else None
    if data_dir is not None:
        res = _nyu_part(pred, data_dir, out, label, cmap)
        if res is not None:
            typer.echo(f"NYU sample ({res['images']} images, protocol nyu): {_fmt(res['mean'])}")
            typer.echo(f"  with median scaling: {_fmt(res['mean_median_scaled'])}")
            typer.echo(f"  figure: {out / 'nyu_demo.png'}\n  metrics: {out / 'nyu_metrics.json'}")
    elif nyu:
        typer.echo("(the real-data folder ../shared/data is absent: NYU comparison skipped)")
    typer.echo(f"done in {time.perf_counter() - t0:.1f} s; outputs in {out.resolve()}")
