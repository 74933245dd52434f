"""Inference API: load(), predict(), predict_batch(), robust decoding of every kind of image.

The network is a randomly initialised unet_realtime saved to a temporary model file (random BN
statistics so that BN folding is not a no-op): these tests check the plumbing, orientation,
conversions and resizing against independent computations, not depth accuracy.
"""

from __future__ import annotations

import struct
import warnings
import zlib

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from rgb2depth import models
from rgb2depth.inference import api, resolve
from rgb2depth.inference.api import DepthPredictor, ModelLoadError, load
from rgb2depth.inference.imageio import DEFAULT_MAX_PIXELS, MIN_SIDE, ImageReadError, read_image
from rgb2depth.models.io import save_model


def make_model() -> nn.Module:
    torch.manual_seed(0)
    m = models.create("unet_realtime").eval()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.normal_(0, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.normal_(1, 0.2)
                mod.bias.normal_(0, 0.1)
            if isinstance(mod, nn.Conv2d):
                mod.weight.mul_(1.5)
    return m


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("model") / "unet.pt"
    save_model(make_model(), p)
    return p


@pytest.fixture(scope="module")
def predictor(model_file):
    return load(model_file)


def rand_rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def smooth_rgb(h, w):
    """A smooth image (gradients), so that resizing it is well defined."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([255 * x / w, 255 * y / h, 128 + 100 * np.sin(x / 9.0) * np.cos(y / 7.0)], axis=2)
    return np.clip(img, 0, 255).astype(np.uint8)


# -- load -----------------------------------------------------------------------------------

def test_default_weights_absent_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(resolve, "default_weights_path", lambda: tmp_path / "default.pt")
    with pytest.raises(ModelLoadError, match="default weights are not present"):
        load("default")


def test_default_weights_load_when_shipped():
    if not api.default_weights_path().is_file():
        pytest.skip("the default weights are not shipped yet (rgb2depth/weights/default.pt)")
    p = load("default")
    d = p.predict(smooth_rgb(240, 320))
    assert d.shape == (240, 320) and np.isfinite(d).all() and (d > 0).all()


def test_default_model_runs_with_onnxruntime_on_the_cpu_and_matches_torch():
    """The shipped model's default backend on the CPU is ONNX Runtime (faster); its depth on the
    real demo frame matches PyTorch's to float32 rounding; other model files keep PyTorch."""
    from rgb2depth.demo import assets_dir

    if not api.default_weights_path().is_file():
        pytest.skip("the default weights are not shipped (rgb2depth/weights/default.pt)")
    ort, pt = load("default", threads=1), load("default", backend="torch", threads=1)
    assert (ort.backend, pt.backend) == ("onnxruntime", "torch")
    if api.bf16_supported():
        assert load("default", precision="bf16").backend == "torch"
    a = ort.predict(assets_dir() / "tum_cabinet.jpg", focal=535.4)
    b = pt.predict(assets_dir() / "tum_cabinet.jpg", focal=535.4)
    rel = np.abs(a - b) / b
    assert a.shape == (480, 640) and float(rel.max()) < 2e-3 and float(np.median(rel)) < 2e-4, rel.max()


@pytest.mark.parametrize("image, depth, focal, floor", [
    # the demo room (rendered by rgb2depth.synth's first generator, seed 7, not a training room):
    # the shipped weights measured delta1 0.975, AbsRel 0.063; an untrained lite_depth 0.234 / 0.316
    ("demo_room.png", "demo_room_depth.png", None, {"delta1": 0.85, "abs_rel": 0.13}),
    # a real photo (TUM fr3/cabinet keyframe 0020, Kinect depth, fx 535.4 px; a test scene, never
    # trained on and never used to choose weights): the shipped weights measured 0.333 / 0.299
    # (the session-12 default 0.336 / 0.289, run M with its own BatchNorm statistics 0.453 / 0.276;
    # the 58 keyframes' mean 0.398 / 0.291); an untrained lite_depth 0.149 / 0.692
    ("tum_cabinet.jpg", "tum_cabinet_depth.png", 535.4, {"delta1": 0.30, "abs_rel": 0.30}),
])
def test_shipped_default_model_is_trained_and_accurate(image, depth, focal, floor):
    """Regression guard for the shipped weights on the two images shipped with the package
    (independent of ../shared), against an untrained network of the same architecture."""
    import cv2

    from rgb2depth.demo import assets_dir
    from rgb2depth.metrics import compute_metrics

    if not api.default_weights_path().is_file():
        pytest.skip("the default weights are not shipped (rgb2depth/weights/default.pt)")
    p = load("default")
    assert p.meta.output == "log" and tuple(p.meta.input_size) == (192, 256)
    gt_mm = cv2.imread(str(assets_dir() / depth), cv2.IMREAD_UNCHANGED)
    gt = gt_mm.astype(np.float32) / 1000.0
    valid = (gt_mm > 0) & (gt < 10.0)
    m = compute_metrics(p.predict(assets_dir() / image, focal=focal), gt, valid=valid)
    assert m["delta1"] > floor["delta1"] and m["abs_rel"] < floor["abs_rel"], m
    with pytest.warns(UserWarning, match="untrained"):
        torch.manual_seed(0)
        untrained = load("lite_depth")
    m0 = compute_metrics(untrained.predict(assets_dir() / image, focal=focal), gt, valid=valid)
    assert m0["delta1"] < m["delta1"] - 0.15 and m0["abs_rel"] > m["abs_rel"] + 0.1, m0


def test_registry_name_warns_untrained():
    with pytest.warns(UserWarning, match="untrained"):
        p = load("unet_realtime")
    assert p.untrained and p.meta.output == "normalized"


def test_unknown_model_and_missing_file(tmp_path):
    with pytest.raises(ModelLoadError, match="neither 'default', a model file, nor a registered model"):
        load("no_such_network")
    with pytest.raises(ModelLoadError, match="no such model file"):
        load(str(tmp_path / "missing.pt"))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ModelLoadError, match="bad.pt"):
        load(bad)
    with pytest.raises(ModelLoadError, match="unknown backend"):
        load("unet_realtime", backend="tensorflow")
    with pytest.raises(ModelLoadError, match="unknown precision 'fp4'"):
        load("unet_realtime", precision="fp4")
    with pytest.raises(ModelLoadError, match="unknown precision 'fp4'"):  # named before any file is read
        load(str(tmp_path / "missing.pt"), precision="fp4")


