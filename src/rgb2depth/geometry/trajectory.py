"""Camera trajectories: TUM file I/O, association, Umeyama/Horn alignment, ATE and RPE.

Paper 003, Section 4.4 tracks the camera frame to frame on predicted depth; this module scores
such a trajectory the way the TUM RGB-D benchmark does (Sturm et al., IROS 2012, and its
``evaluate_ate.py`` / ``evaluate_rpe.py``):

- **Association**: every estimated stamp is matched to the ground-truth stamp nearest in time,
  at most ``max_difference`` (0.02 s) apart, greedily by increasing time difference, each stamp
  used once (TUM's ``associate.py``). Non-numeric stamps (frame stems) match by equality.
- **ATE** (absolute trajectory error): align the estimated camera positions to the associated
  ground-truth positions with the least-squares rigid motion (Horn 1987 closed form; here via
  Umeyama 1991's SVD, which gives the same rotation and translation), then report the RMSE of
  the translational residuals ``|| p_gt_i - (s R p_est_i + t) ||``. ``with_scale=True`` fits a
  similarity (Umeyama's scale) as one would for a monocular trajectory with unknown scale;
  TUM's ATE is the rigid one (``s = 1``).
- **RPE** (relative pose error) over a fixed frame offset ``delta``: RMSE of the translational
  part of ``(Q_i^-1 Q_{i+d})^-1 (P_i^-1 P_{i+d})`` and mean rotation angle of the same, with
  ``Q`` ground truth and ``P`` estimate (camera-to-world 4x4).

Poses everywhere are camera-to-world 4x4 float64 (``p_world = T @ p_cam``). A TUM trajectory
file has one line per pose, ``stamp tx ty tz qx qy qz qw`` (translation and Hamilton unit
quaternion of the camera-to-world motion); ``#`` starts a comment. The project's folder layout
(docs/DEVELOPING.md) writes a frame stem in place of a numeric stamp; both are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Trajectory:
    """Timestamped camera-to-world poses. ``stamps`` are strings as written in the file."""

    stamps: list[str]
    poses: np.ndarray  # (N, 4, 4) float64

    def __post_init__(self) -> None:
        self.poses = np.asarray(self.poses, dtype=np.float64).reshape(-1, 4, 4)
        self.stamps = [str(s) for s in self.stamps]
        if len(self.stamps) != len(self.poses):
            raise ValueError(f"{len(self.stamps)} stamps but {len(self.poses)} poses")

    def __len__(self) -> int:
        return len(self.stamps)

    @property
    def positions(self) -> np.ndarray:
        return self.poses[:, :3, 3]

    def numeric_stamps(self) -> np.ndarray | None:
        """Stamps as float64 seconds, or None when any stamp is not a number."""
        try:
            return np.array([float(s) for s in self.stamps], dtype=np.float64)
        except ValueError:
            return None


def _format_stamp(stamp) -> str:
    if isinstance(stamp, float | np.floating):
        return f"{float(stamp):.6f}"
    s = str(stamp)
    if not s or any(c.isspace() for c in s):
        raise ValueError(f"trajectory stamp {stamp!r} is empty or contains whitespace")
    return s


def pose_to_tum(T: np.ndarray) -> np.ndarray:
    """(tx, ty, tz, qx, qy, qz, qw) of a 4x4 camera-to-world pose (scipy's Rotation)."""
    from scipy.spatial.transform import Rotation

    T = np.asarray(T, dtype=np.float64)
    q = Rotation.from_matrix(T[:3, :3]).as_quat()  # scalar-last (x, y, z, w) like TUM
    if q[3] < 0:  # one canonical sign: w >= 0 (q and -q are the same rotation)
        q = -q
    return np.concatenate([T[:3, 3], q])


def tum_to_pose(v) -> np.ndarray:
    """4x4 pose from (tx, ty, tz, qx, qy, qz, qw); the quaternion is normalised."""
    from scipy.spatial.transform import Rotation

    v = np.asarray(v, dtype=np.float64)
    q = v[3:7]
    n = np.linalg.norm(q)
    if not np.isfinite(n) or n < 1e-9:
        raise ValueError(f"quaternion {q.tolist()} has zero or non-finite norm")
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(q / n).as_matrix()
    T[:3, 3] = v[:3]
    return T


def write_tum(path, stamps, poses, header: str | None = None) -> Path:
    """Write a TUM trajectory file: ``stamp tx ty tz qx qy qz qw`` per line, 6+ decimals."""
    path = Path(path)
    poses = np.asarray(poses, dtype=np.float64).reshape(-1, 4, 4)
    stamps = list(stamps)
    if len(stamps) != len(poses):
        raise ValueError(f"{path}: {len(stamps)} stamps but {len(poses)} poses")
    lines = []
    if header:
        lines += [f"# {h}" for h in header.splitlines()]
    lines.append("# timestamp tx ty tz qx qy qz qw")
    for s, T in zip(stamps, poses, strict=True):
        if not np.all(np.isfinite(T)):
            raise ValueError(f"{path}: pose for stamp {s} is not finite")
        v = pose_to_tum(T)
        lines.append(_format_stamp(s) + " " + " ".join(f"{x:.9f}" for x in v))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


class TrajectoryFileError(ValueError):
    """A malformed TUM trajectory file: ``path:line: problem`` on one line."""

    def __init__(self, path, line: int, problem: str) -> None:
        self.path, self.line, self.problem = str(path), line, problem
        super().__init__(f"{path}:{line}: {problem}")


def read_tum_rows(path) -> tuple[list[str], np.ndarray]:
    """Parse a TUM trajectory file: (stamps as written, (N, 7) rows ``tx ty tz qx qy qz qw``).

    The one parser of the project (``read_tum`` here, the dataset loaders'
    :func:`rgb2depth.data.poses.read_trajectory`). ``#`` starts a comment; commas are accepted
    as separators (TUM's tools accept them). Raises FileNotFoundError, or
    :class:`TrajectoryFileError` naming the file and line (wrong field count, a non-number, a
    zero or non-finite quaternion).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: trajectory file not found")
    stamps, rows = [], []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split("#", 1)[0].replace(",", " ").split()
        if not parts:
            continue
        if len(parts) != 8:
            raise TrajectoryFileError(path, i, f"expected 8 fields 'stamp tx ty tz qx qy qz qw', got {len(parts)}")
        try:
            v = [float(x) for x in parts[1:]]
        except ValueError:
            raise TrajectoryFileError(path, i, f"not a number in {line.strip()!r}") from None
        n = float(np.linalg.norm(v[3:7]))
        if not np.isfinite(v[:3]).all() or not np.isfinite(n) or n < 1e-9:
            raise TrajectoryFileError(path, i, f"quaternion {v[3:7]} has zero or non-finite norm, or the position is not finite")
        stamps.append(parts[0])
        rows.append(v)
    return stamps, np.asarray(rows, dtype=np.float64).reshape(-1, 7)


def read_tum(path) -> Trajectory:
    """Read a TUM trajectory file (``stamp tx ty tz qx qy qz qw``; ``#`` comments) into poses;
    errors as :func:`read_tum_rows`."""
    stamps, rows = read_tum_rows(path)
    return Trajectory(stamps, np.array([tum_to_pose(r) for r in rows]).reshape(-1, 4, 4))


def associate(stamps_a, stamps_b, max_difference: float = 0.02, offset: float = 0.0) -> list[tuple[int, int]]:
    """Index pairs (i, j) matching ``stamps_a[i]`` to ``stamps_b[j]`` (TUM's ``associate.py``).

    Numeric stamps: candidate pairs with ``|a - (b + offset)| < max_difference`` are taken
    greedily by increasing difference, each stamp used at most once; pairs come back sorted by
    ``i``. Otherwise (frame stems), stamps match by string equality.
    """
    a_str, b_str = [str(s) for s in stamps_a], [str(s) for s in stamps_b]
    try:
        a = np.array([float(s) for s in a_str])
        b = np.array([float(s) for s in b_str]) + offset
    except ValueError:
        index_b = {s: j for j, s in enumerate(b_str)}
        return [(i, index_b[s]) for i, s in enumerate(a_str) if s in index_b]
    if len(a) == 0 or len(b) == 0:
        return []
    # Candidates within the window, via sorted b (O(n log n), no n x m matrix).
    order = np.argsort(b)
    bs = b[order]
    cand = []
    for i, t in enumerate(a):
        lo = np.searchsorted(bs, t - max_difference, side="left")
        hi = np.searchsorted(bs, t + max_difference, side="right")
        for k in range(lo, hi):
            d = abs(t - bs[k])
            if d < max_difference:
                cand.append((d, i, int(order[k])))
    cand.sort()
    used_a, used_b, pairs = set(), set(), []
    for _, i, j in cand:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def umeyama(src: np.ndarray, dst: np.ndarray, with_scale: bool = False) -> tuple[np.ndarray, np.ndarray, float]:
    """Least-squares ``(R, t, s)`` with ``dst ~ s R src + t`` (Umeyama 1991, Eqs. 34-42).

    Hand-written (a dozen lines of numpy) so that trajectory evaluation needs no open3d; the
    tests check it against open3d's point-to-point estimator. Without scale this is the rigid
    fit of Horn 1987 that TUM's ``evaluate_ate.py`` uses.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 3:
        raise ValueError(f"umeyama needs two (N, 3) arrays of equal shape, got {src.shape} and {dst.shape}")
    n = len(src)
    if n < 3:
        raise ValueError(f"umeyama needs at least 3 point pairs, got {n}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    cov = xd.T @ xs / n  # Sigma_xy
    U, D, Vt = np.linalg.svd(cov)
    S = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        S[2, 2] = -1  # reflection -> proper rotation
    R = U @ S @ Vt
    if with_scale:
        var_s = (xs**2).sum() / n
        if var_s <= 0:
            raise ValueError("umeyama with scale: source points are all identical")
        s = float(np.trace(np.diag(D) @ S) / var_s)
    else:
        s = 1.0
    t = mu_d - s * R @ mu_s
    return R, t, s


@dataclass
class ATEResult:
    """Absolute trajectory error (metres) and the alignment that produced it."""

    rmse: float
    mean: float
    median: float
    std: float
    min: float
    max: float
    pairs: int
    rotation: np.ndarray
    translation: np.ndarray
    scale: float
    errors: np.ndarray  # per associated pair, metres

    def as_dict(self) -> dict:
        return {
            "rmse": self.rmse,
            "mean": self.mean,
            "median": self.median,
            "std": self.std,
            "min": self.min,
            "max": self.max,
            "pairs": self.pairs,
            "scale": self.scale,
        }


def _as_traj(x) -> Trajectory:
    if isinstance(x, Trajectory):
        return x
    if isinstance(x, str | Path):
        return read_tum(x)
    poses = np.asarray(x, dtype=np.float64).reshape(-1, 4, 4)
    return Trajectory([str(i) for i in range(len(poses))], poses)


def _associated(gt, est, max_difference: float, offset: float) -> tuple[Trajectory, Trajectory, list]:
    gt, est = _as_traj(gt), _as_traj(est)
    pairs = associate(est.stamps, gt.stamps, max_difference=max_difference, offset=offset)
    return gt, est, pairs


def ate(gt, est, max_difference: float = 0.02, offset: float = 0.0, with_scale: bool = False) -> ATEResult:
    """Absolute trajectory error of ``est`` against ``gt`` (TUM definition; see module doc).

    ``gt`` and ``est`` are Trajectory objects, TUM file paths, or (N, 4, 4) pose arrays of
    equal length (matched by index).
    """
    gt, est, pairs = _associated(gt, est, max_difference, offset)
    if len(pairs) < 3:
        raise ValueError(f"ATE needs at least 3 associated poses, found {len(pairs)} (max_difference={max_difference})")
    pe = est.positions[[i for i, _ in pairs]]
    pg = gt.positions[[j for _, j in pairs]]
    R, t, s = umeyama(pe, pg, with_scale=with_scale)
    err = np.linalg.norm(pg - (s * pe @ R.T + t), axis=1)
    return ATEResult(
        rmse=float(np.sqrt(np.mean(err**2))),
        mean=float(err.mean()),
        median=float(np.median(err)),
        std=float(err.std()),
        min=float(err.min()),
        max=float(err.max()),
        pairs=len(pairs),
        rotation=R,
        translation=t,
        scale=s,
        errors=err,
    )


def align(est, result: ATEResult) -> np.ndarray:
    """The estimated poses (N, 4, 4) mapped into the ground-truth frame by an ATE alignment."""
    est = _as_traj(est)
    A = np.eye(4)
    A[:3, :3] = result.scale * result.rotation
    A[:3, 3] = result.translation
    out = A @ est.poses
    # Keep the rotation part orthonormal (scale acts on positions only).
    out[:, :3, :3] = result.rotation @ est.poses[:, :3, :3]
    return out


def rpe(gt, est, delta: int = 1, max_difference: float = 0.02, offset: float = 0.0) -> dict:
    """Relative pose error over ``delta`` associated frames: translational RMSE (m) and mean
    rotational error (degrees), as in TUM's ``evaluate_rpe.py`` with a fixed frame offset."""
    gt, est, pairs = _associated(gt, est, max_difference, offset)
    if len(pairs) <= delta:
        raise ValueError(f"RPE with delta={delta} needs more than {delta} associated poses, found {len(pairs)}")
    P = est.poses[[i for i, _ in pairs]]
    Q = gt.poses[[j for _, j in pairs]]
    t_err, r_err = [], []
    for k in range(len(pairs) - delta):
        dq = np.linalg.inv(Q[k]) @ Q[k + delta]
        dp = np.linalg.inv(P[k]) @ P[k + delta]
        E = np.linalg.inv(dq) @ dp
        t_err.append(np.linalg.norm(E[:3, 3]))
        c = np.clip((np.trace(E[:3, :3]) - 1) / 2, -1.0, 1.0)
        r_err.append(np.degrees(np.arccos(c)))
    t_err, r_err = np.array(t_err), np.array(r_err)
    return {
        "delta": delta,
        "pairs": len(t_err),
        "trans_rmse": float(np.sqrt(np.mean(t_err**2))),
        "trans_mean": float(t_err.mean()),
        "rot_rmse_deg": float(np.sqrt(np.mean(r_err**2))),
        "rot_mean_deg": float(r_err.mean()),
    }
