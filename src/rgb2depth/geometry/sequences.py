"""Sequences a reconstruction reads: RGB-D datasets, image folders and videos.

:func:`open_sequence` turns a path into lazily loaded sample dicts (every ``stride``-th frame,
at most ``max_frames``): RGB-D datasets through ``rgb2depth.data.create`` (TUM, 7-Scenes, TUM
keyframes, the generic rgb/+depth/ folder); image folders and videos give RGB-only frames
(``depth`` None) that need a depth network and intrinsics.
"""

from __future__ import annotations

from pathlib import Path

from rgb2depth.geometry.camera import Intrinsics
from rgb2depth.geometry.frames import ReconstructionError


class ImageSequence:
    """A folder of RGB images (sorted by name) without depth: predicted depth + odometry only."""

    def __init__(self, root, K: Intrinsics | None = None) -> None:
        from rgb2depth.inference.imageio import find_images

        self.root = Path(root)
        self.paths = find_images(self.root)
        if not self.paths:
            raise ReconstructionError(f"{self.root}: no images found")
        self.K = K

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict:
        from rgb2depth.inference.imageio import read_image

        p = self.paths[i]
        rgb = read_image(p)
        K = self.K
        if K is not None and (K.width, K.height) != (rgb.shape[1], rgb.shape[0]):
            K = K.scaled(rgb.shape[1], rgb.shape[0])
        return {"rgb": rgb, "depth": None, "valid": None, "K": K, "id": p.stem}


class VideoSequence:
    """Frames of a video file (OpenCV), every ``stride``-th, at most ``max_frames``; no depth."""

    def __init__(self, path, K: Intrinsics | None = None, stride: int = 1, max_frames: int | None = None) -> None:
        import cv2

        self.path = Path(path)
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise ReconstructionError(f"{self.path}: cannot open video")
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        cap.release()
        self.K, self.stride, self.max_frames = K, max(1, int(stride)), max_frames
        count = (n + self.stride - 1) // self.stride if n > 0 else 0
        self.total = min(count, max_frames) if max_frames else count

    def __len__(self) -> int:
        return self.total

    def __iter__(self):
        import cv2

        cap = cv2.VideoCapture(str(self.path))
        i = emitted = 0
        try:
            while self.max_frames is None or emitted < self.max_frames:
                if i % self.stride:
                    if not cap.grab():
                        break
                    i += 1
                    continue
                ok, bgr = cap.read()
                if not ok:
                    break
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                K = self.K
                if K is not None and (K.width, K.height) != (rgb.shape[1], rgb.shape[0]):
                    K = K.scaled(rgb.shape[1], rgb.shape[0])
                yield {"rgb": rgb, "depth": None, "valid": None, "K": K, "id": f"frame-{i:06d}"}
                i += 1
                emitted += 1
        finally:
            cap.release()


def detect_kind(path) -> str:
    """What ``path`` is: ``tum``, ``seven_scenes``, ``tum_keyframes``, ``folder``, ``images`` or
    ``video`` (raises :class:`ReconstructionError` when it is none of them)."""
    from rgb2depth.inference.imageio import is_video_path

    p = Path(path)
    if p.is_file():
        if is_video_path(p):
            return "video"
        raise ReconstructionError(f"{p}: not a video file (and not a sequence folder)")
    if not p.is_dir():
        raise ReconstructionError(f"{p}: no such file or folder")
    if (p / "rgb.txt").is_file() and (p / "depth.txt").is_file():
        return "tum"
    if any(p.glob("frame-*.color.*")):
        return "seven_scenes"
    if (p / "raw_imgs").is_dir() and (p / "depth_imgs").is_dir():
        return "tum_keyframes"
    if (p / "rgb").is_dir() and (p / "depth").is_dir():
        return "folder"
    return "images"


def open_sequence(path, intrinsics: str | None = None, stride: int = 1, max_frames: int | None = None,
                  kind: str | None = None):
    """``(frames, total, kind)`` for a sequence path: ``frames`` is iterable (lazily loaded)
    sample dicts, every ``stride``-th frame, at most ``max_frames``.

    RGB-D sequences are read with ``rgb2depth.data.create`` (``tum``, ``seven_scenes``,
    ``tum_keyframes``, ``folder``); image folders and videos give RGB-only frames (``depth``
    None). ``intrinsics`` ("fx,fy,cx,cy" in pixels of the images as stored) override the
    sequence's; an RGB-only sequence without them (and without ``intrinsics.json``) is an error.
    """
    from rgb2depth import data

    p = Path(path)
    kind = kind or detect_kind(p)
    stride = max(1, int(stride))
    K_override = None
    if intrinsics:
        size = _first_image_size(p, kind)
        K_override = Intrinsics.parse(intrinsics, *size)
    if kind == "video":
        if K_override is None:
            raise ReconstructionError(f"{p}: a video needs --intrinsics fx,fy,cx,cy")
        seq = VideoSequence(p, K_override, stride, max_frames)
        return seq, len(seq) or None, kind
    if kind == "images":
        K = K_override
        if K is None and (p / "intrinsics.json").is_file():
            from rgb2depth.data.folder import read_intrinsics_json

            K = read_intrinsics_json(p / "intrinsics.json")
        if K is None:
            raise ReconstructionError(f"{p}: a folder of images needs --intrinsics fx,fy,cx,cy (or intrinsics.json)")
        src = ImageSequence(p, K)
    else:
        try:
            src = data.create(kind, root=p)
        except KeyError as e:
            raise ReconstructionError(f"{p}: cannot read as {kind!r}: {e}") from None
        except ValueError as e:
            raise ReconstructionError(str(e).splitlines()[0]) from None
    idx = list(range(0, len(src), stride))
    if max_frames:
        idx = idx[: int(max_frames)]

    def frames():
        for i in idx:
            s = src[i]
            if K_override is not None:
                h, w = s["rgb"].shape[:2]
                s["K"] = K_override if (K_override.width, K_override.height) == (w, h) else K_override.scaled(w, h)
            yield s

    return frames(), len(idx), kind


def _first_image_size(p: Path, kind: str) -> tuple[int, int]:
    """(width, height) of the sequence's images as stored."""
    import cv2

    if kind == "video":
        cap = cv2.VideoCapture(str(p))
        ok, frame = cap.read()
        cap.release()
        if not ok:
            raise ReconstructionError(f"{p}: cannot read a frame from the video")
        return frame.shape[1], frame.shape[0]
    if kind == "images":
        from rgb2depth.inference.imageio import find_images

        imgs = find_images(p)
        if not imgs:
            raise ReconstructionError(f"{p}: no images found")
        first = imgs[0]
    else:
        cands = sorted(p.glob("frame-*.color.*")) or sorted((p / "rgb").glob("*")) or sorted((p / "raw_imgs").glob("*"))
        if not cands:
            raise ReconstructionError(f"{p}: no images found")
        first = cands[0]
    im = cv2.imread(str(first), cv2.IMREAD_UNCHANGED)
    if im is None:
        raise ReconstructionError(f"{first}: cannot read image")
    return im.shape[1], im.shape[0]

