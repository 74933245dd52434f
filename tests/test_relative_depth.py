"""Relative-depth supervision: the Middlebury 2005/2006 loader, the scale-and-shift-invariant
loss (checked against an independent NumPy least-squares fit), the weighted sum that routes
relative samples to it alone, and a training run that mixes both kinds of data."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rgb2depth import losses
from test_training_pipeline import (
    FILE_H,
    FILE_W,
    K_A,
    config,
    folder_item,
    load,
    records,
    write_folder,
)


def ssi_numpy(pred_depth: np.ndarray, target_depth: np.ndarray, valid: np.ndarray) -> float:
    """MiDaS's scale-and-shift-invariant MAE, written independently: per image, target disparity
    normalised by its median and mean absolute deviation, prediction disparity fitted with
    numpy's least squares, mean absolute residual; then the mean over images."""
    out = []
    for p, t, v in zip(pred_depth, target_depth, valid, strict=True):
        if not v.any():
            continue
        d = 1.0 / t[v].astype(np.float64)
        d = (d - np.median(d)) / np.mean(np.abs(d - np.median(d)))
        x = 1.0 / p[v].astype(np.float64)
        (s, sh), *_ = np.linalg.lstsq(np.stack([x, np.ones_like(x)], 1), d, rcond=None)
        out.append(np.mean(np.abs(s * x + sh - d)))
    return float(np.mean(out))


def random_batch(seed: int, n: int = 3, h: int = 12, w: int = 16):
    rng = np.random.default_rng(seed)
    target = rng.uniform(0.5, 6.0, (n, 1, h, w))
    pred = target * rng.uniform(0.7, 1.4, target.shape)
    valid = rng.uniform(size=target.shape) > 0.2
    # an even number of valid pixels makes torch's lower median differ from numpy's mean of the two
    # middle values, so each image gets an odd count
    for i in range(n):
        if valid[i].sum() % 2 == 0:
            valid[i].flat[np.flatnonzero(valid[i])[0]] = False
    return pred, target, valid


def test_ssi_loss_matches_an_independent_least_squares_fit():
    pred, target, valid = random_batch(0)
    want = ssi_numpy(pred, target, valid)
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    got = losses.create("ssi")(t(pred), t(target), torch.tensor(valid))
    assert float(got) == pytest.approx(want, rel=1e-6)
    # the same in log-depth, the default networks' output
    got_log = losses.create("ssi", log_input=True)(t(np.log(pred)), t(np.log(target)), torch.tensor(valid))
    assert float(got_log) == pytest.approx(want, rel=1e-6)
    assert 0.05 < want < 1.0


def test_ssi_loss_ignores_scale_and_disparity_shift_on_either_side():
    pred, target, valid = random_batch(1)
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    ssi = losses.create("ssi")
    base = float(ssi(t(pred), t(target), torch.tensor(valid)))
    # target disparity times 3.7 plus 0.2 (a stereo rig's unknown offset), prediction's depth x 0.01
    shifted = 1.0 / (3.7 / target + 0.2)
    assert float(ssi(t(pred * 0.01), t(shifted), torch.tensor(valid))) == pytest.approx(base, rel=1e-6)
    # a prediction whose disparity is an affine map of the target's scores 0
    exact = 1.0 / (0.5 / target + 0.05)
    assert float(ssi(t(exact), t(target), torch.tensor(valid))) < 1e-5  # eps in the fit only
    # a flat prediction scores the normalised target's spread (no NaN from the zero variance)
    flat = float(ssi(t(np.full_like(pred, 2.0)), t(target), torch.tensor(valid)))
    spread = []
    for tt, vv in zip(target, valid, strict=True):
        d = 1.0 / tt[vv]
        d = (d - np.median(d)) / np.mean(np.abs(d - np.median(d)))
        spread.append(np.mean(np.abs(d - d.mean())))
    assert flat == pytest.approx(np.mean(spread), rel=1e-5) and flat >= 1.0
    # gradients are finite with invalid pixels and an all-invalid image
    p = t(pred).requires_grad_()
    v = torch.tensor(valid)
    v[1] = False
    ssi(p, t(target), v).backward()
    assert torch.isfinite(p.grad).all() and float(p.grad[1].abs().sum()) == 0.0


