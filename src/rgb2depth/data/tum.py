"""TUM RGB-D benchmark sequences and the fr3/cabinet keyframe layout.

Units: depth PNG uint16, metres = value / 5000 (TUM's ``DepthMapFactor``), 0 = invalid.
RGB and depth are associated like TUM's own ``associate.py``: all (rgb, depth) timestamp pairs
closer than ``max_difference`` (0.02 s) are sorted by gap and taken greedily so that each frame
is used at most once; the result is sorted by rgb timestamp. Poses (camera-to-world, the
optical centre in the motion-capture world) come from ``groundtruth.txt`` at the rgb timestamp,
interpolated (slerp) between the bracketing poses, or the nearest one.

Intrinsics are TUM's published calibration of each Kinect (the depth is registered to RGB):
fr1 517.3/516.5/318.6/255.3, fr2 520.9/521.0/325.1/249.7, fr3 535.4/539.2/320.1/247.6 (ROS
default for fr3 is 525/525/319.5/239.5 but TUM documents the values above).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from rgb2depth.geometry.camera import Intrinsics

# TUM's associate.py algorithm lives with the other trajectory tools; re-exported here.
from rgb2depth.geometry.trajectory import associate

from .base import Source, make_sample
from .depth_io import DataError, read_depth_png, read_rgb, reduce_depth
from .poses import Trajectory, read_trajectory

TUM_SCALE = 5000.0
TUM_INTRINSICS = {
    "freiburg1": (517.3, 516.5, 318.6, 255.3),
    "freiburg2": (520.9, 521.0, 325.1, 249.7),
    "freiburg3": (535.4, 539.2, 320.1, 247.6),
}


def read_file_list(path: str | Path) -> list[tuple[float, str]]:
    """``timestamp filename`` lines of a TUM rgb.txt / depth.txt (comments skipped)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    out = []
    for ln, line in enumerate(path.read_text().splitlines(), 1):
        t = line.replace(",", " ").split()
        if not t or t[0].startswith("#"):
            continue
        if len(t) < 2:
            raise DataError(path, f"line {ln}: expected 'timestamp filename', got {line.strip()!r}")
        try:
            out.append((float(t[0]), t[1]))
        except ValueError:
            raise DataError(path, f"line {ln}: bad timestamp {t[0]!r}") from None
    return out



def tum_intrinsics(root: Path, width: int = 640, height: int = 480) -> Intrinsics | None:
    m = re.search(r"freiburg(\d)", str(root))
    if m and f"freiburg{m.group(1)}" in TUM_INTRINSICS:
        return Intrinsics(*TUM_INTRINSICS[f"freiburg{m.group(1)}"], width, height)
    return None


