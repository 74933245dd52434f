"""Camera trajectories in the TUM text format (``timestamp tx ty tz qx qy qz qw``,
camera-to-world) and their interpolation at image timestamps.

Rotations use scipy's ``Rotation``/``Slerp`` (a maintained quaternion implementation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from .depth_io import DataError


def pose_matrix(t: np.ndarray, q_xyzw: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(q_xyzw).as_matrix()
    T[:3, 3] = t
    return T


def read_trajectory(path: str | Path, keyed: bool = False):
    """Rows of a TUM trajectory file. Returns ``(keys, (N,7) array tx ty tz qx qy qz qw)``;
    keys are float timestamps, or strings when ``keyed`` (folder ``poses.txt`` uses stems).
    Parsed by :func:`rgb2depth.geometry.trajectory.read_tum_rows`; errors are one-line
    :class:`DataError` naming the file (and the line)."""
    from rgb2depth.geometry.trajectory import TrajectoryFileError, read_tum_rows

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        stamps, rows = read_tum_rows(path)
        keys = stamps if keyed else [float(k) for k in stamps]
    except TrajectoryFileError as e:
        raise DataError(path, f"line {e.line}: {e.problem}") from None
    except ValueError:
        raise DataError(path, "a timestamp is not a number") from None
    if not len(rows):
        raise DataError(path, "no poses in file")
    return keys, rows


class Trajectory:
    """Poses at timestamps; ``at(t)`` interpolates (slerp + linear) or takes the nearest."""

    def __init__(self, stamps, rows: np.ndarray, max_gap: float = 0.1, max_extrapolate: float = 0.02):
        # sorted, duplicate timestamps dropped (Slerp needs strictly increasing times)
        _, order = np.unique(np.asarray(stamps, dtype=np.float64), return_index=True)
        self.t = np.asarray(stamps, dtype=np.float64)[order]
        self.rows = rows[order]
        self.rot = Rotation.from_quat(self.rows[:, 3:7])
        self.max_gap = max_gap
        self.max_extrapolate = max_extrapolate
        self._slerp = Slerp(self.t, self.rot) if len(self.t) >= 2 else None

    @classmethod
    def from_file(cls, path, **kw) -> Trajectory:
        keys, rows = read_trajectory(path)
        return cls(keys, rows, **kw)

    def nearest(self, t: float) -> tuple[np.ndarray | None, float]:
        k = int(np.argmin(np.abs(self.t - t)))
        return pose_matrix(self.rows[k, :3], self.rows[k, 3:7]), abs(self.t[k] - t)

    def at(self, t: float, mode: str = "interpolate") -> np.ndarray | None:
        """Pose at ``t``; None when no ground truth is near enough.

        ``interpolate``: between the bracketing poses when they are at most ``max_gap`` s apart;
        else (and in ``nearest`` mode) the nearest pose if within ``max_extrapolate`` s.
        """
        if mode not in ("interpolate", "nearest"):
            raise ValueError(f"pose mode must be 'interpolate' or 'nearest', got {mode!r}")
        if mode == "interpolate" and self._slerp is not None and self.t[0] <= t <= self.t[-1]:
            k = int(np.searchsorted(self.t, t, side="right"))
            k = min(max(k, 1), len(self.t) - 1)
            t0, t1 = self.t[k - 1], self.t[k]
            if t1 - t0 <= self.max_gap:
                a = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
                T = np.eye(4)
                T[:3, :3] = self._slerp([t]).as_matrix()[0]
                T[:3, 3] = (1 - a) * self.rows[k - 1, :3] + a * self.rows[k, :3]
                return T
        T, dt = self.nearest(t)
        return T if dt <= self.max_extrapolate else None
