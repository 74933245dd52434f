"""Depth for videos and live cameras, frame by frame (OpenCV ``VideoCapture``/``VideoWriter``).

For a video ``clip.mp4`` (or camera ``N``, named ``cameraN``) and output folder ``OUT``:

- ``OUT/clip_depth.mp4``: the colour-mapped depth video (MPEG-4 part 2, ``mp4v``), at the
  source's frame rate (30 fps when the source does not report one) and resolution (plus the
  colour bar when asked). The display range follows the 2nd..98th depth percentiles of each
  frame through an exponential moving average (weight 0.1 for the new frame), so colours do
  not flicker but adapt when the scene changes.
- per-frame files ``OUT/clip/clip_000000.npy`` ... (same kinds as for images) when asked.

Temporal smoothing (``smooth`` = a in [0, 1)): the depth written for frame t is
``a * D[t-1] + (1 - a) * P[t]`` where P is the network's prediction and D the previous
written depth (an exponential moving average; 0 = off). It reduces frame-to-frame flicker of a
single-image network at the cost of lag on moving objects.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rgb2depth.fileio import atomic_path

#: Exponential-moving-average weight of a new frame's display range.
RANGE_EMA = 0.1


class VideoReadError(RuntimeError):
    """A video or camera could not be read; the message is one line naming it."""


def open_capture(source: str | int | os.PathLike, name: str):
    """An opened ``cv2.VideoCapture`` on a file or camera index, or :class:`VideoReadError`."""
    import cv2

    if not isinstance(source, int):
        p = Path(source)
        if not p.exists():
            raise VideoReadError(f"{name}: no such file")
        if p.stat().st_size == 0:
            raise VideoReadError(f"{name}: empty file (0 bytes)")
        source = str(p)
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        cap.release()
        what = "camera could not be opened" if isinstance(source, int) else "cannot open video (unsupported format or corrupt file)"
        raise VideoReadError(f"{name}: {what}")
    return cap


def iter_frames(cap, name: str, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """RGB uint8 frames from ``cap``; a source that yields no frame at all is an error."""
    import cv2

    n = 0
    while max_frames is None or max_frames <= 0 or n < max_frames:
        ok, frame = cap.read()
        if not ok or frame is None:
            break
        n += 1
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
        else:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        yield frame
    if n == 0:
        raise VideoReadError(f"{name}: no frame could be decoded (unreadable or empty video)")


def process_stream(
    predictor,
    source: str | int | os.PathLike,
    name: str,
    stem: str,
    writer,
    frame_files: bool = False,
    smooth: float = 0.0,
    max_frames: int | None = None,
    progress: bool | None = None,
    focal: float | None = None,
) -> dict:
    """Predict every frame of a video file or camera; write the depth video (+ frame files).

    ``writer`` is an :class:`~rgb2depth.inference.outputs.OutputWriter` (its ``outdir``,
    ``cmap``, ``colorbar`` are used for the video, and its ``save`` kinds for the per-frame files
    when ``frame_files``). ``focal``: the camera's focal length in pixels (see
    :meth:`~rgb2depth.inference.api.DepthPredictor.predict`). Returns ``{"frames", "video", "seconds"}``. Raises
    :class:`VideoReadError` when the source cannot be read. Ctrl-C ends a camera run cleanly.
    """
    import time

    import cv2

    from rgb2depth.inference.imageio import check_size
    from rgb2depth.inference.outputs import color_image, display_range
    from rgb2depth.progress import progress_bar

    if not 0.0 <= smooth < 1.0:
        raise ValueError(f"--smooth must be in [0, 1), got {smooth}")
    cap = open_capture(source, name)
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    fps = fps if 1.0 <= fps <= 240.0 else 30.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    if max_frames and max_frames > 0:
        total = min(total, max_frames) if total > 0 else max_frames
    out_path = Path(writer.outdir) / f"{stem}_depth.mp4"
    vw = None
    prev = None
    vrange = None
    n = 0
    t0 = time.perf_counter()
    bar = progress_bar(total=total or None, desc=name, unit="frame", disable=True if progress is False else (None if progress is None else False), leave=False)
    # written to a temporary file and renamed when complete (rgb2depth.fileio): a failed or
    # interrupted run leaves no half-written video
    with atomic_path(out_path) as tmp_path:
        try:
            for rgb in iter_frames(cap, name, max_frames):
                if n == 0:
                    check_size(rgb.shape[1], rgb.shape[0], name, predictor.max_pixels)
                depth = predictor.predict_rgb(rgb, name=f"{name}[{n}]", focal=focal)
                if smooth > 0 and prev is not None and prev.shape == depth.shape:
                    depth = (smooth * prev + (1.0 - smooth) * depth).astype(np.float32)
                prev = depth
                lo, hi = display_range(depth)
                vrange = (lo, hi) if vrange is None else (
                    (1 - RANGE_EMA) * vrange[0] + RANGE_EMA * lo, (1 - RANGE_EMA) * vrange[1] + RANGE_EMA * hi)
                img = color_image(depth, writer.cmap, writer.colorbar, vrange)
                if vw is None:
                    vw = cv2.VideoWriter(str(tmp_path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (img.shape[1], img.shape[0]))
                    if not vw.isOpened():
                        raise VideoReadError(f"{out_path}: cannot write the depth video")
                vw.write(np.ascontiguousarray(img[..., ::-1]))
                if frame_files and writer.save:
                    writer.write(Path(stem) / f"{stem}_{n:06d}", depth, rgb, vrange=vrange)
                n += 1
                bar.update(1)
        except KeyboardInterrupt:
            if isinstance(source, int) and n > 0:
                pass  # a camera run ends with Ctrl-C: keep what was recorded
            else:
                raise
        finally:
            bar.close()
            cap.release()
            if vw is not None:
                vw.release()
    return {"frames": n, "video": out_path, "seconds": time.perf_counter() - t0}