def test_depth_predictor_refuses_what_its_backend_cannot_run(tmp_path):
    """The class behind load() makes the same checks: int8 on PyTorch or bf16 on ONNX Runtime
    is an error, never a silent float32 run."""
    from rgb2depth.models import create

    net = create("unet_realtime")
    with pytest.raises(ValueError, match="precision 'int8' runs with backend 'onnxruntime' only"):
        DepthPredictor(net, backend="torch", precision="int8")
    with pytest.raises(ValueError, match="precision 'bf16' runs with backend 'torch' only"):
        DepthPredictor(net, backend="onnxruntime", precision="bf16")
    with pytest.raises(ValueError, match="x.onnx: an ONNX file runs with backend 'onnxruntime' only"):
        DepthPredictor(backend="torch", onnx_path=tmp_path / "x.onnx")


def test_rgb2depth_load_is_the_api(model_file):
    import rgb2depth

    p = rgb2depth.load(str(model_file))
    assert isinstance(p, DepthPredictor) and p.backend == "torch" and not p.untrained


# -- what predict computes ------------------------------------------------------------------

def test_predict_matches_independent_pipeline(predictor):
    """resize (area) -> [0,1] -> unfused network -> *max_depth -> bilinear resize back."""
    rgb = smooth_rgb(480, 640)
    got = predictor.predict(rgb)
    assert got.dtype == np.float32 and got.shape == (480, 640)

    m = make_model()
    small = cv2.resize(rgb, (320, 240), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(small).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        y = (m(x)[0, 0] * 10.0).numpy()  # normalized -> metres, max_depth 10
    want = cv2.resize(y, (640, 480), interpolation=cv2.INTER_LINEAR)
    assert np.abs(got - want).max() < 1e-4
    # the output is not constant, so a wrong resize or orientation would show
    assert want.std() > 0.01


def test_flip_averaging_matches_an_independent_pipeline_and_is_mirror_symmetric(model_file):
    """load(flip=True): the mean of the network's depth for the image and, mirrored back, for
    the mirrored image (computed here with the unfused network, OpenCV resizes), in predict and
    predict_batch (the CLI's --flip: test_inference_cli); the result of a mirrored image is the mirrored result, which
    the plain predictor does not give (so the test would see a missing flip)."""
    rgb = smooth_rgb(480, 640)
    rgb[100:220, 60:300] = (250, 20, 40)  # an asymmetric block: the scene is not its mirror
    flip = load(model_file, flip=True)
    assert "flip" in repr(flip)
    got = flip.predict(rgb)

    m = make_model()
    small = cv2.resize(rgb, (320, 240), interpolation=cv2.INTER_AREA)

    def net(img):
        x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            return (m(x)[0, 0] * 10.0).numpy()

    mean = 0.5 * (net(small) + net(small[:, ::-1])[:, ::-1])
    want = cv2.resize(mean, (640, 480), interpolation=cv2.INTER_LINEAR)
    assert np.abs(got - want).max() < 1e-4
    plain = load(model_file).predict(rgb)
    assert np.abs(plain - want).max() > 1e-3  # the flip changed the result
    mirrored = rgb[:, ::-1]
    np.testing.assert_allclose(flip.predict(mirrored), got[:, ::-1], atol=1e-4)
    assert np.abs(load(model_file).predict(mirrored) - plain[:, ::-1]).max() > 1e-3
    np.testing.assert_allclose(flip.predict_batch([rgb, mirrored])[0], got, atol=1e-5)


def test_network_size_keeps_aspect(predictor, model_file):
    assert predictor.network_size(480, 640) == (240, 320)
    assert predictor.network_size(120, 160) == (240, 320)
    # portrait 3:4 -> 320x240 (not squashed into 240x320)
    assert predictor.network_size(640, 480) == (320, 240)
    # 300x200: h = sqrt(76800 * 300/200) = 339.4 -> 336, w = 226.3 -> 224 (multiples of 16)
    assert predictor.network_size(300, 200) == (336, 224)
    flat = load(model_file, keep_aspect=False)
    assert flat.network_size(300, 200) == (240, 320)


def test_predict_upscales_small_and_odd_sizes(predictor):
    for h, w in [(MIN_SIDE, MIN_SIDE), (37, 53), (333, 251)]:
        d = predictor.predict(rand_rgb(h, w, seed=h))
        assert d.shape == (h, w) and np.isfinite(d).all()
        assert (d >= 0).all() and (d <= 10.0).all()  # sigmoid * max_depth


def test_predict_accepts_path_pil_and_array_identically(predictor, tmp_path):
    rgb = rand_rgb(96, 128)
    p = tmp_path / "x.png"
    Image.fromarray(rgb).save(p)
    a = predictor.predict(rgb)
    np.testing.assert_array_equal(predictor.predict(p), a)
    np.testing.assert_array_equal(predictor.predict(str(p)), a)
    np.testing.assert_array_equal(predictor.predict(Image.fromarray(rgb)), a)


def test_predict_batch_equals_single(predictor):
    imgs = [rand_rgb(96, 128, 1), rand_rgb(120, 90, 2), rand_rgb(48, 64, 3), rand_rgb(96, 128, 4)]
    batch = predictor.predict_batch(imgs, batch_size=2)
    assert [b.shape for b in batch] == [(96, 128), (120, 90), (48, 64), (96, 128)]
    for im, b in zip(imgs, batch, strict=True):
        np.testing.assert_allclose(b, predictor.predict(im), atol=1e-5)


def test_predict_rejects_wrong_arrays(predictor):
    with pytest.raises(ImageReadError, match="uint8"):
        predictor.predict(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ImageReadError, match="shape"):
        predictor.predict(np.zeros((64, 64, 5), np.uint8))
    with pytest.raises(ImageReadError, match="unsupported input type"):
        predictor.predict(12)


def test_fold_batchnorm_generic_matches_unfolded():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Sequential(nn.Conv2d(8, 4, 3, padding=1), nn.BatchNorm2d(4))).eval()
    for mod in net.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.normal_()
            mod.running_var.uniform_(0.2, 2)
    x = torch.rand(2, 3, 20, 24)
    with torch.no_grad():
        want = net(x)
        folded = api.fold_batchnorm(net)
        got = folded(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert (got - want).abs().max() < 1e-5


# -- image kinds: converted like a viewer shows them ------------------------------------------

def test_grayscale_and_16bit(tmp_path, predictor):
    g = rand_rgb(64, 80)[..., 0]
    Image.fromarray(g, "L").save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_image(tmp_path / "g.png"), np.repeat(g[..., None], 3, 2))
    # 16-bit grayscale: scaled 0..65535 -> 0..255
    g16 = (np.arange(64 * 80).reshape(64, 80) * 12).astype(np.uint16)
    assert cv2.imwrite(str(tmp_path / "g16.png"), g16)
    got = read_image(tmp_path / "g16.png")
    np.testing.assert_array_equal(got[..., 1], np.round(g16 / 257.0).astype(np.uint8))
    # 16-bit RGB (written by OpenCV in BGR order): high byte of each channel
    c16 = (np.random.default_rng(0).integers(0, 65536, (40, 48, 3))).astype(np.uint16)
    assert cv2.imwrite(str(tmp_path / "c16.png"), c16[..., ::-1])
    got = read_image(tmp_path / "c16.png").astype(int)
    assert np.abs(got - (c16 >> 8)).max() <= 1
    # and the prediction of the grayscale file is that of the gray image replicated
    np.testing.assert_array_equal(predictor.predict(tmp_path / "g.png"),
                                  predictor.predict(np.repeat(g[..., None], 3, 2)))


