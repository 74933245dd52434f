"""Scoring models and saved predictions on a dataset with a named protocol.

A model sees each image at its input size (``model.meta.input_size`` unless told otherwise);
its output is converted to metres (:func:`rgb2depth.models.to_metres`) and resized back to the
ground-truth resolution bilinearly, then scored by :class:`rgb2depth.metrics.MetricAccumulator`
(protocol crop and depth range, optional median / least-squares alignment, per-image or pooled
aggregation). Optional flip test-time augmentation averages the prediction of the image and the
mirrored prediction of its mirror image (in metres).

Two ways to make the network's input (``preprocess``): ``"resize"`` (default) resizes the whole
frame to the input size; ``"paper003"`` follows paper 003 Sec. 4.2 (after Eigen et al.): the
frame is halved (640x480 -> 320x240) and centre-cropped to the input size (304x228), and the
prediction, upsampled bilinearly to the crop's area of the full frame, is scored there only.

Saved predictions (a folder of ``<id>.npy`` HxW float maps, NaN = no prediction, or the 16-bit
millimetre PNGs of ``rgb2depth predict --save png16``, 0 = no prediction) are matched to
ground-truth samples by id, then by file stem, and scored the same way, so results from other
tools use the same protocol. They may hold depth in metres, or inverse depth / disparity of
unknown scale, which is aligned in inverse-depth space and inverted before scoring. Samples
without a file and unreadable files are counted and listed, never silently dropped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rgb2depth.fileio import atomic_path

#: Shortcuts for the real data shipped in ../shared/data (paths relative to that folder).
DATASET_PRESETS: dict[str, dict[str, Any]] = {
    "nyu_mini": {"name": "nyu_csv", "csv_path": "${data}/nyu/nyu2_mini_test/nyu2_mini_test.csv"},
    "tum_val": {"name": "tum_keyframes", "root": "${data}/tum/freiburg3_cabinet_keyframes"},
    "tum_rpy": {"name": "tum", "root": "${data}/tum/rgbd_dataset_freiburg1_rpy"},
}


def protocol_object(protocol: str, min_depth: float | None = None, max_depth: float | None = None):
    """A named protocol, optionally with another depth range (e.g. ``none`` with 1e-3..10 m)."""
    from rgb2depth.metrics import get_protocol

    p = get_protocol(protocol)
    if min_depth is not None or max_depth is not None:
        p = p.with_range(min_depth, max_depth)
    return p


PREPROCESS = ("resize", "paper003")


def crop_region(image_hw: Sequence[int], input_size: Sequence[int], out_hw: Sequence[int] | None = None
                ) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Paper 003's input of an ``image_hw`` frame: ``(top, left, height, width)`` of the centre
    crop of the half-resolution frame, and ``(y0, y1, x0, x1)``, the crop's area at ``out_hw``
    (default ``image_hw``). 480x640 with a 228x304 input: (6, 8, 228, 304), (12, 468, 16, 624).
    A half frame smaller than the input is a one-line ``ValueError``."""
    H, W = int(image_hw[0]), int(image_hw[1])
    h, w = int(input_size[0]), int(input_size[1])
    hh, hw = H // 2, W // 2
    if h > hh or w > hw:
        raise ValueError(f"preprocess paper003: a {H}x{W} image halved is {hh}x{hw}, smaller than the "
                         f"{h}x{w} network input")
    top, left = (hh - h) // 2, (hw - w) // 2
    oh, ow = (H, W) if out_hw is None else (int(out_hw[0]), int(out_hw[1]))
    sy, sx = oh / hh, ow / hw
    box = (round(top * sy), round((top + h) * sy), round(left * sx), round((left + w) * sx))
    return (top, left, h, w), box


