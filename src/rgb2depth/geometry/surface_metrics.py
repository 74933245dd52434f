"""Surface comparison: Chamfer distance and fraction of points within a threshold.

Used to score a reconstruction from predicted depth against the reconstruction of the same
frames from ground-truth depth (paper 003, Section 4.4 shows this comparison qualitatively in
its Fig. 6; here it is measured). Definitions, for a predicted surface P and a reference R,
each represented by points (a mesh is sampled uniformly by area first, ``n_samples`` points):

- ``accuracy``     mean over p in P of  min_r |p - r|       (how far the prediction is from R)
- ``completeness`` mean over r in R of  min_p |r - p|       (how much of R the prediction covers)
- ``chamfer``      (accuracy + completeness) / 2            (symmetric Chamfer-L1, metres)
- ``precision``    fraction of P within ``threshold`` of R  (default 5 cm)
- ``recall``       fraction of R within ``threshold`` of P
- ``fscore``       2 precision recall / (precision + recall)

Point sampling biases the distances upwards by roughly the sampling spacing (a point's nearest
sample on the other surface is not its foot point): sample densely (spacing well below the
distances of interest; the TSDF mesh vertices are one voxel apart). Nearest neighbours come from scipy's cKDTree (exact). Mesh sampling uses open3d's
``sample_points_uniformly`` seeded through ``open3d.utility.random.seed`` for reproducibility.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

#: Default distance threshold (metres) for precision / recall: the issue's 5 cm.
DEFAULT_THRESHOLD = 0.05
DEFAULT_SAMPLES = 200_000


@dataclass
class SurfaceMetrics:
    accuracy: float
    completeness: float
    chamfer: float
    precision: float
    recall: float
    fscore: float
    accuracy_median: float
    completeness_median: float
    threshold: float
    n_pred: int
    n_ref: int

    def as_dict(self) -> dict:
        return asdict(self)


def to_points(x, n_samples: int = DEFAULT_SAMPLES, seed: int = 0) -> np.ndarray:
    """(N, 3) float64 points of: an (N, 3) array, an open3d PointCloud, an open3d TriangleMesh
    (sampled uniformly by area, ``n_samples`` points; a mesh without triangles gives its
    vertices), or a PLY path (read as a mesh when it has faces, else as a point cloud)."""
    if isinstance(x, str | Path):
        x = read_geometry(x)
    if isinstance(x, np.ndarray):
        pts = np.asarray(x, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise ValueError(f"points must be an (N, 3) array, got shape {pts.shape}")
    elif hasattr(x, "triangles"):
        import open3d as o3d

        if len(x.triangles) == 0:
            pts = np.asarray(x.vertices, dtype=np.float64)
        else:
            o3d.utility.random.seed(int(seed))
            pts = np.asarray(x.sample_points_uniformly(number_of_points=int(n_samples)).points)
    elif hasattr(x, "points"):
        pts = np.asarray(x.points, dtype=np.float64)
    else:
        raise TypeError(f"cannot take points from {type(x).__name__}")
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    return pts


def read_geometry(path):
    """An open3d TriangleMesh (PLY/OBJ/... with faces) or PointCloud, by content."""
    import open3d as o3d

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    mesh = o3d.io.read_triangle_mesh(str(path))
    if len(mesh.triangles) > 0:
        return mesh
    cloud = o3d.io.read_point_cloud(str(path))
    if len(cloud.points) == 0:
        raise ValueError(f"{path}: no points or triangles could be read")
    return cloud


def nearest_distances(query: np.ndarray, ref: np.ndarray, workers: int = 1) -> np.ndarray:
    """Distance from each query point to its nearest reference point (exact, cKDTree)."""
    from scipy.spatial import cKDTree

    if len(ref) == 0:
        return np.full(len(query), np.inf)
    d, _ = cKDTree(ref).query(query, k=1, workers=workers)
    return d


def compare_surfaces(pred, ref, threshold: float = DEFAULT_THRESHOLD, n_samples: int = DEFAULT_SAMPLES,
                     seed: int = 0, max_points: int | None = None) -> SurfaceMetrics:
    """Chamfer distance, precision/recall/F at ``threshold`` of ``pred`` against ``ref``
    (see the module docstring). ``max_points`` randomly subsamples larger point sets."""
    P = to_points(pred, n_samples, seed)
    R = to_points(ref, n_samples, seed + 1)
    if len(P) == 0 or len(R) == 0:
        raise ValueError(f"cannot compare surfaces with {len(P)} predicted and {len(R)} reference points")
    rng = np.random.default_rng(seed)
    if max_points and len(P) > max_points:
        P = P[rng.choice(len(P), max_points, replace=False)]
    if max_points and len(R) > max_points:
        R = R[rng.choice(len(R), max_points, replace=False)]
    d_pr = nearest_distances(P, R)
    d_rp = nearest_distances(R, P)
    acc, comp = float(d_pr.mean()), float(d_rp.mean())
    prec = float((d_pr < threshold).mean())
    rec = float((d_rp < threshold).mean())
    f = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
    return SurfaceMetrics(
        accuracy=acc,
        completeness=comp,
        chamfer=0.5 * (acc + comp),
        precision=prec,
        recall=rec,
        fscore=f,
        accuracy_median=float(np.median(d_pr)),
        completeness_median=float(np.median(d_rp)),
        threshold=float(threshold),
        n_pred=len(P),
        n_ref=len(R),
    )