def test_rgba_palette_cmyk(tmp_path):
    rgb = rand_rgb(40, 50)
    rgba = np.concatenate([rgb, np.full((40, 50, 1), 77, np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), rgb)  # alpha dropped

    pal = np.random.default_rng(3).integers(0, 256, (256, 3), dtype=np.uint8)
    idx = np.random.default_rng(4).integers(0, 256, (40, 50), dtype=np.uint8)
    im = Image.fromarray(idx, "P")
    im.putpalette(pal.reshape(-1).tolist())
    im.save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_image(tmp_path / "p.png"), pal[idx])

    cmyk = np.random.default_rng(5).integers(0, 256, (40, 50, 4), dtype=np.uint8)
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "c.tif")
    c, k = cmyk[..., :3].astype(float), cmyk[..., 3:].astype(float)
    want = np.round((255 - c) * (255 - k) / 255)  # naive CMYK -> RGB
    assert np.abs(read_image(tmp_path / "c.tif").astype(float) - want).max() <= 1


@pytest.mark.parametrize("orientation,turn", [(3, 2), (6, -1), (8, 1)])
def test_exif_orientation(tmp_path, predictor, orientation, turn):
    """EXIF 6 = displayed rotated 90 deg clockwise, 8 = counter-clockwise, 3 = 180 deg."""
    stored = smooth_rgb(72, 112)
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = tmp_path / f"o{orientation}.png"
    Image.fromarray(stored).save(p, exif=exif)
    shown = np.rot90(stored, k=turn)  # k=-1: clockwise
    np.testing.assert_array_equal(read_image(p), shown)
    d = predictor.predict(p)
    assert d.shape == shown.shape[:2]
    np.testing.assert_array_equal(d, predictor.predict(np.ascontiguousarray(shown)))


