"""Chamfer distance and within-threshold fractions on analytic shapes."""

from __future__ import annotations

import numpy as np
import pytest

from rgb2depth.geometry.surface_metrics import compare_surfaces, nearest_distances, to_points


def _grid_plane(x0, x1, y0, y1, z, step=0.005):
    xs = np.arange(x0, x1 + 1e-9, step)
    ys = np.arange(y0, y1 + 1e-9, step)
    X, Y = np.meshgrid(xs, ys)
    return np.stack([X.ravel(), Y.ravel(), np.full(X.size, z)], 1)


def test_parallel_planes_3cm_apart():
    a = _grid_plane(0, 1, 0, 1, 0.0)
    b = _grid_plane(0, 1, 0, 1, 0.03)
    m = compare_surfaces(a, b)
    assert m.accuracy == pytest.approx(0.03, abs=1e-12)
    assert m.completeness == pytest.approx(0.03, abs=1e-12)
    assert m.chamfer == pytest.approx(0.03, abs=1e-12)
    assert m.precision == 1.0 and m.recall == 1.0 and m.fscore == 1.0
    tight = compare_surfaces(a, b, threshold=0.02)
    assert tight.precision == 0.0 and tight.recall == 0.0 and tight.fscore == 0.0


def test_half_plane_coverage_hand_values():
    # Reference: the unit square; prediction: its left half (x <= 0.5), same plane.
    step = 0.005
    ref = _grid_plane(0, 1, 0, 1, 0.0, step)
    pred = _grid_plane(0, 0.5, 0, 1, 0.0, step)
    m = compare_surfaces(pred, ref)
    assert m.accuracy == pytest.approx(0.0, abs=1e-12) and m.precision == 1.0
    # Completeness: a column at x has distance max(0, x - 0.5); on the 201-column grid the mean
    # is sum_{k=1..100} k*step / 201.
    assert m.completeness == pytest.approx(step * 100 * 101 / 2 / 201, rel=1e-9)
    # Recall at 5 cm: columns with x - 0.5 < 0.05, i.e. 101 + 9 of 201 (x = 0.55 is not < 5 cm).
    assert m.recall == pytest.approx(110 / 201, rel=1e-9)
    assert m.fscore == pytest.approx(2 * m.recall / (1 + m.recall))


def test_nearest_distances_against_brute_force():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 3)), rng.normal(size=(200, 3))
    brute = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)).min(1)
    assert np.allclose(nearest_distances(a, b), brute)


def test_sphere_meshes_2cm_apart_are_sampled_uniformly(tmp_path):
    o3d = pytest.importorskip("open3d")
    s1 = o3d.geometry.TriangleMesh.create_sphere(radius=0.25, resolution=80)
    s2 = o3d.geometry.TriangleMesh.create_sphere(radius=0.27, resolution=80)
    m = compare_surfaces(s1, s2, n_samples=20_000)
    # Concentric spheres: every surface point is 2 cm from the other surface. Sampling both
    # surfaces (~3.5 mm spacing) and tessellation add well under 1 mm.
    assert m.chamfer == pytest.approx(0.02, abs=1e-3)
    assert m.precision == 1.0 and m.recall == 1.0
    # Uniform sampling: the points' mean radius is the sphere's and the octants are balanced.
    p = to_points(s1, 20_000, seed=0)
    assert len(p) == 20_000
    assert np.linalg.norm(p, axis=1).mean() == pytest.approx(0.25, abs=1e-3)
    octant = (p > 0) @ np.array([1, 2, 4])
    counts = np.bincount(octant, minlength=8)
    assert counts.min() > 0.9 * 20_000 / 8
    # Same seed, same points; PLY path input gives the same metrics as the objects.
    assert np.array_equal(p, to_points(s1, 20_000, seed=0))
    o3d.io.write_triangle_mesh(str(tmp_path / "s1.ply"), s1)
    o3d.io.write_triangle_mesh(str(tmp_path / "s2.ply"), s2)
    m2 = compare_surfaces(tmp_path / "s1.ply", tmp_path / "s2.ply", n_samples=20_000)
    assert m2.chamfer == pytest.approx(m.chamfer, abs=2e-4)


def test_point_cloud_ply_and_errors(tmp_path):
    o3d = pytest.importorskip("open3d")
    pts = _grid_plane(0, 0.2, 0, 0.2, 1.0, 0.01)
    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    o3d.io.write_point_cloud(str(tmp_path / "c.ply"), pc)
    assert np.allclose(to_points(tmp_path / "c.ply"), pts)
    assert compare_surfaces(tmp_path / "c.ply", pc).chamfer == 0.0
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        to_points(np.zeros((4, 2)))
    with pytest.raises(FileNotFoundError, match="nope.ply"):
        to_points(tmp_path / "nope.ply")
    with pytest.raises(ValueError, match="cannot compare"):
        compare_surfaces(np.zeros((0, 3)), pts)