def test_weighted_sum_gives_relative_images_to_scale_and_shift_invariant_terms_only():
    pred, target, valid = random_batch(2, n=4)
    P, T, V = (torch.tensor(a, dtype=torch.float64) for a in (np.log(pred), np.log(target), valid))
    V = V.bool()
    rel = torch.tensor([False, True, False, True])
    loss = losses.WeightedSum([{"name": "silog", "log_input": True}, {"name": "ssi", "log_input": True, "samples": "relative"}])
    assert loss.term_samples == ["metric", "relative"] and loss.takes_relative
    total = loss(P, T, V, relative=rel)
    silog_metric = losses.create("silog", log_input=True)(P[~rel], T[~rel], V[~rel])
    ssi_rel = losses.create("ssi", log_input=True)(P[rel], T[rel], V[rel])
    assert float(loss.last_terms["silog"]) == pytest.approx(float(silog_metric), rel=1e-9)
    assert float(loss.last_terms["ssi"]) == pytest.approx(float(ssi_rel), rel=1e-9)
    assert float(total) == pytest.approx(float(silog_metric + ssi_rel), rel=1e-9)
    # changing a relative image's target moves only the ssi term
    T2 = T.clone()
    T2[1] = T2[1] + 5.0
    loss(P, T2, V, relative=rel)
    assert float(loss.last_terms["silog"]) == pytest.approx(float(silog_metric), rel=1e-9)
    # an ssi term on "all" sees every image; without `relative` everything is metric
    every = losses.WeightedSum([{"name": "ssi", "log_input": True}])
    every(P, T, V, relative=rel)
    assert float(every.last_terms["ssi"]) == pytest.approx(float(losses.create("ssi", log_input=True)(P, T, V)), rel=1e-9)
    with pytest.raises(ValueError, match="'silog': samples 'all' would fit metric depth"):
        losses.WeightedSum([{"name": "silog", "samples": "all"}])
    with pytest.raises(ValueError, match="samples must be"):
        losses.WeightedSum([{"name": "ssi", "samples": "some"}])


def write_relative_scene(root: Path, name: str, seed: int) -> Path:
    """A scene in the Middlebury 2005/2006 layout: view1/view5 PNGs, disp1/disp5 8-bit (x3)."""
    rng = np.random.default_rng(seed)
    d = root / name
    d.mkdir(parents=True)
    yy, xx = np.mgrid[0:FILE_H, 0:FILE_W].astype(np.float32)
    for v in (1, 5):
        disp = 20 + 30 * xx / FILE_W + 10 * rng.uniform()  # pixels
        raw = np.round(disp * 3).astype(np.uint8)
        raw[:3, :5] = 0  # unknown
        img = np.stack([raw, 255 - raw, rng.integers(0, 256, raw.shape)], -1).astype(np.uint8)
        cv2.imwrite(str(d / f"view{v}.png"), img[..., ::-1])
        cv2.imwrite(str(d / f"disp{v}.png"), raw)
    return d