# -- bad files: one-line errors naming the file ---------------------------------------------

def _one_line(e: pytest.ExceptionInfo, path) -> str:
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_bad_files(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageReadError) as e:
        read_image(empty)
    assert "empty file (0 bytes)" in _one_line(e, empty)

    text = tmp_path / "notes.png"
    text.write_text("this is not an image\n" * 10)
    with pytest.raises(ImageReadError) as e:
        read_image(text)
    assert "not an image" in _one_line(e, text)

    with pytest.raises(ImageReadError) as e:
        read_image(tmp_path / "nope.png")
    assert "no such file" in _one_line(e, tmp_path / "nope.png")

    tiny = tmp_path / "tiny.png"
    Image.fromarray(rand_rgb(8, 8)).save(tiny)
    with pytest.raises(ImageReadError) as e:
        read_image(tiny)
    assert "8x8, too small" in _one_line(e, tiny)


@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_truncated(tmp_path, ext):
    p = tmp_path / f"t.{ext}"
    Image.fromarray(rand_rgb(96, 128)).save(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError) as e:
        read_image(p)
    assert "truncated or corrupt" in _one_line(e, p)


def _png_header_only(path, width, height):
    """A PNG whose header claims width x height (RGB) with a tiny, incomplete IDAT: a 'bomb'
    in the sense that decoding would allocate width*height*3 bytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_pixel_limit(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 20000, 20000)  # 400 MP > 100 MP default
    assert DEFAULT_MAX_PIXELS == 100_000_000
    with pytest.raises(ImageReadError) as e:
        read_image(bomb)
    assert "above the limit of 100 megapixels" in _one_line(e, bomb)

    ok = tmp_path / "ok.png"
    Image.fromarray(rand_rgb(100, 100)).save(ok)
    assert read_image(ok).shape == (100, 100, 3)
    with pytest.raises(ImageReadError, match="limit of 0.005 megapixels"):
        read_image(ok, max_pixels=5000)
    monkeypatch.setenv("RGB2DEPTH_MAX_PIXELS", "9999")
    with pytest.raises(ImageReadError, match="above the limit"):
        read_image(ok)
    # the predictor carries its own limit
    p = DepthPredictor(models.create("unet_realtime"), max_pixels=5000, fuse=False)
    with pytest.raises(ImageReadError, match="above the limit"):
        p.predict(rand_rgb(100, 100))


def test_onnxruntime_backend_matches_torch(model_file, predictor, tmp_path, monkeypatch):
    monkeypatch.setenv("RGB2DEPTH_CACHE", str(tmp_path / "cache"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ort_pred = load(model_file, backend="onnxruntime", threads=1)
    rgb = smooth_rgb(240, 320)
    a, b = predictor.predict(rgb), ort_pred.predict(rgb)
    assert np.abs(a - b).max() < 1e-4
    files = list((tmp_path / "cache").rglob("*.onnx"))
    assert len(files) == 1 and "240x320" in files[0].name
    # a second predictor reuses the cached export
    mtime = files[0].stat().st_mtime_ns
    load(model_file, backend="onnxruntime", threads=1).predict(rgb)
    assert files[0].stat().st_mtime_ns == mtime and len(list((tmp_path / "cache").rglob("*.onnx"))) == 1
    # batches of mixed sizes
    out = ort_pred.predict_batch([rgb, smooth_rgb(90, 120)[:, :100]])
    assert out[0].shape == (240, 320) and out[1].shape == (90, 100)


@pytest.mark.skipif(torch.version.cuda is not None, reason="this PyTorch build has CUDA")
def test_load_on_a_device_this_build_lacks_is_one_line():
    with pytest.raises(ModelLoadError, match="device cuda: this PyTorch .* without CUDA") as e:
        load("unet_realtime", device="cuda")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("kind, y", [
    ("log", [[-1.5, 0.0, 2.0]]),
    ("normalized", [[-0.2, 0.5, 1.3]]),
    ("metres", [[-1.0, 0.0, 4.5]]),
])
def test_onnxruntime_output_conversion_matches_torch(kind, y):
    """The ONNX Runtime backend converts its outputs to metres in NumPy: the same values as the
    PyTorch backend's conversion (exp for log, clipped [0, 1] x max_depth, non-negative metres)."""
    from rgb2depth.inference.runners import output_to_metres, output_to_metres_np
    from rgb2depth.models.base import ModelMeta

    meta = ModelMeta(output=kind, max_depth=10.0)
    a = np.asarray(y, np.float32)
    got = output_to_metres_np(a, meta)
    want = output_to_metres(torch.from_numpy(a), meta).numpy()
    assert got.dtype == np.float32 and np.allclose(got, want, rtol=1e-6)
    hand = {"log": np.exp(a), "normalized": np.array([[0.0, 5.0, 10.0]]), "metres": np.array([[0.0, 0.0, 4.5]])}[kind]
    assert np.allclose(got, hand, rtol=1e-6)
