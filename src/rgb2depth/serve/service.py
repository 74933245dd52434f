"""The model behind the web server: decode an upload, predict under a lock, encode one format.

Everything a request can ask for is made by the same code as ``rgb2depth predict``, so a file
downloaded from the page is byte-for-byte what the command writes for the same image:

- decoding: :func:`rgb2depth.inference.imageio.read_image` (EXIF orientation, modes, the
  decompression-bomb guard, the minimum size) on the upload saved to a temporary file;
- prediction: :meth:`DepthPredictor.predict_rgb` of ``rgb2depth.load(model)``, with the focal
  length the ``predict`` command uses: ``?focal=`` (pixels), else the upload's EXIF focal
  length (:meth:`DepthPredictor.image_focal`), else the model's own camera;
- ``npy`` / ``png16`` / ``color`` / ``ply``: :class:`rgb2depth.inference.outputs.OutputWriter`
  writing into the request's temporary folder, then the file's bytes are sent;
- ``json``: a summary for the page (sizes, depth statistics, the display range of the colour
  map, the camera) with the colour PNG and a subsampled point cloud
  (:func:`rgb2depth.geometry.pointcloud.depth_to_pointcloud`, the back-projection behind the
  PLY) inlined as base64.

The network runs in one worker thread (:class:`Batcher`): requests from several clients are
decoded and encoded in parallel by the server's thread pool, and their images wait in a queue
for the network. The worker takes whatever is waiting (up to ``max_batch``) and runs it as one
batch (:meth:`DepthPredictor.predict_rgb_batch`), so a lone request never waits for company
and concurrent ones share a forward pass; ``benchmarks/bench_serve.py`` measures batches
against one-at-a-time. ``max_batch=1`` runs the images one at a time.
"""

from __future__ import annotations

import base64
import queue
import re
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: ``?format=`` values of ``POST /api/predict``; the first is the default.
FORMATS = ("npy", "png16", "color", "ply", "json")
#: Content types of the formats.
MEDIA_TYPES = {
    "npy": "application/octet-stream",
    "png16": "image/png",
    "color": "image/png",
    "ply": "application/octet-stream",
    "json": "application/json",
}
#: Largest request body accepted by default (bytes): a 48-megapixel JPEG fits.
DEFAULT_MAX_UPLOAD_BYTES = 25 * 1024 * 1024
#: Largest image accepted by default (pixels). Below the library's 100 MP: a server holds several
#: requests at once, and one request needs about 20 bytes per pixel (RGB, depth, colour map).
DEFAULT_MAX_PIXELS = 50_000_000
#: Points in the ``json`` summary's point cloud by default (enough for the page's 3D view).
DEFAULT_VIEW_POINTS = 40_000
#: Most images the network runs at once by default (requests waiting together share a pass).
DEFAULT_MAX_BATCH = 4


class RequestError(ValueError):
    """A request the server cannot serve; ``status`` is the HTTP code, ``str()`` one line."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def safe_name(filename: str | None) -> str:
    """The upload's base name reduced to ``[A-Za-z0-9_-]`` plus its extension (stem at most 100
    characters), so it can name a temporary file and the downloads; ``"upload"`` when nothing
    usable is left. ``"../my photo (1).JPG"`` -> ``"my_photo_1.JPG"``."""
    base = Path((filename or "").replace("\\", "/")).name
    suffix = re.sub(r"[^A-Za-z0-9]+", "", Path(base).suffix)[:10]
    stem = re.sub(r"[^A-Za-z0-9-]+", "_", base[: len(base) - len(Path(base).suffix)]).strip("_-")[:100]
    stem = stem or "upload"
    return f"{stem}.{suffix}" if suffix else stem


@dataclass
class Prediction:
    """One decoded upload and its depth; ``name`` is the upload's safe name."""

    name: str
    rgb: np.ndarray
    depth: np.ndarray
    timings_ms: dict = field(default_factory=dict)
    focal: float | None = None  # the camera's focal length (px) the depth was scaled for

    @property
    def stem(self) -> str:
        return Path(self.name).stem or "upload"


@dataclass
class Options:
    """Per-request output options (the ``predict`` command's options of the same names)."""

    cmap: str = "turbo"
    colorbar: bool = False
    intrinsics: str | None = None  # "fx,fy,cx,cy" in pixels of the uploaded image
    ply_max_points: int | None = None  # None: the command's default
    view_points: int = DEFAULT_VIEW_POINTS  # json only; 0 = no point cloud


