"""Evaluation: models and saved predictions scored with named protocols, against numbers
computed by hand; the ``evaluate`` command on the real NYU sample and TUM keyframes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from typer.testing import CliRunner

from rgb2depth.evaluation.evaluate import evaluate_dataset, evaluate_predictions, predict_metres
from rgb2depth.models.base import ModelMeta


class RampModel(nn.Module):
    """Predicts depth = 1 + x/W (metres) whatever the image, at half resolution."""

    def __init__(self) -> None:
        super().__init__()
        self.meta = ModelMeta(output="metres", input_size=(8, 12))
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        n, _, h, w = x.shape
        ramp = torch.linspace(0, 1, w // 2).view(1, 1, 1, -1).expand(n, 1, h // 2, w // 2)
        return 1.0 + ramp + 0 * self.w


def sample(i: int, h: int = 8, w: int = 12, depth: float = 2.0) -> dict:
    d = np.full((h, w), depth, np.float32)
    d[0, 0] = np.nan
    return {"rgb": np.zeros((h, w, 3), np.uint8), "depth": d, "valid": np.isfinite(d), "K": None, "id": f"img{i}"}


def torch_sample(s: dict) -> dict:
    from rgb2depth.data.torch_dataset import sample_to_batch

    return sample_to_batch(s)


def test_predictions_folder_matches_hand_computed(tmp_path):
    src = [sample(0), sample(1, depth=4.0), sample(2)]
    (tmp_path / "p").mkdir()
    np.save(tmp_path / "p" / "img0.npy", np.full((8, 12), 2.2, np.float32))  # +10 %
    np.save(tmp_path / "p" / "img1.npy", np.full((4, 6), 3.0, np.float32))  # other size: resized
    res = evaluate_predictions(tmp_path / "p", src, protocol="none", keep_images=1)
    assert res["result"]["count"] == 2
    assert res["errors"] == [f"{tmp_path / 'p'}/img2: no prediction file for sample 'img2'"]
    assert res["missing"] == ["img2"] and res["bad"] == [] and res["expected"] == 3
    pi = {r["id"]: r for r in res["per_image"]}
    assert pi["img0"]["abs_rel"] == pytest.approx(0.1, rel=1e-5)
    assert pi["img1"]["abs_rel"] == pytest.approx(0.25, rel=1e-6)
    assert pi["img1"]["rmse"] == pytest.approx(1.0, rel=1e-6)
    assert res["metrics"]["abs_rel"] == pytest.approx((0.1 + 0.25) / 2, rel=1e-5)
    assert res["metrics"]["delta1"] == pytest.approx((1.0 + 0.0) / 2)  # 4/3 > 1.25
    assert pi["img0"]["pixels"] == 8 * 12 - 1
    pooled = evaluate_predictions(tmp_path / "p", src, protocol="none", aggregation="pooled")
    # pooled RMSE: sqrt((95 * 0.2^2 + 95 * 1^2) / 190)
    assert pooled["metrics"]["rmse"] == pytest.approx(np.sqrt((0.04 + 1.0) / 2), rel=1e-5)
    med = evaluate_predictions(tmp_path / "p", src, protocol="none", align="median")
    assert med["metrics"]["abs_rel"] == pytest.approx(0.0, abs=1e-6)


def test_model_prediction_resized_and_flip_tta():
    m = RampModel()
    x = torch.zeros(2, 3, 8, 12)
    y = predict_metres(m, x)  # half-res ramp upsampled bilinearly to 8x12
    assert y.shape == (2, 1, 8, 12)
    assert float(y[0, 0, 0, 0]) == pytest.approx(1.0) and float(y[0, 0, 0, -1]) == pytest.approx(2.0)
    yf = predict_metres(m, x, flip=True)
    # flip TTA averages the ramp with its mirror: 1.5 m everywhere
    assert torch.allclose(yf, torch.full_like(yf, 1.5), atol=1e-6)
    ds = [torch_sample(sample(i, depth=1.5)) for i in range(3)]
    res = evaluate_dataset(m, ds, protocol="none", flip=True, batch_size=2, keep_images=2)
    assert res["metrics"]["rmse"] == pytest.approx(0.0, abs=1e-6)
    assert res["result"]["count"] == 3 and len(res["images"]) == 2
    plain = evaluate_dataset(m, ds, protocol="none")
    # mean |ramp - 1.5| of the bilinear ramp, computed independently
    ramp = predict_metres(m, torch.zeros(1, 3, 8, 12))[0, 0].numpy().astype(np.float64)
    valid = np.ones((8, 12), bool)
    valid[0, 0] = False
    assert plain["metrics"]["mae"] == pytest.approx(np.abs(ramp - 1.5)[valid].mean(), rel=1e-6)


def test_evaluate_command_on_nyu_sample_with_perfect_predictions(tmp_path, shared_data):
    """Predictions equal to the ground truth of the 10 real NYU test images: a perfect score
    under the nyu protocol, with the JSON fields a report needs."""
    from rgb2depth.cli import app
    from rgb2depth.training.data import build_source

    src = build_source({"name": "nyu_csv", "csv_path": f"{shared_data}/nyu/nyu2_mini_test/nyu2_mini_test.csv"})
    (tmp_path / "pred").mkdir()
    for i in range(len(src)):
        s = src[i]
        np.save(tmp_path / "pred" / f"{s['id']}.npy", np.where(s["valid"], s["depth"], 0).astype(np.float32))
    out = tmp_path / "e.json"
    r = CliRunner().invoke(app, ["evaluate", "--predictions", str(tmp_path / "pred"), "--dataset", "nyu_mini",
                                 "--protocol", "nyu", "--out", str(out)])
    assert r.exit_code == 0, r.output
    rec = json.loads(out.read_text())
    assert rec["protocol"] == "nyu" and rec["aggregation"] == "per_image" and rec["count"] == 10
    assert rec["metrics"]["delta1"] == 1.0 and rec["metrics"]["rmse"] == pytest.approx(0.0, abs=1e-6)
    assert len(rec["per_image"]) == 10
    # the Eigen crop (rows 45:471, cols 41:601) bounds the pixels scored
    assert rec["pixels"] <= 10 * 426 * 560
    assert (tmp_path / "e.vis.npz").is_file()


def test_evaluate_command_on_model_file_and_errors(tmp_path, shared_data):
    """A model file (tiny stand-in) on the real TUM keyframes: JSON with the model's record; a
    missing model file is a one-line error."""
    import test_training_plugin  # noqa: F401 - registers tiny_two_part
    from rgb2depth import models
    from rgb2depth.cli import app
    from rgb2depth.models.io import save_model

    torch.manual_seed(0)
    m = models.create("tiny_two_part")
    save_model(m, tmp_path / "m.pt", info={"config": "tiny", "loss": "l1"})
    out = tmp_path / "t.json"
    r = CliRunner().invoke(app, ["evaluate", str(tmp_path / "m.pt"), "--dataset", "tum_val", "--protocol", "none",
                                 "--min-depth", "0.001", "--max-depth", "10", "--limit", "3", "--flip",
                                 "--aggregation", "pooled", "--out", str(out)])
    assert r.exit_code == 0, r.output
    rec = json.loads(out.read_text())
    assert rec["count"] == 3 and rec["aggregation"] == "pooled" and rec["flip"] is True
    assert rec["name"] == "tiny" and rec["loss"] == "l1" and rec["input_size"] == [32, 32]
    assert rec["params"] == sum(p.numel() for p in m.parameters())
    assert rec["depth_range"] == [0.001, 10.0]
    assert rec["dataset"]["name"] == "tum_val" and rec["dataset"]["loader"] == "tum_keyframes"
    assert set(rec["metrics"]) >= {"delta1", "abs_rel", "rmse", "ssim"}
    r = CliRunner().invoke(app, ["evaluate", str(tmp_path / "nope.pt"), "--dataset", "tum_val"])
    assert r.exit_code == 1 and "nope.pt" in r.output


class GrayModel(nn.Module):
    """A one-channel network: depth = 1 + 2 * luma (checks the RGB -> luma conversion)."""

    def __init__(self) -> None:
        super().__init__()
        self.meta = ModelMeta(output="metres", in_channels=1, input_size=(4, 4))
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        assert x.shape[1] == 1
        return 1.0 + 2.0 * x + 0 * self.w


def test_gray_model_gets_luma():
    x = torch.zeros(1, 3, 4, 4)
    x[:, 0] = 1.0  # pure red: ITU-R 601 luma 0.299
    y = predict_metres(GrayModel(), x)
    assert torch.allclose(y, torch.full_like(y, 1.0 + 2 * 0.299), atol=1e-6)


def test_evaluate_default_name_loads_the_shipped_weights():
    """``evaluate default`` scores the packaged model, not an untrained one."""
    import torch

    from rgb2depth.evaluation.evaluate import load_any_model
    from rgb2depth.inference.api import default_weights_path

    model, info = load_any_model("default")
    assert info["file"] == str(default_weights_path())
    shipped = torch.load(default_weights_path(), weights_only=True)["state_dict"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, shipped[k]), k


def test_evaluation_resizes_inputs_like_training_and_predict():
    """The evaluator's input resize gives exactly predict's network input (8-bit OpenCV
    INTER_AREA when shrinking, also by a non-integer factor such as 480x640 -> 192x256, the
    default model's; INTER_LINEAR when enlarging), as the training cache makes it."""
    import cv2

    from rgb2depth.evaluation.evaluate import resize_images

    rgb = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0
    for h, w in ((96, 128), (192, 256), (240, 320)):
        got = resize_images(x, (h, w))[0].permute(1, 2, 0).numpy()
        want = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        assert np.array_equal(got, want), (h, w)
    small = rgb[:48, :64]
    up = resize_images(torch.from_numpy(small).permute(2, 0, 1)[None].float() / 255.0, (96, 128))
    want_up = cv2.resize(small, (128, 96), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    assert np.array_equal(up[0].permute(1, 2, 0).numpy(), want_up)


class CropEcho(nn.Module):
    """Records the input it gets; predicts a constant 2 m at half its input size."""

    def __init__(self, input_size: tuple[int, int]) -> None:
        super().__init__()
        self.meta = ModelMeta(output="metres", input_size=input_size)
        self.w = nn.Parameter(torch.zeros(1))
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.clone())
        return torch.full((x.shape[0], 1, x.shape[2] // 2, x.shape[3] // 2), 2.0) + 0 * self.w


def test_crop_region_of_paper003_nyu_input():
    """Sec. 4.2: 640x480 halved to 320x240, centre-cropped to 304x228: offsets (6, 8) of the
    half frame, i.e. rows 12:468, cols 16:624 of the full frame."""
    from rgb2depth.evaluation.evaluate import crop_region

    assert crop_region((480, 640), (228, 304)) == ((6, 8, 228, 304), (12, 468, 16, 624))
    assert crop_region((480, 640), (228, 304), (240, 320)) == ((6, 8, 228, 304), (6, 234, 8, 312))
    with pytest.raises(ValueError, match="halved is 120x160, smaller than the 228x304"):
        crop_region((240, 320), (228, 304))


def test_paper003_preprocess_feeds_the_half_frame_crop_and_scores_inside_it():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    depth = np.full((48, 64), 9.0, np.float32)
    depth[4:44, 4:60] = 2.0  # the 20x28 crop of the 24x32 half frame sits at (2, 2): rows 4:44, cols 4:60
    depth[10, 10] = np.nan
    s = torch_sample({"rgb": rgb, "depth": depth, "valid": np.isfinite(depth), "K": None, "id": "a"})
    m = CropEcho((20, 28))
    res = evaluate_dataset(m, [s], protocol="none", preprocess="paper003")
    # the network saw the 2x2 block means of the frame (as 8-bit values), rows 2:22 and cols 2:30
    # of the half frame
    half = rgb.astype(np.float64).reshape(24, 2, 32, 2, 3).mean(axis=(1, 3)) / 255
    assert m.seen[0].shape == (1, 3, 20, 28)
    assert np.abs(m.seen[0][0].permute(1, 2, 0).numpy() - half[2:22, 2:30]).max() <= 0.5 / 255 + 1e-6
    # only the crop's area is scored: there the prediction is exact
    assert res["preprocess"] == "paper003" and res["result"]["pixels"] == 40 * 56 - 1
    assert res["metrics"]["rmse"] == pytest.approx(0.0, abs=1e-6)
    whole = evaluate_dataset(m, [s], protocol="none", input_size=(20, 28))
    assert whole["preprocess"] == "resize" and whole["result"]["pixels"] == 48 * 64 - 1
    assert m.seen[-1].shape == (1, 3, 20, 28)  # the whole frame resized
    n_out = 48 * 64 - 40 * 56
    assert whole["metrics"]["rmse"] == pytest.approx(np.sqrt(n_out * 49 / (48 * 64 - 1)), rel=1e-5)
    with pytest.raises(ValueError, match="unknown preprocess 'crop'"):
        evaluate_dataset(m, [s], protocol="none", preprocess="crop")


def test_evaluate_command_paper003_preprocess_on_nyu_sample(tmp_path, shared_data):
    """``--preprocess paper003`` on two real NYU test images: the JSON says so, and the pixels
    scored are those of the Eigen crop inside the network's crop (rows 45:468, cols 41:601)."""
    import test_training_plugin  # noqa: F401 - registers tiny_two_part
    from rgb2depth import models
    from rgb2depth.cli import app
    from rgb2depth.models.io import save_model

    torch.manual_seed(0)
    save_model(models.create("tiny_two_part"), tmp_path / "m.pt")
    recs = {}
    for pre in ("paper003", "resize"):
        out = tmp_path / f"{pre}.json"
        r = CliRunner().invoke(app, ["evaluate", str(tmp_path / "m.pt"), "--dataset", "nyu_mini", "--protocol", "nyu",
                                     "--limit", "2", "--input-size", "228x304", "--preprocess", pre, "--out", str(out)])
        assert r.exit_code == 0, r.output
        recs[pre] = json.loads(out.read_text())
    assert recs["paper003"]["preprocess"] == "paper003" and recs["resize"]["preprocess"] == "resize"
    assert recs["paper003"]["pixels"] <= 2 * 423 * 560 < recs["resize"]["pixels"] <= 2 * 426 * 560
    r = CliRunner().invoke(app, ["evaluate", str(tmp_path / "m.pt"), "--dataset", "nyu_mini", "--preprocess", "half"])
    assert r.exit_code == 2 and "--preprocess must be resize or paper003" in r.stderr
