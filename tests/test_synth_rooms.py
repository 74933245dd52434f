"""The widened synthetic generator: room types, view kinds, random RGB-D focal lengths.

Geometry is checked against the scene itself (back-projected floor pixels lie on z = 0, which
only holds when the returned ``K`` is the camera that rendered them), lighting against a
hand-computed irradiance, and layouts against the floor-plan rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("open3d")

from rgb2depth.geometry.camera import Intrinsics, backproject  # noqa: E402
from rgb2depth.synth.camera import DEFAULT_VIEWS, VIEW_KINDS, look_pose  # noqa: E402
from rgb2depth.synth.generator import SynthDataset, parse_weights  # noqa: E402
from rgb2depth.synth.render import Renderer  # noqa: E402
from rgb2depth.synth.rooms import DEFAULT_MIX, ROOM_TYPES, random_room  # noqa: E402
from rgb2depth.synth.scene import Light, MeshBuilder, Scene, obb_overlap  # noqa: E402
from rgb2depth.synth.textures import Material  # noqa: E402

TYPED = [t for t in ROOM_TYPES if t != "generic"]


def _world(depth, K, pose, mask):
    pts = backproject(np.where(mask, depth, np.nan), K)
    return pts @ pose[:3, :3].T + pose[:3, 3]


@pytest.mark.parametrize("kind", TYPED)
def test_each_room_type_renders_valid_metric_depth(kind):
    ds = SynthDataset(count=2, size=(48, 64), seed=3, scene_types=kind, views="handheld,robot", ao_samples=1)
    for i in range(2):
        s, out = ds.render(i)
        assert out["scene_type"] == kind and out["view"] in ("handheld", "robot")
        d, sc = s["depth"], ds.scene_and_poses(i)[0]
        # every pixel is valid except those seeing the outdoor backdrop through a window
        sky = np.isin(out["object"], sc.outdoor)
        np.testing.assert_array_equal(s["valid"], ~sky)
        assert np.isfinite(d[~sky]).all() and np.isnan(d[sky]).all() and sky.mean() < 0.5
        X, Y, H = sc.room
        # indoors nothing is farther than the room's diagonal plus the room behind a door
        assert d[~sky].min() > 0.05 and d[~sky].max() < math.sqrt(X * X + Y * Y + H * H) + 5.0
        assert 0.3 < float(np.nanmedian(d)) < math.sqrt(X * X + Y * Y + H * H)
        h = s["pose"][2, 3]
        assert (1.2 <= h <= 1.8) if out["view"] == "handheld" else (0.3 <= h <= 1.0)


@pytest.mark.parametrize("kind", ["office", "kitchen", "living"])
def test_closeups_look_down_at_a_surface_from_close(kind):
    ds = SynthDataset(count=3, size=(48, 64), seed=5, scene_types=kind, views="closeup", ao_samples=1)
    for i in range(3):
        s, out = ds.render(i)
        assert out["view"] == "closeup"
        assert float(np.nanmedian(s["depth"])) < 1.3
        forward = s["pose"][:3, 2]  # camera z axis in the world (z up)
        pitch = math.degrees(math.asin(forward[2]))
        assert -70.5 <= pitch <= -29.5


def test_random_focal_is_in_range_and_is_the_camera_that_rendered():
    size = (60, 80)  # 640x480 scaled by 1/8
    ds = SynthDataset(count=16, size=size, seed=2, scene_types="mix", views="handheld,robot", focal_range=(500, 640),
                      ao_samples=1)
    assert ds.K is None
    fxs, checked = [], 0
    for i in range(16):
        if checked == 4:
            break
        s, out = ds.render(i)
        K = s["K"]
        assert (K.width, K.height) == (80, 60)
        assert 500 / 8 <= K.fx <= 640 / 8 and abs(K.fy / K.fx - 1) < 0.004
        assert abs(K.cx - 39.5) <= 6 / 8 + 1e-9 and abs(K.cy - 29.5) <= 6 / 8 + 1e-9
        fxs.append(K.fx)
        # floor pixels (object 0) back-project onto z = 0 and ceiling pixels (object 1) onto
        # z = H with this K and pose ...
        H = ds.scene_and_poses(i)[0].room[2]
        plane = (out["object"] == 0) | (out["object"] == 1)
        if plane.sum() < 20:
            continue  # a view of a wall and furniture only
        checked += 1
        level = np.where(out["object"] == 1, H, 0.0)[plane]
        err = np.abs(_world(s["depth"], K, s["pose"], plane)[:, 2] - level)
        assert err.max() < 2e-3
        # ... and not with a 5% different focal length (the check is sensitive to K)
        wrong = Intrinsics(K.fx * 1.05, K.fy * 1.05, K.cx, K.cy, K.width, K.height)
        err_w = np.abs(_world(s["depth"], wrong, s["pose"], plane)[:, 2] - level)
        assert err_w.max() > 5 * err.max() + 5e-3
    assert checked == 4 and len(set(fxs)) == len(fxs)  # drawn per room


def test_focal_range_and_intrinsics_are_exclusive_and_checked():
    with pytest.raises(ValueError, match="either intrinsics or focal_range"):
        SynthDataset(count=1, size=(48, 64), intrinsics="50,50,31.5,23.5", focal_range=(500, 640))
    with pytest.raises(ValueError, match="focal_range"):
        SynthDataset(count=1, size=(48, 64), focal_range=(640, 500))


def test_widened_samples_are_deterministic_per_seed_and_index():
    kw = dict(size=(48, 64), seed=9, scene_types="mix", focal_range=(500, 640), ao_samples=1)
    a = SynthDataset(count=4, **kw)
    first = [a[i] for i in (3, 1)]
    b = SynthDataset(count=4, **kw)
    for s, i in zip(first, (3, 1), strict=True):
        t = b[i]
        assert s["rgb"].tobytes() == t["rgb"].tobytes() and s["depth"].tobytes() == t["depth"].tobytes()
        assert s["K"] == t["K"]
        np.testing.assert_array_equal(s["pose"], t["pose"])
    c = SynthDataset(count=4, **{**kw, "seed": 10})
    assert c[1]["rgb"].tobytes() != first[1]["rgb"].tobytes()


def test_trajectories_keep_one_camera_per_room():
    ds = SynthDataset(count=3, size=(48, 64), seed=4, scene_types="office", focal_range=(500, 640), trajectory=True,
                      frames_per_scene=3, ao_samples=1)
    Ks = [ds[i]["K"] for i in range(3)]
    assert Ks[0] == Ks[1] == Ks[2]


def test_weights_parse_names_mixes_and_reject_unknown_names():
    assert parse_weights("mix", ROOM_TYPES, DEFAULT_MIX, "scene_types") == pytest.approx(DEFAULT_MIX)
    assert sum(DEFAULT_MIX.values()) == pytest.approx(1.0) and set(DEFAULT_MIX) == set(ROOM_TYPES)
    assert set(DEFAULT_VIEWS) <= set(VIEW_KINDS)
    assert parse_weights("office:3,kitchen", ROOM_TYPES, DEFAULT_MIX, "x") == {"office": 0.75, "kitchen": 0.25}
    assert parse_weights({"bathroom": 2}, ROOM_TYPES, DEFAULT_MIX, "x") == {"bathroom": 1.0}
    assert parse_weights(["robot", "closeup"], VIEW_KINDS, DEFAULT_VIEWS, "x") == {"robot": 0.5, "closeup": 0.5}
    with pytest.raises(ValueError, match="scene_types: unknown 'garage'"):
        SynthDataset(count=1, scene_types="office,garage")
    with pytest.raises(ValueError, match="weight of 'office' must be a number"):
        parse_weights("office:x", ROOM_TYPES, DEFAULT_MIX, "scene_types")


@pytest.mark.parametrize("kind", TYPED)
def test_typed_layouts_do_not_intersect_and_stay_in_the_room(kind):
    for seed in range(3):
        sc = random_room(np.random.default_rng([seed, 99]), kind)
        assert sc.kind == kind
        X, Y, H = sc.room
        obs = sc.obstacles
        for i in range(len(obs)):
            for j in range(i + 1, len(obs)):
                assert not obb_overlap(obs[i], obs[j]), (kind, obs[i], obs[j])
        # furniture footprints lie in the room
        for o in obs:
            c, s_ = math.cos(o[4]), math.sin(o[4])
            for sx in (-1, 1):
                for sy in (-1, 1):
                    x = o[0] + sx * o[2] * c - sy * o[3] * s_
                    y = o[1] + sx * o[2] * s_ + sy * o[3] * c
                    assert -1e-6 <= x <= X + 1e-6 and -1e-6 <= y <= Y + 1e-6
        # support tops for close-ups are at table to counter height
        assert all(0.3 <= t[5] <= 1.3 for t in sc.surfaces)


def test_directional_light_matches_hand_computed_irradiance_and_shadows():
    # floor z=0 lit by a sun at 45 degrees elevation (irradiance 3 on a surface facing it) and
    # ambient 0.1; a hovering plate casts a shadow displaced by its height along the sun
    sun_dir = np.array([-1.0, 0.0, 1.0]) / math.sqrt(2)
    sun = Light(sun_dir, np.array([3.0, 3.0, 3.0]), radius=0.0, directional=True, reach=20.0)

    def build(mb):
        mb.quad((-10, -10, 0), (20, 0, 0), (0, 20, 0), 0)
        mb.box((4.0, 0.0, 1.0), (0.3, 0.3, 0.02), 0)  # shadow centred at (5.0, 0, 0)

    mb = MeshBuilder()
    build(mb)
    sc = Scene.from_builder(mb, [Material("paint", (0.5, 0.5, 0.5), specular=0.0)], [sun], (0.1, 0.1, 0.1))
    K = Intrinsics(80.0, 80.0, 39.5, 29.5, 80, 60)
    pose = look_pose(np.array([1.0, 0.0, 2.0]), yaw=0.0, pitch=-0.6)
    out = Renderer(sc).render(pose, K, np.random.default_rng(0), ao_samples=0)
    floor = np.isfinite(out["depth"]) & (out["object"] == 0)
    pts = _world(out["depth"], K, pose, floor)
    vv, uu = np.nonzero(floor)
    rad, alb = out["radiance"][vv, uu, 0], out["albedo"][vv, uu, 0]
    E = 3.0 * sun_dir[2]  # cos(45 deg) on the horizontal floor, no distance fall-off
    in_shadow = (np.abs(pts[:, 1]) < 0.1) & (np.abs(pts[:, 0] - 5.0) < 0.1)
    lit = (np.abs(pts[:, 1]) > 0.4) | (np.abs(pts[:, 0] - 5.0) > 0.4)
    assert in_shadow.sum() > 2 and lit.sum() > 100
    np.testing.assert_allclose(rad[lit], alb[lit] * (E + 0.1), rtol=2e-3)
    np.testing.assert_allclose(rad[in_shadow], alb[in_shadow] * 0.1, rtol=2e-3, atol=1e-4)


def test_sky_gain_scales_the_outdoor_backdrop():
    mb = MeshBuilder()
    mb.quad((3.0, 5, -5), (0, -10, 0), (0, 0, 10), 0)
    mats = [Material("emissive", (0.8, 0.9, 1.0), emissive=1.0)]
    light = Light(np.array([0.0, 0.0, 2.6]), np.full(3, 2.6**2 * 2.0))
    K = Intrinsics(40.0, 40.0, 19.5, 14.5, 40, 30)
    pose = look_pose(np.zeros(3), 0.0, 0.0)
    rads = []
    for gain in (1.0, 4.0):
        sc = Scene.from_builder(mb, mats, [light], (0.1, 0.1, 0.1), room=(5.0, 5.0, 2.6), sky_gain=gain)
        rads.append(Renderer(sc).render(pose, K, np.random.default_rng(0), ao_samples=0)["radiance"])
    assert rads[0].min() > 0
    np.testing.assert_allclose(rads[1], 4.0 * rads[0], rtol=1e-5)
    np.testing.assert_allclose(rads[0][..., 0], 0.8 * 2.0 * 1.5, rtol=1e-5)  # colour x light level x 1.5
