"""Synthetic generator: exact geometry (back-projection onto known planes and boxes), z-depth vs
ray length, shading against hand-computed irradiance, determinism, sample contract, layouts."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("open3d")

from rgb2depth.geometry.camera import Intrinsics, backproject  # noqa: E402
from rgb2depth.synth.camera import look_pose  # noqa: E402
from rgb2depth.synth.generator import NYU_INTRINSICS, SynthDataset, default_intrinsics  # noqa: E402
from rgb2depth.synth.render import Renderer  # noqa: E402
from rgb2depth.synth.rooms import random_room  # noqa: E402
from rgb2depth.synth.scene import Light, MeshBuilder, Scene, obb_overlap  # noqa: E402
from rgb2depth.synth.textures import Material  # noqa: E402

K = Intrinsics(80.0, 82.0, 39.3, 30.6, 80, 60)


def _scene(build, lights=(), ambient=(0.0, 0.0, 0.0)) -> Scene:
    mb = MeshBuilder()
    build(mb)
    return Scene.from_builder(mb, [Material("paint", (0.5, 0.5, 0.5), specular=0.0)], list(lights), ambient)


def _to_world(depth, pose):
    pts = backproject(depth, K)
    return pts @ pose[:3, :3].T + pose[:3, 3]


def _rot(ax, ay, az):
    cx, sx, cy, sy, cz, sz = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay), math.cos(az), math.sin(az)
    Rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return Rz @ Ry @ Rx


def test_tilted_plane_backprojects_onto_the_plane():
    # plane through c with in-plane axes a, b (tilted), camera looking at it obliquely
    R = _rot(0.4, -0.3, 0.7)
    a, b = R[:, 0] * 20, R[:, 1] * 20
    c = np.array([1.0, 2.0, 0.5])
    n = R[:, 2]
    sc = _scene(lambda mb: mb.quad(c - a / 2 - b / 2, a, b, 0))
    pose = look_pose(c + 3.0 * n + np.array([0.3, -0.2, 0.1]), yaw=0.0, pitch=0.0)
    # aim the camera at c: rebuild the pose from the direction to c
    f = c - pose[:3, 3]
    pose = look_pose(pose[:3, 3], math.atan2(f[1], f[0]), math.atan2(f[2], math.hypot(f[0], f[1])), 0.1)
    depth = Renderer(sc).depth(pose, K)
    assert np.isfinite(depth).all()
    pts = _to_world(depth, pose)
    dist = np.abs((pts - c) @ n)
    assert dist.max() < 1e-3
    # independent ray-plane intersection: z = (n.(c - o)) / (n . R d_c)
    u, v = np.meshgrid(np.arange(K.width), np.arange(K.height))
    dc = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones_like(u, dtype=float)], -1)
    z = (n @ (c - pose[:3, 3])) / (dc @ pose[:3, :3].T @ n)
    np.testing.assert_allclose(depth, z, atol=1e-3)


def test_depth_is_z_not_ray_length():
    # fronto-parallel wall at 2.5 m: z-depth is 2.5 everywhere; the corner pixel's ray is longer
    pose = look_pose(np.zeros(3), yaw=0.0, pitch=0.0)  # looking along world +x
    sc = _scene(lambda mb: mb.quad((2.5, 10, -10), (0, -20, 0), (0, 0, 20), 0))
    depth = Renderer(sc).depth(pose, K)
    np.testing.assert_allclose(depth, 2.5, atol=1e-4)
    corner_ray_length = 2.5 * math.sqrt(1 + (K.cx / K.fx) ** 2 + (K.cy / K.fy) ** 2)
    assert corner_ray_length - depth[0, 0] > 0.3  # ray length would be 2.81 m here


@pytest.mark.parametrize("angles", [(0.0, 0.0, 0.3), (0.5, -0.4, 1.1)])
def test_box_backprojects_onto_its_surface(angles):
    R = _rot(*angles)
    ctr, size = np.array([3.0, 0.4, 1.2]), np.array([0.8, 0.5, 0.6])
    sc = _scene(lambda mb: mb.box(ctr, size, 0, R))
    pose = look_pose(np.array([0.5, 0.0, 1.5]), yaw=math.atan2(0.4, 2.5), pitch=-0.1)
    depth = Renderer(sc).depth(pose, K)
    hit = np.isfinite(depth)
    assert 200 < hit.sum() < hit.size  # the box fills part of the view, rays around it miss
    local = (_to_world(depth, pose) - ctr) @ R  # box frame
    q = np.abs(local) - size / 2
    sdf = np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(1), 0)
    assert np.abs(sdf).max() < 1e-3


def test_lambert_shading_and_cast_shadow_match_hand_computation():
    # floor z=0, point light 2 m above (no jitter), ambient 0.1; an occluding box casts a shadow
    power = np.array([4.0, 4.0, 4.0])
    light = Light(np.array([2.0, 0.0, 2.0]), power, radius=0.0)

    def build(mb):
        mb.quad((-10, -10, 0), (20, 0, 0), (0, 20, 0), 0)
        mb.box((3.2, 0.0, 1.0), (0.2, 0.2, 0.05), 0)  # hovering blocker: shadow near (4.4, 0, 0)

    sc = _scene(build, [light], (0.1, 0.1, 0.1))
    pose = look_pose(np.array([0.0, 0.0, 1.5]), yaw=0.0, pitch=-0.5)
    out = Renderer(sc).render(pose, K, np.random.default_rng(0), ao_samples=2, ao_radius=0.3)
    floor = np.isfinite(out["depth"]) & (out["object"] == 0)
    pts = _to_world(np.where(floor, out["depth"], np.nan), pose)
    Lv = light.position - pts
    d2 = (Lv**2).sum(1)
    E = power[0] * (Lv[:, 2] / np.sqrt(d2)) / d2
    vv, uu = np.nonzero(floor)
    rad = out["radiance"][vv, uu, 0]
    alb = out["albedo"][vv, uu, 0]
    # blocker shadow on the floor: the segment from the light through the box, hitting z=0
    in_shadow = (np.abs(pts[:, 1]) < 0.15) & (np.abs(pts[:, 0] - 4.4) < 0.15)
    lit = (np.abs(pts[:, 1]) > 0.6) | (np.abs(pts[:, 0] - 4.4) > 0.6)
    np.testing.assert_allclose(rad[lit], alb[lit] * (E[lit] + 0.1), rtol=2e-3)
    assert in_shadow.sum() > 3
    np.testing.assert_allclose(rad[in_shadow], alb[in_shadow] * 0.1, rtol=2e-3, atol=1e-4)


def test_default_intrinsics_scale_nyu_with_square_pixels():
    assert default_intrinsics(480, 640) == NYU_INTRINSICS
    half = default_intrinsics(240, 320)
    assert half == NYU_INTRINSICS.scaled(320, 240)
    sq = default_intrinsics(256, 256)  # cover (scale 256/480) then centre crop
    s = 256 / 480
    assert sq.fx == pytest.approx(518.8579 * s) and sq.fy == pytest.approx(519.4696 * s)
    assert sq.cx == pytest.approx((325.5824 + 0.5) * s - 0.5 - (640 * s - 256) / 2)


def test_samples_are_deterministic_and_follow_the_contract():
    ds = SynthDataset(count=3, size=(48, 64), seed=5, ao_samples=2)
    a2 = ds[2]
    a1 = ds[1]
    b = SynthDataset(count=3, size=(48, 64), seed=5, ao_samples=2)
    b1, b2 = b[1], b[2]
    for x, y in ((a1, b1), (a2, b2)):
        assert x["rgb"].tobytes() == y["rgb"].tobytes()
        assert x["depth"].tobytes() == y["depth"].tobytes()
        np.testing.assert_array_equal(x["pose"], y["pose"])
    assert SynthDataset(count=3, size=(48, 64), seed=6, ao_samples=2)[1]["rgb"].tobytes() != a1["rgb"].tobytes()
    s = a1
    assert s["rgb"].shape == (48, 64, 3) and s["rgb"].dtype == np.uint8
    assert s["depth"].shape == (48, 64) and s["depth"].dtype == np.float32
    assert s["valid"].dtype == bool and np.array_equal(s["valid"], np.isfinite(s["depth"]))
    assert s["valid"].all() and (s["depth"] > 0.05).all() and s["id"] == "000001"
    assert s["K"] == default_intrinsics(48, 64)
    R = s["pose"][:3, :3]
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(R) == pytest.approx(1.0)
    assert 0.5 < s["pose"][2, 3] < 2.0  # camera height in metres (world z up)
    assert [x["id"] for x in ds] == ["000000", "000001", "000002"]
    with pytest.raises(IndexError):
        ds[3]


def test_trajectory_frames_are_consistent_views_of_one_room():
    ds = SynthDataset(count=4, size=(60, 80), seed=2, trajectory=True, frames_per_scene=4, ao_samples=1)
    f0, f1 = ds[0], ds[1]
    T0, T1 = f0["pose"], f1["pose"]
    step = np.linalg.norm(T1[:3, 3] - T0[:3, 3])
    ang = math.degrees(math.acos(np.clip((np.trace(T0[:3, :3].T @ T1[:3, :3]) - 1) / 2, -1, 1)))
    assert 0.001 < step < 0.06 and ang < 3.0
    # frame-0 points seen from frame 1 agree with frame 1's depth where visible
    Kf = f0["K"]
    pts = backproject(f0["depth"], Kf)
    w = pts @ T0[:3, :3].T + T0[:3, 3]
    c1 = (w - T1[:3, 3]) @ T1[:3, :3]
    uf = Kf.fx * c1[:, 0] / c1[:, 2] + Kf.cx
    vf = Kf.fy * c1[:, 1] / c1[:, 2] + Kf.cy
    u, v = np.rint(uf).astype(int), np.rint(vf).astype(int)
    inside = (u >= 0) & (u < Kf.width) & (v >= 0) & (v < Kf.height) & (c1[:, 2] > 0)
    assert inside.mean() > 0.7  # small motion: most of the view is shared
    # compare with frame 1's depth at the nearest pixel, allowing the depth change over the
    # sub-pixel offset (first-order, from the local gradient) plus 2 mm
    gv, gu = np.gradient(f1["depth"].astype(np.float64))
    u, v, uf, vf, z = u[inside], v[inside], uf[inside], vf[inside], c1[inside, 2]
    err = np.abs(f1["depth"][v, u] - z)
    tol = np.abs(gu[v, u] * (uf - u)) + np.abs(gv[v, u] * (vf - v)) + 0.002
    assert np.mean(err <= tol) > 0.9  # the rest: occlusion boundaries and depth edges


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_layouts_do_not_intersect_and_stay_in_the_room(seed):
    sc = random_room(np.random.default_rng(seed))
    X, Y, H = sc.room
    obs = sc.obstacles
    assert len(obs) >= 2
    for i in range(len(obs)):
        for j in range(i + 1, len(obs)):
            assert not obb_overlap(obs[i], obs[j]), (obs[i], obs[j])
    # all triangles except the outdoor backdrop and corridors lie in the room box (+ wall depth)
    c = sc.mesh["corners"]
    inside = (c[..., 0] > -0.01) & (c[..., 0] < X + 0.01) & (c[..., 1] > -0.01) & (c[..., 1] < Y + 0.01)
    z = c[..., 2][inside.all(1)]
    assert z.min() >= -1e-5 and z.max() <= H + 1e-5


def test_user_intrinsics_are_used_for_rendering():
    ds = SynthDataset(count=1, size=(40, 60), seed=1, intrinsics="45,45,29.5,19.5", ao_samples=1)
    assert ds.K == Intrinsics(45.0, 45.0, 29.5, 19.5, 60, 40)
    s, out = ds.render(0)
    assert s["K"] == ds.K and s["rgb"].shape == (40, 60, 3)
    # the shaded render and the depth-only ray cast with these intrinsics agree exactly
    sc, renderer, poses = ds.scene_and_poses(0)
    np.testing.assert_array_equal(renderer.depth(poses[0], ds.K), s["depth"])
    with pytest.raises(ValueError, match="fx,fy,cx,cy"):
        SynthDataset(count=1, size=(40, 60), intrinsics="45,45")