class Batcher:
    """One worker thread running the network for every request thread (see the module docstring).

    :meth:`predict` queues an image and waits for its depth. The worker takes the first waiting
    image and any others already queued, up to ``max_batch``: one image runs through
    ``predict_rgb``, several through ``predict_rgb_batch``, each result then scaled for its
    camera by ``focal_scale`` as ``predict_rgb`` does. If a batch fails, its images are retried
    one by one so that each request gets its own result or error.
    """

    def __init__(self, predictor, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.predictor = predictor
        self.max_batch = int(max_batch)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="rgb2depth-network", daemon=True)
        self._thread.start()

    def predict(self, rgb: np.ndarray, name: str, focal: float | None = None) -> np.ndarray:
        done: Future = Future()
        self._queue.put((rgb, name, focal, done))
        return done.result()

    def _work(self) -> None:
        while True:
            jobs = [self._queue.get()]
            while len(jobs) < self.max_batch:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if len(jobs) > 1:
                try:
                    depths = self.predictor.predict_rgb_batch(
                        [j[0] for j in jobs], batch_size=self.max_batch, names=[j[1] for j in jobs])
                except Exception:  # noqa: BLE001 - retried one by one below, each with its own error
                    pass
                else:
                    for (rgb, _, focal, done), depth in zip(jobs, depths, strict=True):
                        scale = self.predictor.focal_scale(focal, rgb.shape[1])
                        done.set_result(depth if scale == 1 else depth * np.float32(scale))
                    continue
            for rgb, name, focal, done in jobs:
                try:
                    done.set_result(self.predictor.predict_rgb(rgb, name=name, focal=focal))
                except BaseException as e:  # noqa: BLE001 - handed to the waiting request
                    done.set_exception(e)


