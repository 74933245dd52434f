"""Live depth from a camera (``rgb2depth predict --camera N``), via OpenCV ``VideoCapture(N)``.

Frames are processed as a video stream (:func:`rgb2depth.inference.video.process_stream`): the
colour-mapped depth is recorded to ``OUT/cameraN_depth.mp4`` (and per-frame files on request)
until ``max_frames`` frames or Ctrl-C. Nothing is displayed (the toolkit runs headless).
"""

from __future__ import annotations

from rgb2depth.inference.video import VideoReadError, process_stream


def predict_camera(predictor, index: int, writer, frame_files: bool = False, smooth: float = 0.0,
                   max_frames: int | None = None, progress: bool | None = None) -> dict:
    """Record depth from camera ``index``; see :func:`process_stream`. Raises VideoReadError."""
    if index < 0:
        raise VideoReadError(f"camera {index}: camera index must be >= 0")
    return process_stream(predictor, int(index), f"camera {index}", f"camera{index}", writer,
                          frame_files=frame_files, smooth=smooth, max_frames=max_frames, progress=progress)


__all__ = ["VideoReadError", "predict_camera"]