class TUMSequence(Source):
    """A TUM RGB-D sequence folder (``rgb.txt``, ``depth.txt``, ``groundtruth.txt``)."""

    name = "tum"

    def __init__(
        self,
        root: str | Path,
        max_difference: float = 0.02,
        poses: str | None = "interpolate",
        K: Intrinsics | None = None,
        depth_scale: float = TUM_SCALE,
        stride: int = 1,
        reduce: int = 1,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(self.root, "TUM sequence folder not found")
        rgb = read_file_list(self.root / "rgb.txt")
        dep = read_file_list(self.root / "depth.txt")
        pairs = associate([t for t, _ in rgb], [t for t, _ in dep], max_difference)[::stride]
        self.items = [(rgb[i][0], rgb[i][1], dep[j][0], dep[j][1]) for i, j in pairs]
        self.ids = [Path(r).stem for _, r, _, _ in self.items]
        self.depth_scale = depth_scale
        self.K = K if K is not None else tum_intrinsics(self.root)
        self.pose_mode = poses
        self.reduce = int(reduce)  # decode at 1/reduce size (JPEG DCT scaling; depth nearest)
        gt = self.root / "groundtruth.txt"
        self.trajectory = Trajectory.from_file(gt) if poses and gt.is_file() else None

    def load(self, i: int) -> dict:
        t_rgb, f_rgb, _, f_dep = self.items[i]
        rgb = read_rgb(self.root / f_rgb, self.reduce)
        depth = reduce_depth(read_depth_png(self.root / f_dep, self.depth_scale), rgb.shape[:2])
        pose = self.trajectory.at(t_rgb, self.pose_mode) if self.trajectory is not None else None
        K = self.K
        if K is not None and (K.width, K.height) != (rgb.shape[1], rgb.shape[0]):
            K = K.scaled(rgb.shape[1], rgb.shape[0])
        return make_sample(rgb, depth, K, self.ids[i], pose=pose, timestamp=t_rgb)


def read_opencv_yaml_scalars(path: str | Path) -> dict[str, float]:
    """``Key: number`` lines of an OpenCV/ORB-SLAM ``%YAML:1.0`` settings file.

    Hand-parsed: PyYAML rejects the ``%YAML:1.0`` directive and cv2.FileStorage needs the file
    to be strictly valid, which these hand-edited camera files often are not.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"\s*([A-Za-z_][\w.]*)\s*:\s*([-+0-9.eE]+)\s*(?:#.*)?$", line)
        if m:
            try:
                out[m.group(1)] = float(m.group(2))
            except ValueError:
                pass
    return out


class TUMKeyframes(Source):
    """The ``freiburg3_cabinet_keyframes`` layout: ``raw_imgs/NNNN_rgb_raw.jpg``,
    ``depth_imgs/NNNN_depth_raw.png``, ``rgb.txt``/``depth.txt`` (index filename),
    ``truth_cam_poses.txt`` (one TUM pose line per keyframe, in order), ``TUM3.yaml``
    (``Camera.fx/fy/cx/cy``, ``DepthMapFactor``)."""

    name = "tum_keyframes"

    def __init__(self, root: str | Path, yaml: str = "TUM3.yaml", reduce: int = 1) -> None:
        self.root = Path(root)
        self.reduce = int(reduce)
        if not self.root.is_dir():
            raise DataError(self.root, "keyframe folder not found")
        rgb = read_file_list(self.root / "rgb.txt")
        dep = read_file_list(self.root / "depth.txt")
        dmap = {int(k): f for k, f in dep}
        self.items = [(int(k), f, dmap[int(k)]) for k, f in rgb if int(k) in dmap]
        self.ids = [Path(f).stem.replace("_rgb_raw", "") for _, f, _ in self.items]
        cfg = read_opencv_yaml_scalars(self.root / yaml)
        try:
            self.K = Intrinsics(cfg["Camera.fx"], cfg["Camera.fy"], cfg["Camera.cx"], cfg["Camera.cy"], 640, 480)
        except KeyError as e:
            raise DataError(self.root / yaml, f"missing {e.args[0]}") from None
        self.depth_scale = cfg.get("DepthMapFactor", TUM_SCALE)
        self.poses: dict[int, np.ndarray] = {}
        tp = self.root / "truth_cam_poses.txt"
        if tp.is_file():
            stamps, rows = read_trajectory(tp)
            if len(rows) != len(rgb):
                raise DataError(tp, f"{len(rows)} poses for {len(rgb)} keyframes")
            from .poses import pose_matrix

            for (k, _), r in zip(rgb, rows, strict=True):
                self.poses[int(k)] = pose_matrix(r[:3], r[3:7])
            self.stamps = dict(zip([int(k) for k, _ in rgb], stamps, strict=True))

    def load(self, i: int) -> dict:
        k, f_rgb, f_dep = self.items[i]
        rgb = read_rgb(self.root / f_rgb, self.reduce)
        depth = reduce_depth(read_depth_png(self.root / f_dep, self.depth_scale), rgb.shape[:2])
        K = self.K if (self.K.width, self.K.height) == (rgb.shape[1], rgb.shape[0]) else self.K.scaled(rgb.shape[1], rgb.shape[0])
        return make_sample(rgb, depth, K, self.ids[i], pose=self.poses.get(k))