class DepthService:
    """A loaded :class:`~rgb2depth.inference.api.DepthPredictor` shared by the server's threads."""

    def __init__(self, predictor, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                 max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self.predictor = predictor
        self.max_pixels = max_pixels
        self.batcher = Batcher(predictor, max_batch)

    def warm_up(self) -> None:
        """Run the network and the colour map once on a blank image, so that the first upload
        does not pay for lazy imports, memory allocation and the first forward pass."""
        from rgb2depth.inference.outputs import color_image

        h, w = self.predictor.meta.input_size
        depth = self.batcher.predict(np.full((h, w, 3), 128, np.uint8), name="<warm-up>")
        color_image(depth, colorbar=True)

    def predict_file(self, path: Path, name: str, focal: float | None = None) -> Prediction:
        """Decode the upload saved at ``path`` and predict its depth for a camera of ``focal``
        pixels, else the file's EXIF focal length, else the model's own camera.

        Raises :class:`RequestError` (400) for unusable images, its message naming ``name``
        instead of the temporary path.
        """
        from rgb2depth.inference.imageio import ImageReadError, read_image

        t0 = time.perf_counter()
        try:
            rgb = read_image(path, max_pixels=self.max_pixels)
        except ImageReadError as e:
            raise RequestError(str(e).replace(str(path), name)) from None
        focal = self.predictor.image_focal(path, focal)
        t1 = time.perf_counter()
        depth = self.batcher.predict(rgb, name, focal)
        t2 = time.perf_counter()
        return Prediction(name, rgb, depth, {"decode": (t1 - t0) * 1e3, "predict": (t2 - t1) * 1e3}, focal)

    @staticmethod
    def writer(folder: Path, kinds: tuple[str, ...], opts: Options):
        """The ``predict`` command's :class:`OutputWriter` for ``kinds``; bad options -> 400."""
        from rgb2depth.inference.outputs import DEFAULT_PLY_MAX_POINTS, OutputWriter

        ply_max = DEFAULT_PLY_MAX_POINTS if opts.ply_max_points is None else (opts.ply_max_points or None)
        try:
            return OutputWriter(folder, kinds, opts.cmap, opts.colorbar, opts.intrinsics, ply_max)
        except ValueError as e:
            raise RequestError(str(e).splitlines()[0].replace("--", "")) from None

    def encode(self, pred: Prediction, fmt: str, folder: Path, opts: Options) -> tuple[bytes, str]:
        """``(body, download file name)`` of ``pred`` in format ``fmt`` (see :data:`FORMATS`)."""
        if fmt not in FORMATS:
            raise RequestError(f"format: unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
        if fmt == "json":
            import json

            body = json.dumps(self.summary(pred, folder, opts)).encode()
            return body, f"{pred.stem}.json"
        t0 = time.perf_counter()
        (path,) = self.writer(folder, (fmt,), opts).write(pred.stem, pred.depth, pred.rgb)
        pred.timings_ms["encode"] = (time.perf_counter() - t0) * 1e3
        return path.read_bytes(), path.name

    def summary(self, pred: Prediction, folder: Path, opts: Options) -> dict:
        """What the page shows: sizes, depth statistics in metres, the colour map's display
        range, the camera, the colour PNG and a point cloud of at most ``opts.view_points``."""
        from rgb2depth.geometry.pointcloud import depth_to_pointcloud, stride_for
        from rgb2depth.inference.outputs import display_range

        t0 = time.perf_counter()
        depth = pred.depth
        h, w = depth.shape
        writer = self.writer(folder, ("color",), opts)
        vrange = display_range(depth)
        (color_path,) = writer.write(pred.stem, depth, pred.rgb, vrange=vrange)
        ok = depth[np.isfinite(depth) & (depth > 0)]
        K = writer.camera(w, h)
        out = {
            "name": pred.name,
            "model": self.predictor.name,
            "width": w,
            "height": h,
            "network_size": list(self.predictor.network_size(h, w)),
            "depth": {
                "min": float(ok.min()) if ok.size else None,
                "median": float(np.median(ok)) if ok.size else None,
                "max": float(ok.max()) if ok.size else None,
                "valid_fraction": float(ok.size / depth.size),
            },
            "display_range": [float(vrange[0]), float(vrange[1])],
            "cmap": opts.cmap,
            "focal_px": pred.focal,  # None: the model's own camera was assumed
            "intrinsics": {"fx": K.fx, "fy": K.fy, "cx": K.cx, "cy": K.cy},  # of the point cloud
            "color_png": base64.b64encode(color_path.read_bytes()).decode(),
            "points": None,
        }
        if opts.view_points > 0:
            cloud = depth_to_pointcloud(depth, K, pred.rgb, stride=stride_for(h * w, opts.view_points))
            xyz = np.ascontiguousarray(cloud.points, dtype="<f4")
            out["points"] = {
                "count": int(len(xyz)),
                "xyz": base64.b64encode(xyz.tobytes()).decode(),  # float32 little-endian, N x 3
                "rgb": base64.b64encode(np.ascontiguousarray(cloud.colors, dtype=np.uint8).tobytes()).decode(),
            }
        pred.timings_ms["encode"] = (time.perf_counter() - t0) * 1e3
        out["timings_ms"] = {k: round(v, 2) for k, v in pred.timings_ms.items()}
        return out

    def info(self, max_upload_bytes: int) -> dict:
        """``GET /api/model``: name, input size, output kind, licence, limits."""
        p = self.predictor
        meta = p.meta
        return {
            "name": p.name,
            "backend": p.backend,
            "untrained": bool(p.untrained),
            "input_size": list(meta.input_size),
            "output": meta.output,
            "max_depth": meta.max_depth,
            "paper": meta.paper,
            "licence": model_licence(p),
            "formats": list(FORMATS),
            "max_upload_bytes": max_upload_bytes,
            "max_pixels": self.max_pixels,
            "max_batch": self.batcher.max_batch,
        }


def model_licence(predictor) -> str:
    """The licence of the served weights, as far as the model itself records it.

    ``meta.extra["licence"]`` when the model file carries one; for the shipped default model the
    "Training data and licences" paragraph of its model card; otherwise a line saying it is not
    recorded.
    """
    text = (predictor.meta.extra or {}).get("licence")
    if text:
        return str(text)
    if predictor.name == "default":
        from rgb2depth.paths import WEIGHTS_DIR

        card = WEIGHTS_DIR / "MODEL_CARD.md"
        if card.is_file():
            for para in card.read_text(encoding="utf-8").split("\n\n"):
                if para.startswith("**Training data and licences.**"):
                    body = para.removeprefix("**Training data and licences.**")
                    return "rgb2depth code: MIT. Weights: " + " ".join(body.replace("**", "").split())
        return "rgb2depth code: MIT; weights: see rgb2depth/weights/MODEL_CARD.md"
    if predictor.untrained:
        return "random weights (untrained): no data licence applies"
    return "not recorded in the model file; ask whoever trained it"