def resize_images(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (N,C,H,W) images in [0, 1] exactly as :meth:`rgb2depth.inference.DepthPredictor.predict`
    and the training cache (:func:`rgb2depth.data.transforms.resize`) do: 8-bit values resized
    by OpenCV (:func:`rgb2depth.inference.api.resize_rgb`: ``INTER_AREA`` when shrinking,
    ``INTER_LINEAR`` when enlarging), so a model is scored on the very input it serves.

    Why not ``F.interpolate``: its ``area`` mode equals ``INTER_AREA`` only for integer factors
    (640x480 -> 320x240), not for 640x480 -> 256x192 (the default model's input); and the 8-bit
    rounding of the resized image matters too: on the 10 NYU sample images the default model's
    depth differs from predict's by about 2 % on average (mean |ratio - 1|) with a torch-area
    input and by about 1 % with a float OpenCV resize. Images come from 8-bit files everywhere
    in the toolkit, so the rounding loses nothing of the source.
    """
    from rgb2depth.inference.api import resize_rgb

    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    u8 = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = np.stack([resize_rgb(im, *size) for im in u8])
    return torch.from_numpy(out).to(x.device).permute(0, 3, 1, 2).float().div_(255.0).to(x.dtype)


@torch.no_grad()
def predict_metres(model: torch.nn.Module, image: torch.Tensor, out_size: tuple[int, int] | None = None,
                   input_size: tuple[int, int] | None = None, flip: bool = False,
                   channels_last: bool = False, focal: torch.Tensor | None = None,
                   preprocess: str = "resize") -> torch.Tensor:
    """(N,C,H,W) images in [0, 1] -> (N,1,h,w) depth in metres at ``out_size`` (default H, W).

    ``focal``: (N,) fx / width of each image (NaN when unknown), for networks that predict depth
    for a canonical camera (:func:`rgb2depth.models.camera_scale`).

    The image is resized to ``input_size`` before the network when given, the way training
    and :func:`rgb2depth.inference.api.resize_rgb` do (:func:`resize_images`); the output is resized
    bilinearly to ``out_size``. ``preprocess="paper003"``: the network sees the centre crop of
    the half-resolution image (:func:`crop_region`; ``input_size`` default: the model's); its
    output is upsampled to the crop's area of ``out_size`` and the border outside is filled by
    repeating the edge (only for display: :func:`evaluate_dataset` scores inside the area).
    """
    from rgb2depth.models import camera_scale, to_metres

    meta = model.meta
    scale = camera_scale(meta, focal)
    if isinstance(scale, torch.Tensor):
        scale = scale.to(image.device).view(-1, 1, 1, 1)
    if out_size is None:
        out_size = tuple(image.shape[-2:])
    x = image
    if x.shape[1] == 3 and meta.in_channels == 1:
        # grayscale models (paper 002): ITU-R 601 luma, as rgb2depth.data.transforms.grayscale
        w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        x = (x * w).sum(1, keepdim=True)
    box = None
    if preprocess == "paper003":
        if not (input_size or meta.input_size):
            raise ValueError("preprocess paper003: the model states no input size to crop to; give one")
        (top, left, h, w), box = crop_region(x.shape[-2:], input_size or meta.input_size, out_size)
        x = resize_images(x, (x.shape[-2] // 2, x.shape[-1] // 2))[..., top:top + h, left:left + w]
    elif preprocess != "resize":
        raise ValueError(f"unknown preprocess {preprocess!r} (expected one of {', '.join(PREPROCESS)})")
    elif input_size is not None and tuple(x.shape[-2:]) != tuple(input_size):
        x = resize_images(x, input_size)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    def run(inp: torch.Tensor) -> torch.Tensor:
        y = to_metres(model(inp).float(), meta) * scale
        target = tuple(out_size) if box is None else (box[1] - box[0], box[3] - box[2])
        if tuple(y.shape[-2:]) != target:
            y = F.interpolate(y, size=target, mode="bilinear", align_corners=False)
        if box is not None:
            pad = (box[2], out_size[1] - box[3], box[0], out_size[0] - box[1])
            y = F.pad(y, pad, mode="replicate")
        return y

    y = run(x)
    if flip:
        y = 0.5 * (y + torch.flip(run(torch.flip(x, dims=[-1])), dims=[-1]))
    return y


def _batches(dataset, batch_size: int, limit: int | None):
    """Consecutive items grouped into batches of equal image/depth size."""
    n = len(dataset) if limit is None else min(len(dataset), int(limit))
    group: list[dict] = []
    for i in range(n):
        s = dataset[i]
        if group and (s["image"].shape != group[0]["image"].shape or s["depth"].shape != group[0]["depth"].shape
                      or len(group) >= batch_size):
            yield group
            group = []
        group.append(s)
    if group:
        yield group


def evaluate_dataset(
    model: torch.nn.Module,
    dataset,
    protocol: str = "nyu",
    min_depth: float | None = None,
    max_depth: float | None = None,
    align: str | None = None,
    aggregation: str = "per_image",
    flip: bool = False,
    batch_size: int = 4,
    input_size: tuple[int, int] | None = None,
    channels_last: bool = False,
    keep_images: int = 0,
    limit: int | None = None,
    progress: bool = False,
    preprocess: str = "resize",
) -> dict[str, Any]:
    """Score ``model`` on a torch-sample dataset (``image``/``depth``/``valid``/``id`` items).

    ``preprocess``: ``"resize"`` or ``"paper003"`` (half resolution, centre crop; only the
    crop's area of each image is scored), see :func:`predict_metres`. A relative-depth dataset
    is scored after a scale-and-shift fit in inverse depth (:func:`relative_alignment`); its
    RMSE and other absolute errors are then in the loader's stand-in units, not metres.

    Returns ``{"metrics": {key: float}, "result": MetricAccumulator.compute(), "per_image":
    [...], "images": [{"rgb", "gt", "pred", "id"}] (first ``keep_images``), "time_s"}``.
    """
    from rgb2depth.metrics import MetricAccumulator

    was_training = model.training
    model.eval()
    proto = protocol_object(protocol, min_depth, max_depth)
    space = relative_alignment(getattr(dataset, "source", dataset), align, "depth")
    acc = MetricAccumulator(proto, aggregation=aggregation, align=align, align_space=space)
    images: list[dict] = []
    device = next(model.parameters()).device
    t0 = time.perf_counter()
    n_total = len(dataset) if limit is None else min(len(dataset), int(limit))
    bar = None
    if progress:
        from rgb2depth.progress import progress_bar

        bar = progress_bar(total=n_total, unit="img", desc="evaluating")
    try:
        for group in _batches(dataset, batch_size, limit):
            image = torch.stack([s["image"] for s in group]).to(device)
            depth = torch.stack([s["depth"] for s in group])
            valid = torch.stack([s["valid"] for s in group])
            ids = [s["id"] for s in group]
            focal = None
            if all("K" in s for s in group):
                focal = torch.stack([s["K"][0] / s["image"].shape[-1] for s in group])
            pred = predict_metres(model, image, out_size=tuple(depth.shape[-2:]), input_size=input_size,
                                  flip=flip, channels_last=channels_last, focal=focal, preprocess=preprocess).cpu()
            if preprocess == "paper003":  # score only where the network saw the image
                _, (y0, y1, x0, x1) = crop_region(image.shape[-2:], input_size or model.meta.input_size,
                                                  depth.shape[-2:])
                inside = torch.zeros_like(valid)
                inside[..., y0:y1, x0:x1] = True
                valid = valid & inside
            gt = torch.where(valid, depth, torch.full_like(depth, float("nan")))
            acc.update(pred[:, 0].numpy(), gt[:, 0].numpy(), valid[:, 0].numpy(), id=ids)
            for k in range(len(group)):
                if len(images) < keep_images:
                    rgb = (group[k]["image"].permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
                    if rgb.shape[2] == 1:
                        rgb = np.repeat(rgb, 3, axis=2)
                    images.append({"id": ids[k], "rgb": rgb, "gt": gt[k, 0].numpy(),
                                   "pred": vis_prediction(acc, pred[k, 0].numpy(), gt[k, 0].numpy(), valid[k, 0].numpy())})
            if bar is not None:
                bar.update(len(group))
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    return _summary(acc, images, t0, preprocess=preprocess)


def build_eval_dataset(spec: dict, size: tuple[int, int] | None = None, augment: dict | None = None):
    """A torch-sample dataset at ground-truth resolution (or ``size``) from a loader spec."""
    from rgb2depth.data import DepthDataset, transforms
    from rgb2depth.training.data import build_source

    source = build_source(spec)
    transform = transforms.build(augment or {}, train=False, size=size)
    return DepthDataset(source, transform, seed=0, with_K=True)


def resolve_dataset_spec(name: str | None, args: Sequence[str] = ()) -> dict:
    """``--dataset NAME [--data key=value ...]`` -> a loader spec (``${data}`` expanded)."""
    from rgb2depth.paths import shared_data_dir
    from rgb2depth.training.config import ConfigError, parse_override, substitute

    if name is None:
        raise ConfigError("--dataset is required")
    spec = dict(DATASET_PRESETS.get(name, {"name": name}))
    for a in args:
        keys, value = parse_override(a)
        spec[".".join(keys)] = value
    d = shared_data_dir()
    return substitute(spec, {"data": str(d) if d is not None else None}, f"--dataset {name}")


def load_any_model(name_or_path: str, device: str = "cpu") -> tuple[torch.nn.Module, dict]:
    """``"default"`` (the shipped weights), a model file / training checkpoint path, or a
    registered model name (untrained)."""
    from rgb2depth import models
    from rgb2depth.inference.api import default_weights_path
    from rgb2depth.models.io import load_model

    p = default_weights_path() if name_or_path == "default" else Path(name_or_path)
    if p.suffix in (".pt", ".pth") or p.exists():
        model = load_model(p, map_location=device)
        info = dict(getattr(model, "rgb2depth_info", {}) or {})
        info["file"] = str(p)
        return model.to(device).eval(), info
    if name_or_path in models.names():
        return models.create(name_or_path).to(device).eval(), {"file": None, "untrained": True}
    raise FileNotFoundError(f"{name_or_path}: neither a model file nor a registered model "
                            f"(known: {', '.join(models.names())})")


#: What a predictions folder may hold: depth in metres, or inverse depth / disparity of any scale.
PREDICTION_KINDS = ("depth", "inverse_depth", "disparity")


def prediction_files(folder: Path) -> dict[str, Path]:
    """The prediction files of a folder, keyed by the sample name they are for.

    ``<name>.npy`` (float HxW) and the 16-bit PNGs ``rgb2depth predict --save png16`` writes
    (``<name>_depth.png``; any other ``<name>.png`` except the colour maps ``*_color.png``). When
    a name has both, the ``.npy`` (full precision) is used.
    """
    files: dict[str, Path] = {}
    for p in sorted(folder.rglob("*.png")):
        if p.stem.endswith("_color"):
            continue
        files[p.stem.removesuffix("_depth")] = p
    for p in sorted(folder.rglob("*.npy")):
        files[p.stem] = p
    return files


def read_prediction(path: Path, kind: str = "depth") -> np.ndarray:
    """One saved prediction as HxW float32, NaN where it has no value.

    ``.npy``: the stored values (non-finite = none; for ``kind="depth"`` also <= 0).
    ``.png``: a 16-bit single-channel PNG, 0 = none; depth in millimetres (``predict --save
    png16``), so metres = value / 1000; inverse depth or disparity as stored (its unknown scale
    is fitted by the alignment anyway). Raises ValueError (one line naming the file).
    """
    import cv2

    if path.suffix.lower() == ".png":
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise ValueError(f"{path}: unreadable PNG")
        if raw.dtype != np.uint16 or raw.ndim != 2:
            raise ValueError(f"{path}: expected a 16-bit single-channel PNG (as predict --save png16 writes), "
                             f"got {raw.dtype} with shape {raw.shape}")
        pred = raw.astype(np.float32) / (1000.0 if kind == "depth" else 1.0)
        return np.where(raw > 0, pred, np.nan).astype(np.float32)
    try:
        pred = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - reported with the file named
        raise ValueError(f"{path}: unreadable ({e.__class__.__name__}: {e})") from None
    pred = np.squeeze(np.asarray(pred, dtype=np.float32))
    if pred.ndim != 2:
        raise ValueError(f"{path}: expected an HxW map, got shape {pred.shape}")
    ok = np.isfinite(pred) & (pred > 0) if kind == "depth" else np.isfinite(pred)
    return np.where(ok, pred, np.nan).astype(np.float32)


def find_prediction(sample_id: str, index: int, files: dict[str, Path]) -> Path | None:
    """The file for a sample: by id, by the id's last path component/stem, by index (``000012``
    or ``12``), else the one file named ``<id>_...`` (predict names outputs after the input
    image, e.g. ``0000_rgb_raw`` for the sample ``0000``). Several such files: ValueError."""
    cands = [sample_id, Path(sample_id).name, Path(sample_id).stem, sample_id.replace("/", "_"), f"{index:06d}", str(index)]
    for c in cands:
        if c in files:
            return files[c]
    for c in dict.fromkeys(cands[:4]):
        hits = [k for k in files if k.startswith(c + "_")]
        if len(hits) > 1:
            raise ValueError(f"sample {sample_id!r}: several prediction files could be its own "
                             f"({', '.join(files[k].name for k in hits[:3])})")
        if hits:
            return files[hits[0]]
    return None


def relative_alignment(source, align: str | None, space: str) -> str:
    """The alignment space for scoring predictions in ``space`` against ``source``.

    Metric data: ``space``. A loader whose depth is known only up to a scale and a shift of
    inverse depth (``relative_depth``, e.g. ``middlebury_relative``) is scored only with
    ``align="scale_shift"`` in inverse depth (any other alignment, or none, would score a stand-in
    depth as if it were metres): ``"inverse"`` for inverse-depth predictions, ``"inverse_fit"``
    for depth predictions (:mod:`rgb2depth.metrics.alignment`).
    """
    from rgb2depth.training.data import is_relative

    if not is_relative(source):
        return space
    if align != "scale_shift":
        name = getattr(source, "name", type(source).__name__)
        raise ValueError(f"{name} gives depth only up to scale and shift of inverse depth: score it with "
                         f"--align scale_shift (fitted in inverse depth), not {align or 'none'!r}")
    return "inverse" if space == "inverse" else "inverse_fit"


def evaluate_predictions(
    folder: str | Path,
    source: Sequence[dict],
    protocol: str = "nyu",
    min_depth: float | None = None,
    max_depth: float | None = None,
    align: str | None = None,
    aggregation: str = "per_image",
    limit: int | None = None,
    keep_images: int = 0,
    kind: str = "depth",
) -> dict[str, Any]:
    """Score saved predictions against a loader's ground truth.

    The folder holds ``.npy`` maps or 16-bit PNGs (:func:`prediction_files`,
    :func:`read_prediction`). ``kind``: ``"depth"`` (metres), or ``"inverse_depth"`` /
    ``"disparity"`` (any scale and offset): these are aligned to the inverse ground truth and
    inverted (:func:`rgb2depth.metrics.alignment.align`, ``space="inverse"``), so they need an
    ``align`` method (``scale_shift`` for affine-invariant outputs such as MiDaS', ``scale`` for
    disparity with an unknown baseline).

    A prediction of another size than the ground truth is resized bilinearly (so results made
    at a network's input size score at ground-truth resolution). A sample without a file is
    listed in ``missing`` (its id), an unreadable or malformed file in ``bad`` (one line naming
    the file); both are skipped and also listed in ``errors``; ``formats`` counts the files
    scored by type.
    """
    import cv2

    from rgb2depth.metrics import MetricAccumulator

    if kind not in PREDICTION_KINDS:
        raise ValueError(f"unknown prediction kind {kind!r} (choose from {', '.join(PREDICTION_KINDS)})")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: predictions folder not found")
    files = prediction_files(folder)
    if not files:
        raise FileNotFoundError(f"{folder}: no prediction files (.npy, or 16-bit .png as predict --save png16 writes)")
    space = relative_alignment(source, align, "depth" if kind == "depth" else "inverse")
    acc = MetricAccumulator(protocol_object(protocol, min_depth, max_depth), aggregation=aggregation, align=align,
                            align_space=space)
    missing: list[str] = []
    bad: list[str] = []
    formats = {"npy": 0, "png16": 0}
    images: list[dict] = []
    t0 = time.perf_counter()
    n = len(source) if limit is None else min(len(source), int(limit))
    for i in range(n):
        s = source[i]
        sid = str(s["id"])
        try:
            path = find_prediction(sid, i, files)
            if path is None:
                missing.append(sid)
                continue
            pred = read_prediction(path, kind)
        except ValueError as e:
            bad.append(str(e))
            continue
        gt = s["depth"]
        if pred.shape != gt.shape:
            pred = cv2.resize(pred, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
        ok = s["valid"] & np.isfinite(pred)
        try:
            acc.update(pred, gt, ok, id=sid)
        except ValueError as e:  # e.g. an alignment undefined for this map (a constant one)
            bad.append(f"{path}: {e}")
            continue
        formats["npy" if path.suffix == ".npy" else "png16"] += 1
        if len(images) < keep_images:
            images.append({"id": sid, "rgb": s["rgb"], "gt": gt, "pred": vis_prediction(acc, pred, gt, ok)})
    errors = [f"{folder}/{sid}: no prediction file for sample {sid!r}" for sid in missing] + bad
    if acc.count == 0:
        raise ValueError(f"{folder}: no prediction could be scored ({len(errors)} errors; first: "
                         f"{errors[0] if errors else '-'})")
    return _summary(acc, images, t0, errors=errors, missing=missing, bad=bad, expected=n, formats=formats)


def vis_prediction(acc, pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The prediction as ``acc`` scored it (aligned and clamped), float32 metres, for the
    qualitative figures; NaN where it has no value or when its alignment is undefined."""
    try:
        p, _ = acc.scored_prediction(pred, gt, acc.valid_mask(gt, valid))
    except ValueError:
        return np.full(gt.shape, np.nan, np.float32)
    return np.where(np.isfinite(pred), p, np.nan).astype(np.float32)


def _summary(acc, images: list[dict], t0: float, **extra) -> dict:
    """The result dict both evaluation paths return (model run or saved predictions)."""
    from rgb2depth.metrics import METRIC_KEYS

    result = acc.compute()
    return {
        "metrics": {k: float(result[k]) for k in METRIC_KEYS},
        "result": result,
        "per_image": acc.per_image,
        "skipped": list(acc.skipped),
        **extra,
        "images": images,
        "time_s": time.perf_counter() - t0,
    }


def save_vis(images: list[dict], path: str | Path, max_width: int = 320) -> None:
    """The qualitative samples (RGB, GT, prediction) as one ``.npz`` for reports (downsized).

    The prediction is in metres as the metrics saw it (:func:`vis_prediction`: aligned when the
    evaluation aligns), so a report's figure for each alignment shows what was scored."""
    import cv2

    out: dict[str, np.ndarray] = {}
    for k, im in enumerate(images):
        h, w = im["gt"].shape
        s = min(1.0, max_width / w)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        out[f"rgb_{k}"] = cv2.resize(im["rgb"], size, interpolation=cv2.INTER_AREA)
        out[f"gt_{k}"] = cv2.resize(im["gt"], size, interpolation=cv2.INTER_NEAREST)
        out[f"pred_{k}"] = cv2.resize(im["pred"], size, interpolation=cv2.INTER_LINEAR)
        out[f"id_{k}"] = np.array(str(im["id"]))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **out)


def load_vis(path: str | Path) -> list[dict]:
    z = np.load(path, allow_pickle=False)
    n = len([k for k in z.files if k.startswith("rgb_")])
    return [{"rgb": z[f"rgb_{k}"], "gt": z[f"gt_{k}"], "pred": z[f"pred_{k}"], "id": str(z[f"id_{k}"])}
            for k in range(n)]
