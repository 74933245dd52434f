"""Kinect-like sensor effects: they only remove pixels or perturb depth within the documented
bound; projector shadows have the hand-computed width; noise has the documented sigma."""

from __future__ import annotations

import numpy as np
import pytest

from rgb2depth.geometry.camera import Intrinsics
from rgb2depth.synth.sensor import (
    KinectModel,
    apply_kinect,
    max_perturbation,
    noise_sigma,
    projector_shadow,
)

K = Intrinsics(500.0, 500.0, 99.5, 49.5, 200, 100)


def _step_scene():
    """Background 3 m, a foreground slab at 1 m over columns 100..149, a few invalid pixels."""
    d = np.full((100, 200), 3.0, np.float32)
    d[:, 100:150] = 1.0
    d[0, :5] = np.nan
    return d


def test_projector_shadow_width_matches_hand_computation():
    # b = +7.5 cm: u_p = u - fx b / z. Foreground (z=1) shifts by 37.5 px, background (z=3) by
    # 12.5 px; background u is hidden iff 100 - 37.5 < u - 12.5, i.e. u in 76..99 (24 px,
    # = fx b (1/z_f - 1/z_b) rounded down), on the LEFT of the foreground object.
    sh = projector_shadow(_step_scene(), K, 0.075)
    cols = np.nonzero(sh[50])[0]
    np.testing.assert_array_equal(cols, np.arange(76, 100))
    # projector on the other side: the band moves to the right of the object: 150..173
    cols = np.nonzero(projector_shadow(_step_scene(), K, -0.075)[50])[0]
    np.testing.assert_array_equal(cols, np.arange(150, 174))


def test_flat_plane_casts_no_projector_shadow():
    u = np.arange(200)[None, :]
    d = np.broadcast_to(1.0 + 0.01 * u, (100, 200)).astype(np.float32)  # slanted, visible to both
    assert not projector_shadow(d, K, 0.075).any()


@pytest.mark.parametrize("seed", [0, 1])
def test_effects_only_remove_or_perturb_within_the_bound(seed):
    rng = np.random.default_rng(seed)
    d = _step_scene()
    d[60:70, 10:20] = 0.3  # too near
    d[70:80, 10:20] = 7.5  # too far
    valid = np.isfinite(d)
    valid[90:, :] = False  # invalid input stays invalid
    albedo = np.full((100, 200, 3), 0.5, np.float32)
    albedo[:20, 30:40] = 0.01  # dark patch
    spec = np.zeros((100, 200), np.float32)
    spec[:20, 50:60] = 0.8  # specular patch
    cosi = np.ones((100, 200), np.float32)
    cosi[:20, 160:170] = 0.05  # grazing
    out, ov, masks = apply_kinect(d, valid, K, rng, albedo=albedo, specular=spec, cos_incidence=cosi, return_masks=True)
    assert not (ov & ~valid).any()  # never creates valid pixels
    assert np.array_equal(ov, np.isfinite(out))
    assert not ov[90:].any() and not ov[60:80, 10:20].any()
    assert not ov[:20, 160:170].any()  # grazing: always dropped
    assert (~ov[:20, 30:40]).mean() > 0.5 and (~ov[:20, 50:60]).mean() > 0.7
    removed = valid & ~ov
    explained = np.zeros_like(removed)
    for m in masks.values():
        explained |= m
    assert np.array_equal(removed, explained)  # every removal has a documented reason
    # away from holes, pixels are perturbed within the documented bound
    err = np.abs(out[ov] - d[ov])
    assert (err <= max_perturbation(d[ov])).all()
    assert err.max() > 0  # and they are perturbed
    # holes sit where documented: edges only near the depth step, shadows only left of it
    allowed = np.zeros_like(removed)
    allowed[:, 99:101] = allowed[:, 149:151] = True  # the two sides of each depth step
    allowed[59:81, 9:21] = True  # around the near/far patches
    assert masks["edge"].any() and not (masks["edge"] & ~allowed).any()
    assert set(np.nonzero(masks["shadow"][50])[0]) <= set(range(76, 100))


def test_noise_sigma_and_quantisation_follow_the_model():
    rng = np.random.default_rng(3)
    d = np.full((200, 200), 2.0, np.float32)
    m = KinectModel(shadow=False, edge_drop=0.0, quantize=False)
    out, ov = apply_kinect(d, np.ones_like(d, bool), K, rng, model=m)
    assert ov.all()
    sigma = 0.0012 + 0.0019 * (2.0 - 0.4) ** 2  # Nguyen et al. 2012 at 2 m: 6.06 mm
    assert noise_sigma(2.0) == pytest.approx(sigma)
    assert np.std(out - 2.0) == pytest.approx(sigma, rel=0.03)
    assert abs(np.mean(out - 2.0)) < 3 * sigma / 200
    # quantisation alone: depth values become fb / (k / 8) for integer k
    m = KinectModel(shadow=False, edge_drop=0.0, noise=False)
    out, _ = apply_kinect(d, np.ones_like(d, bool), K, rng, model=m)
    k = 8 * 580.0 * 0.075 / out
    np.testing.assert_allclose(k, np.round(k), atol=1e-3)
    assert np.abs(out - 2.0).max() <= 2.0**2 / (16 * 43.5) * 1.02
