"""Joint transforms: geometry consistency with the intrinsics, no depth blending across invalid
pixels, the papers' presets, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from rgb2depth.data import make_sample
from rgb2depth.data import transforms as T
from rgb2depth.geometry.camera import Intrinsics, backproject


def _plane_sample(h=48, w=64, holes=True, f=600.0):
    """A tilted plane z = 2 + 0.002 u + 0.001 v (u, v in pixels) seen by a known camera, with invalid holes."""
    K = Intrinsics(f, f, (w - 1) / 2 + 1.5, (h - 1) / 2 - 2.0, w, h)
    v, u = np.mgrid[0:h, 0:w]
    depth = (2.0 + 0.002 * u + 0.001 * v).astype(np.float32)
    if holes:
        depth[10:14, 20:30] = np.nan
        depth[30, :] = 0
    rgb = np.stack([(u * 4) % 256, (v * 5) % 256, (u + v) % 256], -1).astype(np.uint8)
    pose = np.eye(4)
    pose[:3, 3] = [0.1, -0.2, 0.3]
    return make_sample(rgb, depth, K, "plane", pose=pose)


def _world_points(s):
    P = backproject(s["depth"], s["K"], s["valid"])
    return P @ s["pose"][:3, :3].T + s["pose"][:3, 3]


def test_hflip_intrinsics_consistent():
    s = _plane_sample()
    f = T.hflip(s)
    assert np.array_equal(f["depth"][:, ::-1], s["depth"], equal_nan=True)
    # back-projected points are mirrored in x: x' = -x
    P, Q = backproject(s["depth"], s["K"], s["valid"]), backproject(f["depth"], f["K"], f["valid"])
    key = lambda A: A[np.lexsort((A[:, 2], A[:, 1], np.round(np.abs(A[:, 0]), 9)))]  # noqa: E731
    Q[:, 0] *= -1
    assert np.allclose(key(P), key(Q), atol=1e-9)
    assert "pose" not in f


def test_rotation_preserves_world_points_and_validity():
    s = _plane_sample(holes=False)
    # random depth per pixel: a wrong correspondence lands on a different depth
    rnd = np.random.default_rng(0).uniform(2.0, 3.0, s["depth"].shape).astype(np.float32)
    s = make_sample(s["rgb"], rnd, s["K"], "rnd", pose=s["pose"])
    r = T.rotate(s, 7.0)
    assert r["K"] == s["K"]
    assert r["valid"].sum() < s["valid"].sum()  # corners brought in are invalid
    assert np.isnan(r["depth"][~r["valid"]]).all()
    # each kept pixel's world point (rotated sample, updated pose) is the world point of the source
    # pixel it was taken from (same depth, <= half a pixel apart laterally: ~3 mm here)
    import cv2

    K = s["K"]
    Minv = cv2.invertAffineTransform(cv2.getRotationMatrix2D((K.cx, K.cy), 7.0, 1.0))
    vv, uu = np.nonzero(r["valid"])
    src = Minv @ np.stack([uu, vv, np.ones_like(uu)]).astype(np.float64)
    su, sv = np.rint(src[0]).astype(int), np.rint(src[1]).astype(int)
    assert np.array_equal(r["depth"][vv, uu], s["depth"][sv, su])

    def world(sample, u, v):
        z = sample["depth"][v, u].astype(np.float64)
        P = np.stack([(u - K.cx) * z / K.fx, (v - K.cy) * z / K.fy, z], 1)
        return P @ sample["pose"][:3, :3].T + sample["pose"][:3, 3]

    d = np.linalg.norm(world(r, uu, vv) - world(s, su, sv), axis=1)
    assert d.max() < 0.004
    bad = dict(r, pose=s["pose"])  # pose not updated: points off by the 7 degree roll
    assert np.linalg.norm(world(bad, uu, vv) - world(s, su, sv), axis=1).max() > 4 * d.max()


def test_scale_divides_depth_and_scales_focal():
    s = _plane_sample(holes=False)
    z = T.scale_zoom(s, 1.25, None)
    assert z["K"].fx == pytest.approx(s["K"].fx * 1.25)
    # the centre pixel of the output sees the scene point the original centre pixel saw, depth / s
    h, w = s["depth"].shape
    cy, cx = h // 2, w // 2
    # invert the mapping u' + 0.5 = s(u + 0.5) - ox (ox centred)
    ox = (1.25 * w - w) / 2
    u = (cx + 0.5 + ox) / 1.25 - 0.5
    oy = (1.25 * h - h) / 2
    v = (cy + 0.5 + oy) / 1.25 - 0.5
    expect = (2.0 + 0.002 * round(u) + 0.001 * round(v)) / 1.25
    assert z["depth"][cy, cx] == pytest.approx(expect, abs=1e-6)
    # back-projection of the zoomed sample = original geometry / s (the K update is consistent)
    Pz = backproject(z["depth"], z["K"], z["valid"])
    Ps = backproject(s["depth"], s["K"], s["valid"]) / 1.25
    from scipy.spatial import cKDTree

    d, _ = cKDTree(Ps).query(Pz)
    assert d.max() < 0.005


def test_nearest_resize_never_blends_across_invalid():
    s = _plane_sample()
    raw_vals = set(np.unique(s["depth"][s["valid"]]).tolist())
    r = T.resize(s, 24, 32)
    assert set(np.unique(r["depth"][r["valid"]]).tolist()) <= raw_vals
    # validity-aware mode: a pixel adjacent to a hole is invalid or an exact average of valid ones
    v = T.resize(s, 24, 32, depth_mode="valid")
    assert np.isnan(v["depth"][~v["valid"]]).all()
    # the 2x2 block covering rows 30-31 (row 30 is invalid) is invalid in strict mode
    assert not v["valid"][15].any()
    # block (0,0) averages rows 0-1, cols 0-1 exactly
    assert v["depth"][0, 0] == pytest.approx(np.mean(s["depth"][0:2, 0:2]), rel=1e-6)
    lax = T.resize(s, 24, 32, depth_mode="valid", min_frac=0.5)
    # half-valid blocks now average only their valid pixels
    assert lax["depth"][15, 3] == pytest.approx(np.mean(s["depth"][31, 6:8]), rel=1e-6)
    assert r["K"] == s["K"].scaled(32, 24)


def test_paper003_preset_shapes_and_intrinsics():
    s = _plane_sample(480, 640, holes=False, f=518.0)
    t = T.build({"preset": "paper003_nyu"}, train=False)
    o = t(s, np.random.default_rng(0))
    assert o["rgb"].shape == (228, 304, 3)
    K = s["K"].scaled(320, 240).cropped((240 - 228) // 2, (320 - 304) // 2, 228, 304)
    assert o["K"] == K
    assert o["K"].fx == pytest.approx(259.0)


def test_make3d_preset_masks_far():
    s = _plane_sample(holes=False)
    s = make_sample(s["rgb"], s["depth"] * 34, s["K"], "far")  # 60..~68 m
    o = T.build({"preset": "paper003_make3d"}, train=False)(s, np.random.default_rng(0))
    assert o["depth"].shape == (345, 460)
    assert np.nanmax(o["depth"]) <= 70.0
    assert o["valid"].sum() == np.isfinite(o["depth"]).sum()


def test_train_pipeline_deterministic_and_sized():
    s = _plane_sample(120, 160)
    cfg = {"preset": ["eigen", "paper000"], "crop": [96, 128], "color": {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "gain": [0.8, 1.2]}}
    t = T.build(cfg, train=True, size=(48, 64))
    a = t(s, np.random.default_rng(5))
    b = t(s, np.random.default_rng(5))
    c = t(s, np.random.default_rng(6))
    assert a["rgb"].shape == (48, 64, 3) and a["depth"].shape == (48, 64)
    assert np.array_equal(a["rgb"], b["rgb"]) and np.array_equal(a["depth"], b["depth"], equal_nan=True)
    assert not np.array_equal(a["rgb"], c["rgb"])
    assert t.rotate == 15.0  # paper000 overrides eigen's 5 degrees (later preset wins)
    assert s["rgb"].shape == (120, 160, 3)  # input untouched


def test_grayscale_and_eval_is_identity_without_random():
    s = _plane_sample()
    g = T.build({"grayscale": True, "hflip": 1.0}, train=False)(s, None)
    assert g["gray"] and np.array_equal(g["rgb"][..., 0], g["rgb"][..., 2])
    assert np.array_equal(g["depth"], s["depth"], equal_nan=True)  # no flip at eval


def test_bad_config_is_named():
    with pytest.raises(ValueError, match="unknown transform config keys"):
        T.build({"flip": 0.5}, train=True)
    with pytest.raises(ValueError, match="unknown transform preset"):
        T.build({"preset": "nope"}, train=True)


def _real_photo_sample():
    """The shipped real demo frame (TUM fr3/cabinet, CC BY 4.0), downsized, with a plane for depth."""
    import cv2

    from rgb2depth.demo import assets_dir

    rgb = cv2.cvtColor(cv2.imread(str(assets_dir() / "tum_cabinet.jpg")), cv2.COLOR_BGR2RGB)
    rgb = cv2.resize(rgb, (160, 120), interpolation=cv2.INTER_AREA)
    return make_sample(rgb, np.full((120, 160), 2.0, np.float32), Intrinsics(130, 130, 80, 60, 160, 120), "cab")


def test_hue_rotation_keeps_luma_and_grey_and_inverts():
    img = _real_photo_sample()["rgb"].astype(np.float32)
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    r = T.rotate_hue(img, 0.2)
    np.testing.assert_allclose(r @ luma, img @ luma, atol=1e-3)  # brightness unchanged
    assert np.abs(r - img).max() > 20  # and the colours did move
    np.testing.assert_allclose(T.rotate_hue(r, -0.2), img, atol=1e-2)  # -x undoes +x
    np.testing.assert_allclose(T.rotate_hue(img, 1.0), img, atol=1e-2)  # a full turn is identity
    grey = np.full((4, 4, 3), 117.0, np.float32)
    np.testing.assert_allclose(T.rotate_hue(grey, 0.37), grey, atol=1e-3)


def test_gamma_matches_the_formula():
    s = _real_photo_sample()
    o = T.color_jitter(s, np.random.default_rng(3), gamma=(1.5, 1.5))
    want = np.clip(255.0 * (s["rgb"] / 255.0) ** 1.5 + 0.5, 0, 255).astype(np.uint8)
    assert np.array_equal(o["rgb"], want)


def test_camera_effects_on_a_real_photo():
    import cv2

    s = _real_photo_sample()
    rng = np.random.default_rng
    # JPEG at a fixed quality is exactly OpenCV's round trip; depth, mask and intrinsics untouched
    o = T.camera_effects(s, rng(0), jpeg=1.0, jpeg_quality=(30, 30))
    ok, buf = cv2.imencode(".jpg", s["rgb"], [cv2.IMWRITE_JPEG_QUALITY, 30])
    assert np.array_equal(o["rgb"], cv2.imdecode(buf, cv2.IMREAD_UNCHANGED))
    assert np.array_equal(o["depth"], s["depth"]) and o["K"] == s["K"] and o["rgb"].dtype == np.uint8
    # noise: the added error has the requested standard deviation (clipping aside)
    o = T.camera_effects(s, rng(1), noise=(5.0, 5.0))
    diff = o["rgb"].astype(np.float32) - s["rgb"]
    inside = (s["rgb"] > 20) & (s["rgb"] < 235)
    assert abs(diff[inside].std() - 5.0) < 0.3 and abs(diff[inside].mean()) < 0.2
    # blur at probability 1 is OpenCV's Gaussian; at probability 0 the image is unchanged
    o = T.camera_effects(s, rng(2), blur=1.0, blur_sigma=(1.2, 1.2))
    assert np.array_equal(o["rgb"], cv2.GaussianBlur(s["rgb"], (0, 0), 1.2))
    assert np.array_equal(T.camera_effects(s, rng(2), blur=0.0)["rgb"], s["rgb"])
    # from a config, in the training pipeline only
    cfg = {"camera": {"blur": 1.0, "noise": [2, 4], "jpeg": 1.0}, "color": {"gamma": [0.8, 1.2], "hue": 0.1}}
    assert "camera" in repr(T.build(cfg, train=True))
    assert np.array_equal(T.build(cfg, train=False)(s, rng(0))["rgb"], s["rgb"])
    with pytest.raises(ValueError, match=r"unknown camera augmentation keys \['sharpen'\]"):
        T.build({"camera": {"sharpen": 1}}, train=True)


def test_texture_detail_adds_fine_patchy_luminance_detail_only():
    import cv2

    h, w = 192, 256
    grey = make_sample(np.full((h, w, 3), 128, np.uint8), np.full((h, w), 2.0, np.float32),
                       Intrinsics(200.0, 200.0, 128.0, 96.0, w, h), "grey")
    rng = np.random.default_rng
    for seed in range(3):
        o = T.texture_detail(grey, rng(seed), amount=(12.0, 12.0), sigma=(2.0, 2.0))
        d = o["rgb"].astype(np.float32) - 128.0
        # luminance only, the geometry untouched
        assert np.array_equal(d[..., 0], d[..., 1]) and np.array_equal(d[..., 0], d[..., 2])
        assert np.array_equal(o["depth"], grey["depth"]) and o["K"] == grey["K"] and o["rgb"].dtype == np.uint8
        # in patches: the smooth mask spares part of the image and covers the rest at the full amount
        spared = (np.abs(d[..., 0]) < 0.5).mean()
        assert 0.1 < spared < 0.7, spared
        assert 0.45 * 12.0 < d.std() < 12.0
        # fine detail: a wide Gaussian leaves almost nothing of it (no shading, no tint)
        assert cv2.GaussianBlur(d[..., 0], (0, 0), 8.0).std() < 0.05 * d.std()
    # deterministic per generator; probability 0 leaves the image alone
    a = T.texture_detail(grey, rng(7), amount=(5.0, 9.0))["rgb"]
    assert np.array_equal(a, T.texture_detail(grey, rng(7), amount=(5.0, 9.0))["rgb"])
    assert T.texture_detail(grey, rng(7), p=0.0) is grey
    # on a real photo, the fine-detail energy rises with the amount asked for
    real = _real_photo_sample()
    hp = [T.fine_detail_std(real["rgb"])] + [
        T.fine_detail_std(T.texture_detail(real, rng(1), amount=(a, a), sigma=(2.0, 2.0))["rgb"]) for a in (8.0, 20.0)]
    assert hp[0] < hp[1] < hp[2], hp
    # from a config, in the training pipeline only, keys checked
    cfg = {"texture": {"p": 1.0, "amount": [2, 20], "sigma": [1, 3]}}
    assert "texture" in repr(T.build(cfg, train=True))
    assert not np.array_equal(T.build(cfg, train=True)(real, rng(0))["rgb"], real["rgb"])
    assert np.array_equal(T.build(cfg, train=False)(real, rng(0))["rgb"], real["rgb"])
    with pytest.raises(ValueError, match=r"unknown texture augmentation keys \['std'\]"):
        T.build({"texture": {"std": 1}}, train=True)


def test_by_index_picks_the_transform_of_each_range_and_names_bad_use():
    a, b = T.build({}, train=True), T.build({"hflip": 1.0}, train=True)
    t = T.ByIndex([0, 2, 5], [a, b])
    assert [t.at(i) is a for i in range(5)] == [True, True, False, False, False]
    with pytest.raises(IndexError, match="index 5 outside 0..4"):
        t.at(5)
    with pytest.raises(ValueError, match="2 transforms need 3 offsets, got 2"):
        T.ByIndex([0, 5], [a, b])
    assert "[2, 5): transforms(train: hflip p=1.0)" in repr(t)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    rotate=st.floats(0, 20),
    scale_hi=st.floats(1.0, 1.6),
    hflip=st.sampled_from([0.0, 0.5, 1.0]),
    mode=st.sampled_from(["nearest", "valid"]),
    crop=st.sampled_from([None, [40, 56]]),
)
def test_invariants_hold_for_any_config(seed, rotate, scale_hi, hflip, mode, crop):
    s = _plane_sample()
    cfg = {"rotate": rotate, "scale": [1.0, scale_hi], "hflip": hflip, "depth_resample": mode, "crop": crop,
           "color": {"brightness": 0.3, "gain": [0.8, 1.2]}}
    o = T.build(cfg, train=True, size=(24, 32))(s, np.random.default_rng(seed))
    assert o["rgb"].shape == (24, 32, 3) and o["rgb"].dtype == np.uint8
    assert o["depth"].dtype == np.float32 and o["valid"].dtype == bool
    # the mask and the NaNs always agree, and no depth leaves the source range scaled by 1/s
    assert np.array_equal(o["valid"], np.isfinite(o["depth"]))
    d = o["depth"][o["valid"]]
    if d.size:
        lo, hi = np.nanmin(s["depth"]), np.nanmax(s["depth"])
        assert d.min() >= lo / scale_hi - 1e-4 and d.max() <= hi + 1e-4
    assert (o["K"].width, o["K"].height) == (32, 24)