def test_middlebury_relative_reads_the_2005_2006_layout(tmp_path, shared_data):
    from rgb2depth import data
    from rgb2depth.data.middlebury import BASELINE_2006, FOCAL_2006_FULL

    write_relative_scene(tmp_path / "2006", "Toy", 0)
    src = data.create("middlebury_relative", root=tmp_path / "2006")
    assert src.relative_depth and src.ids == ["2006/Toy/view1", "2006/Toy/view5"]
    s = src[1]
    raw = cv2.imread(str(tmp_path / "2006/Toy/disp5.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(s["valid"], raw > 0)
    # depth x disparity is the stand-in's constant focal x baseline, so inverse depth is affine in disparity
    prod = s["depth"][s["valid"]] * raw[raw > 0] / 3.0
    np.testing.assert_allclose(prod, FOCAL_2006_FULL / 3 * BASELINE_2006, rtol=1e-5)
    assert s["K"].fx == pytest.approx(FOCAL_2006_FULL / 3)
    with pytest.raises(ValueError, match="views must be 1 and/or 5"):
        data.create("middlebury_relative", root=tmp_path / "2006", views=[2])

    # the real folder: 6 scenes of 2005 and 21 of 2006, two views each
    mb = shared_data / "middlebury"
    real = data.create("middlebury_relative", root=mb)
    assert len(real) == 54 and real.ids[0] == "2005/Art/view1"
    assert len(data.create("middlebury_relative", root=mb / "2006", views=[1])) == 21
    art = real[0]
    assert art["rgb"].shape == (370, 463, 3) and 0.99 < art["valid"].mean() <= 1.0


def test_training_mixes_metric_and_relative_samples(tmp_path):
    from rgb2depth.training.data import build_dataset
    from rgb2depth.training.trainer import Trainer

    metric = write_folder(tmp_path / "a", "a", 4, K_A, 1)
    write_relative_scene(tmp_path / "rel", "S1", 2)
    write_relative_scene(tmp_path / "rel", "S2", 3)
    items = [folder_item(metric), {"name": "middlebury_relative", "root": str(tmp_path / "rel"), "select": {"repeat": 2}}]
    terms = [{"name": "silog", "weight": 1.0}, {"name": "ssi", "weight": 0.5, "samples": "relative"}]
    out = tmp_path / "run"
    cfg = load(tmp_path / "mix.yaml", config(out, items, loss={"terms": terms, "normalize_weights": False},
                                             train={"epochs": 1, "batch_size": 4}))
    ds = build_dataset(cfg, "train", seed=0)
    assert ds.relative == [False] * 4 + [True] * 8
    assert [bool(ds[i]["relative"]) for i in (0, 3, 4, 11)] == [False, False, True, True]
    summary = Trainer(cfg).run()
    assert summary["steps"] == 3
    logged = records(out, "train")
    assert len(logged) == 3
    for r in logged:
        assert set(r["terms"]) == {"silog", "ssi"} and np.isfinite(r["loss"])
    assert any(r["terms"]["ssi"] > 0 for r in logged)  # some batch held relative samples

    # a loss with no term for them is refused before any step, naming the stage and the fix
    cfg2 = load(tmp_path / "bad.yaml", config(tmp_path / "bad", items, loss={"terms": terms[:1]}))
    with pytest.raises(ValueError, match="8 relative-depth samples .* no loss term takes them"):
        Trainer(cfg2).run()
    # a config naming an unknown kind of samples fails when it loads, naming the file and term
    from rgb2depth.training.config import ConfigError

    bad_terms = [terms[0], {**terms[1], "samples": "some"}]
    with pytest.raises(ConfigError, match=r"typo\.yaml: loss\.terms 'ssi': samples must be one of metric, relative, all"):
        load(tmp_path / "typo.yaml", config(tmp_path / "typo", items, loss={"terms": bad_terms}))
    # relative data cannot validate: validation scores metric depth
    cfg3 = load(tmp_path / "val.yaml", config(tmp_path / "val", items[:1], data={"val": items[1:]}))
    with pytest.raises(ValueError, match=r"data.val\[0\] \('middlebury_relative'\) gives depth only up to scale"):
        build_dataset(cfg3, "val", seed=0)


def test_evaluation_scores_relative_data_only_after_a_fit_in_inverse_depth(tmp_path):
    """Saved predictions on relative scenes: refused without ``scale_shift``; with it, each image's
    delta1 and AbsRel equal a NumPy least-squares fit of 1/prediction to 1/ground truth, inverted."""
    from rgb2depth import data
    from rgb2depth.evaluation.evaluate import evaluate_predictions

    write_relative_scene(tmp_path / "2006", "Toy", 4)
    src = data.create("middlebury_relative", root=tmp_path / "2006")
    preds = tmp_path / "preds"
    preds.mkdir()
    rng = np.random.default_rng(5)
    want = []
    for s in src:
        p = (s["depth"] * rng.uniform(0.6, 1.6, s["depth"].shape)).astype(np.float32)  # noisy, any scale
        p[~s["valid"]] = 1.0
        np.save(preds / (s["id"].replace("/", "_") + ".npy"), p * 7.0)
        v = s["valid"]
        x, y = 1.0 / (7.0 * p[v].astype(np.float64)), 1.0 / s["depth"][v].astype(np.float64)
        (a, b), *_ = np.linalg.lstsq(np.stack([x, np.ones_like(x)], 1), y, rcond=None)
        fit, g = 1.0 / (a * x + b), s["depth"][v].astype(np.float64)
        want.append((np.mean(np.maximum(fit / g, g / fit) < 1.25), np.mean(np.abs(fit - g) / g)))
    with pytest.raises(ValueError, match="up to scale and shift of inverse depth: score it with --align scale_shift"):
        evaluate_predictions(preds, src, protocol="none", align="median")
    res = evaluate_predictions(preds, src, protocol="none", align="scale_shift")
    assert res["result"]["align_space"] == "inverse_fit" and not res["errors"]
    got = [(r["delta1"], r["abs_rel"]) for r in res["per_image"]]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert 0.3 < got[0][0] < 0.95  # the noise leaves a score that is neither 0 nor 1


def test_model_and_saved_predictions_score_relative_data_alike(tmp_path):
    """A network scored on relative scenes directly (depth predictions fitted in inverse depth)
    gives the same per-image figures as its predictions saved and scored from a folder."""
    import torch

    import test_training_plugin  # noqa: F401 - registers tiny_two_part
    from rgb2depth import data, models
    from rgb2depth.evaluation.evaluate import (
        build_eval_dataset,
        evaluate_dataset,
        evaluate_predictions,
        predict_metres,
    )

    for k, name in enumerate(("Toy", "Box")):
        write_relative_scene(tmp_path / "2006", name, 7 + k)
    spec = {"name": "middlebury_relative", "root": str(tmp_path / "2006")}
    torch.manual_seed(3)
    net = models.create("tiny_two_part").eval()
    ds = build_eval_dataset(spec)
    direct = evaluate_dataset(net, ds, protocol="none", align="scale_shift", input_size=(32, 32))
    assert direct["result"]["align_space"] == "inverse_fit" and direct["result"]["count"] == 4
    preds = tmp_path / "preds"
    preds.mkdir()
    for s in ds:
        with torch.no_grad():
            p = predict_metres(net, s["image"][None], out_size=tuple(s["depth"].shape[-2:]), input_size=(32, 32))
        np.save(preds / (s["id"].replace("/", "_") + ".npy"), p[0, 0].numpy())
    saved = evaluate_predictions(preds, data.create("middlebury_relative", root=tmp_path / "2006"), protocol="none",
                                 align="scale_shift")
    for a, b in zip(direct["per_image"], saved["per_image"], strict=True):
        assert a["id"] == b["id"]
        for key in ("delta1", "abs_rel", "scale", "shift"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-9)
