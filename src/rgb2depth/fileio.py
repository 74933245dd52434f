"""Reading and writing files safely: no code from loaded files, atomic outputs, one-line errors.

**Reading** PyTorch files (model files, checkpoints, state_dicts) goes through
:func:`torch_load`: ``torch.load(..., weights_only=True)``, which refuses any pickled object
other than tensors and plain containers, so a tampered file cannot run code; its errors are one
line naming the file (a refused object is named, not the multi-paragraph PyTorch advice).

**Writing**:

Every file rgb2depth writes (depth ``.npy``/PNGs, colour maps, point clouds, videos, reports,
synthetic and stereo datasets, model files and checkpoints) goes through :func:`atomic_path`:
the content is written to a temporary file in the destination folder, flushed to disk
(``fsync``), then renamed over the destination with :func:`os.replace`. A reader therefore
sees the old file or the complete new one, never a torn one: two processes writing the same
name leave one of their two complete files, and a failure (full disk, file-size limit, a
folder in the way) removes the temporary file and raises :class:`OutputError`, whose message
is one line, ``"<path>: cannot write (<reason>)"``.

Temporary files are named ``.<name>.<random>.tmp<suffix>``: hidden (a folder scan for input
images skips them), in the same folder (so the rename stays on one file system and is atomic),
and ending with the destination's suffix (OpenCV, NumPy and Matplotlib choose the format
from it). :func:`remove_temporaries` deletes those a killed process left behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

TMP_MARK = ".tmp"


class OutputError(OSError):
    """An output could not be written; ``str(err)`` is one line naming the file and the reason."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling, innermost last."""
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def reason(exc: BaseException) -> str:
    """A short reason for ``exc``: the OS error text (``No space left on device``) when an
    ``OSError`` is anywhere in its chain (libraries such as torch wrap it), else its first line."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.strerror:
            return e.strerror
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_failure(exc: BaseException) -> str:
    """One line saying why ``torch.load(..., weights_only=True)`` failed: for a refused object
    the ``Unsupported global`` it names (the file holds code or foreign objects), else the
    first line of the error."""
    text = str(exc)
    if "Weights only load failed" in text:
        for line in text.splitlines():
            if "Unsupported" in line or "WeightsUnpickler error" in line:
                detail = line.strip().removeprefix("WeightsUnpickler error:").strip()
                detail = detail.split(". Please use")[0]
                return f"refused to unpickle an object that is not weights ({detail})"
        return "refused to unpickle an object that is not weights"
    return f"{exc.__class__.__name__}: {reason(exc)}"


def torch_load(path: str | os.PathLike, what: str = "file", map_location: str = "cpu"):
    """``torch.load(path, weights_only=True)``; a missing or unreadable file, or one holding
    anything but weights, is a one-line ``FileNotFoundError`` / ``ValueError`` naming it."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - re-raised as one line naming the file
        raise ValueError(f"{path}: not a readable {what} ({load_failure(e)})") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit it replaces ``path`` atomically.

    The folder is created if needed. On any exception inside the block (or while committing)
    the temporary file is removed. A write error (an ``OSError`` anywhere in the exception's
    chain: full disk, size limit, permissions) becomes :class:`OutputError`, one line naming
    ``path``; anything else (the caller's own errors, ``KeyboardInterrupt``) is re-raised
    unchanged.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: cannot write (a folder of that name is in the way)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_MARK + path.suffix, dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({reason(e)})") from None
    tmp = Path(name)
    try:
        yield tmp
        if not tmp.is_file():
            raise OutputError(f"{path}: cannot write (the writer produced no file)")
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; use the usual mode
        os.replace(tmp, path)
    except BaseException as e:
        _unlink(tmp)
        if isinstance(e, OutputError) or not any(isinstance(c, OSError) for c in _chain(e)):
            raise
        raise OutputError(f"{path}: cannot write ({reason(e)})") from e


def _unlink(p: Path) -> None:
    try:
        p.unlink()
    except FileNotFoundError:
        pass


def _raw(data: bytes | bytearray | memoryview | np.ndarray):
    """``data`` as a flat byte buffer (no copy for a contiguous array)."""
    if isinstance(data, np.ndarray):
        return np.asarray(data, order="C").reshape(-1).view(np.uint8)
    return data


def write_bytes(path: str | os.PathLike, data: bytes | bytearray | memoryview | np.ndarray) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(_raw(data))
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return write_bytes(path, text.encode("utf-8"))


def save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """``np.save(path, array)`` atomically: the same ``.npy`` bytes (format 1.0, C order).

    The data goes through Python's file object rather than ``ndarray.tofile``, so a refused
    write reports the OS reason (``No space left on device``) instead of a byte count.
    Object arrays are refused (they would need pickling).
    """
    path = Path(path)
    arr = np.asarray(array, order="C")  # keeps 0-d arrays 0-d (ascontiguousarray would not)
    if arr.dtype.hasobject:
        raise ValueError(f"{path}: cannot save an object array as .npy without pickling")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.lib.format.write_array_header_1_0(f, np.lib.format.header_data_from_array_1_0(arr))
        f.write(_raw(arr))
    return path


def imwrite(path: str | os.PathLike, image: np.ndarray, params: list[int] | tuple[int, ...] = ()) -> Path:
    """Encode ``image`` (OpenCV channel order) by ``path``'s suffix and write it atomically.

    The image is encoded in memory and written by Python, so a failing write raises a clean
    :class:`OutputError` instead of an encoder library printing its own error.
    """
    import cv2

    path = Path(path)
    try:
        ok, buf = cv2.imencode(path.suffix or ".png", image, list(params))
    except cv2.error as e:
        raise OutputError(f"{path}: cannot encode the image ({reason(e)})") from None
    if not ok:
        raise OutputError(f"{path}: cannot encode the image as {path.suffix or '.png'}")
    return write_bytes(path, buf)


def ensure_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Create the folder ``path`` if needed and check that files can be written in it.

    Raises :class:`OutputError` with one line: the path names an existing file, a parent is
    a file, or the place is not writable (permissions, read-only file system).
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{p}: cannot use as the {what} (it is an existing file, not a folder)")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        for parent in p.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise OutputError(f"{p}: cannot create the {what} ({parent} is a file, not a folder)") from None
                break
        raise OutputError(f"{p}: cannot create the {what} ({reason(e)})") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".rgb2depth-write-test.", dir=p)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"{p}: cannot write in the {what} ({reason(e)})") from None
    return p


def is_temporary(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a temporary file of :func:`atomic_path`."""
    name = Path(path).name
    return name.startswith(".") and TMP_MARK in name


def remove_temporaries(folder: str | os.PathLike, target: str | None = None, older_naming: bool = False) -> list[Path]:
    """Delete the temporary files a killed writer left in ``folder`` (only those of the file
    named ``target`` when given); returns what was removed. Missing folders are fine.

    ``older_naming``: also ``<name>.<random>.tmp``, the visible names earlier versions used
    (only for folders rgb2depth owns, such as a run's checkpoints: it matches any ``*.tmp``).
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    prefix = f".{target}." if target is not None else "."
    old_prefix = f"{target}." if target is not None else ""
    for p in folder.iterdir():
        ours = p.name.startswith(prefix) and is_temporary(p)
        older = older_naming and p.name.startswith(old_prefix) and p.name.endswith(TMP_MARK)
        if (ours or older) and p.is_file():
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed


__all__ = [
    "OutputError",
    "atomic_path",
    "ensure_dir",
    "imwrite",
    "is_temporary",
    "load_failure",
    "reason",
    "remove_temporaries",
    "save_npy",
    "torch_load",
    "write_bytes",
    "write_text",
]
