"""``rgb2depth serve``: the HTTP API with FastAPI's test client, and once over a real socket.

Every format is checked against an independent path to the same numbers: ``model.predict`` for
the depth, the ``predict`` command's ``OutputWriter`` for the files, hand-computed
back-projection for the point cloud, numpy statistics for the page's summary.
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="rgb2depth serve needs fastapi (a dependency: run scripts/setup.sh)")
testclient = pytest.importorskip("fastapi.testclient", reason="the API tests need httpx2 (test extra)")

from rgb2depth.paths import PACKAGE_DIR, shared_data_dir  # noqa: E402

DEMO = PACKAGE_DIR / "assets" / "demo_room.png"


def real_image() -> Path:
    """A real 640x480 photo: the first NYU test image when the shared data is present, else the
    demo room shipped in the package; ``RGB2DEPTH_SERVE_IMAGE=FILE`` chooses another."""
    if os.environ.get("RGB2DEPTH_SERVE_IMAGE"):
        return Path(os.environ["RGB2DEPTH_SERVE_IMAGE"])
    d = shared_data_dir()
    nyu = d / "nyu" / "nyu2_mini_test" / "image_0.png" if d else None
    return nyu if nyu is not None and nyu.is_file() else DEMO


def png_bytes(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def bomb_header_png(width: int = 40_000, height: int = 40_000) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` pixels (CRC fixed, data tiny)."""
    data = bytearray(png_bytes(np.zeros((64, 64, 3), np.uint8)))
    ihdr = 8  # after the signature: length (4), b"IHDR" (4), width, height, ...
    assert data[ihdr + 4:ihdr + 8] == b"IHDR"
    data[ihdr + 8:ihdr + 16] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4:ihdr + 8 + 13]))
    data[ihdr + 8 + 13:ihdr + 8 + 17] = struct.pack(">I", crc)
    return bytes(data)


@pytest.fixture(scope="module")
def model():
    import rgb2depth

    return rgb2depth.load("default")


@pytest.fixture(scope="module")
def client(model):
    from rgb2depth.serve import create_app

    with testclient.TestClient(create_app(model, max_upload_bytes=3_000_000)) as c:
        yield c


@pytest.fixture(scope="module")
def image():
    path = real_image()
    return path, path.read_bytes()


def post(client, data: bytes, name: str = "photo.png", **query):
    return client.post("/api/predict", params=query, files={"file": (name, data, "application/octet-stream")})


def npy_of(body: bytes) -> np.ndarray:
    return np.load(io.BytesIO(body), allow_pickle=False)


def test_health_and_model(client, model):
    assert client.get("/api/health").json() == {"status": "ok", "model": "default"}
    info = client.get("/api/model").json()
    assert info["name"] == "default"
    assert info["input_size"] == list(model.meta.input_size)
    assert info["output"] == model.meta.output
    recorded = (model.meta.extra or {}).get("licence")  # the model file's own record first
    assert info["licence"] == recorded if recorded else "MIT" in info["licence"]
    assert info["formats"] == ["npy", "png16", "color", "ply", "json"]
    assert info["max_upload_bytes"] == 3_000_000 and info["max_batch"] == 4


def test_predict_npy_equals_model_predict(client, model, image):
    path, data = image
    r = post(client, data, name=path.name)
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == f'attachment; filename="{path.stem}.npy"'
    depth = npy_of(r.content)
    expected = model.predict(path)
    assert depth.dtype == np.float32 and depth.shape == expected.shape == (480, 640)
    np.testing.assert_allclose(depth, expected, rtol=0, atol=1e-5)
    timings = json.loads(r.headers["x-timings-ms"])
    assert set(timings) == {"decode", "predict", "encode"}


@pytest.mark.parametrize("fmt,suffix", [("png16", "_depth.png"), ("color", "_color.png"), ("ply", ".ply")])
def test_formats_are_the_predict_commands_files(client, model, image, tmp_path, fmt, suffix):
    """The body of each format is byte-for-byte the file ``rgb2depth predict --save FMT`` writes."""
    from rgb2depth.inference.outputs import OutputWriter

    path, data = image
    r = post(client, data, name=path.name, format=fmt, colorbar=True)
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == f'attachment; filename="{path.stem}{suffix}"'
    depth, rgb = model.predict_with_rgb(path)
    (ref,) = OutputWriter(tmp_path, (fmt,), colorbar=True).write(path.stem, depth, rgb)
    assert ref.name == f"{path.stem}{suffix}"
    assert r.content == ref.read_bytes()


def test_png16_and_ply_against_hand_computed_values(client, image, tmp_path):
    import cv2

    from rgb2depth.geometry.pointcloud import read_ply

    _, data = image
    depth = npy_of(post(client, data).content)
    mm = cv2.imdecode(np.frombuffer(post(client, data, format="png16").content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert mm.dtype == np.uint16
    np.testing.assert_array_equal(mm, np.round(depth * np.float32(1000)).astype(np.uint16))  # mm, rounded

    # PLY with given intrinsics, every pixel: point (u, v) = ((u - cx) z / fx, (v - cy) z / fy, z)
    fx, fy, cx, cy = 500.0, 520.0, 300.0, 250.0
    r = post(client, data, format="ply", intrinsics=f"{fx},{fy},{cx},{cy}", ply_max_points=0)
    (tmp_path / "c.ply").write_bytes(r.content)
    cloud = read_ply(tmp_path / "c.ply")
    assert len(cloud) == depth.size
    for v, u in [(0, 0), (100, 37), (479, 639)]:
        z = depth[v, u]
        np.testing.assert_allclose(cloud.points[v * 640 + u], [(u - cx) * z / fx, (v - cy) * z / fy, z], rtol=1e-5)


def test_json_summary_matches_npy(client, image):
    from rgb2depth.geometry.camera import DEFAULT_HFOV_DEG
    from rgb2depth.inference.outputs import display_range

    path, data = image
    depth = npy_of(post(client, data).content)
    r = post(client, data, name=path.name, format="json", colorbar=True, points=5000)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    s = r.json()
    assert (s["name"], s["model"], s["width"], s["height"]) == (path.name, "default", 640, 480)
    assert s["depth"]["min"] == pytest.approx(float(depth.min()), abs=1e-6)
    assert s["depth"]["median"] == pytest.approx(float(np.median(depth)), abs=1e-6)
    assert s["depth"]["max"] == pytest.approx(float(depth.max()), abs=1e-6)
    assert s["display_range"] == pytest.approx(list(display_range(depth)), abs=1e-6)
    # the default camera: a 62-degree horizontal field of view, principal point at the centre
    assert s["intrinsics"]["fx"] == pytest.approx(320 / np.tan(np.radians(DEFAULT_HFOV_DEG / 2)))
    assert (s["intrinsics"]["cx"], s["intrinsics"]["cy"]) == (319.5, 239.5)
    color = post(client, data, name=path.name, format="color", colorbar=True).content
    assert base64.b64decode(s["color_png"]) == color
    # the point cloud: every 8th pixel in both directions (ceil(sqrt(640 * 480 / 5000)) = 8),
    # back-projected with the same camera
    stride = int(np.ceil(np.sqrt(640 * 480 / 5000)))
    xyz = np.frombuffer(base64.b64decode(s["points"]["xyz"]), "<f4").reshape(-1, 3)
    rgb = np.frombuffer(base64.b64decode(s["points"]["rgb"]), np.uint8).reshape(-1, 3)
    sub = depth[::stride, ::stride]
    assert s["points"]["count"] == len(xyz) == len(rgb) == sub.size
    K = s["intrinsics"]
    v, u = 3, 5  # grid cell -> pixel (v * stride, u * stride)
    z = sub[v, u]
    expected = [(u * stride - K["cx"]) * z / K["fx"], (v * stride - K["cy"]) * z / K["fy"], z]
    np.testing.assert_allclose(xyz[v * sub.shape[1] + u], expected, rtol=1e-5)
    assert post(client, data, format="json", points=0).json()["points"] is None


def test_focal_length_from_the_query_or_the_exif_like_the_predict_command(client, model, image, tmp_path):
    """``?focal=`` and an EXIF focal length scale the depth exactly as ``model.predict`` does
    for the same file (the ``predict`` command's path)."""
    from PIL import Image

    from rgb2depth.inference.imageio import FULL_FRAME_DIAGONAL_MM

    path, data = image
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 24  # FocalLengthIn35mmFilm: 24 mm equivalent
    jpeg = tmp_path / "exif.jpg"
    Image.open(path).convert("RGB").save(jpeg, format="JPEG", quality=92, exif=exif)
    f_exif = 24 * np.hypot(640, 480) / FULL_FRAME_DIAGONAL_MM  # the diagonal match, by hand

    r = post(client, jpeg.read_bytes(), name="exif.jpg", format="json", points=0)
    assert r.json()["focal_px"] == pytest.approx(f_exif, rel=1e-3)
    np.testing.assert_allclose(npy_of(post(client, jpeg.read_bytes()).content), model.predict(jpeg), atol=1e-5)
    for focal in (400.0, 900.0):
        got = npy_of(post(client, data, focal=focal).content)
        np.testing.assert_allclose(got, model.predict(path, focal=focal), atol=1e-5)
    if (model.meta.extra or {}).get("canonical_focal"):  # a model with its own camera: focal matters
        assert not np.allclose(npy_of(post(client, data, focal=400.0).content),
                               npy_of(post(client, data, focal=900.0).content))
    assert post(client, data).status_code == 200 and post(client, data, focal=0).status_code == 400


def test_same_image_twice_gives_the_same_depth_and_other_images_differ(client, image):
    from PIL import Image

    path, data = image
    flipped = png_bytes(np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB"))[:, ::-1]))
    a = npy_of(post(client, data).content)
    b = npy_of(post(client, data).content)
    c = npy_of(post(client, flipped).content)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.05


class GatedPredictor:
    """The real model behind a gate: calls wait until ``gate`` is set, so that requests pile up
    in the batcher's queue; records the size of every network run; can fail on demand."""

    def __init__(self, model, fail_batches: bool = False, bad_names: tuple[str, ...] = ()) -> None:
        self.model, self.meta, self.name = model, model.meta, model.name
        self.gate = threading.Event()
        self.entered = threading.Event()  # set when the worker is inside the network with an image
        self.runs: list[int] = []
        self.fail_batches, self.bad_names = fail_batches, bad_names

    def predict_rgb(self, rgb, name="<array>", focal=None):
        self.entered.set()
        self.gate.wait(60)
        self.runs.append(1)
        if name in self.bad_names:
            raise RuntimeError(f"{name}: the network produced NaN or infinite depth")
        return self.model.predict_rgb(rgb, name=name, focal=focal)

    def focal_scale(self, focal, width):
        return self.model.focal_scale(focal, width)

    def predict_rgb_batch(self, rgbs, batch_size=8, names=None):
        self.runs.append(len(rgbs))
        if self.fail_batches:
            raise RuntimeError("the batch failed")
        return self.model.predict_rgb_batch(rgbs, batch_size=batch_size, names=names)


def run_gated(gated, images: list[np.ndarray], focals: list[float | None] | None = None) -> dict:
    """The first image alone (held at the gate), then the rest queued together; -> results."""
    import time

    from rgb2depth.serve.service import Batcher

    batcher = Batcher(gated, max_batch=4)
    results: dict = {}

    def request(k: int) -> None:
        try:
            results[k] = batcher.predict(images[k], f"v{k}", focals[k] if focals else None)
        except Exception as e:  # noqa: BLE001 - the test looks at it
            results[k] = e

    def wait_until(cond) -> None:
        deadline = time.monotonic() + 60
        while not cond():
            assert time.monotonic() < deadline
            time.sleep(0.01)

    threads = [threading.Thread(target=request, args=(0,))]
    threads[0].start()
    wait_until(gated.entered.is_set)  # the worker holds v0 at the gate
    threads += [threading.Thread(target=request, args=(k,)) for k in range(1, len(images))]
    for t in threads[1:]:
        t.start()
    wait_until(lambda: batcher._queue.qsize() == len(images) - 1)
    gated.gate.set()
    for t in threads:
        t.join(60)
    return results


@pytest.fixture(scope="module")
def variants(image):
    from PIL import Image

    base = np.asarray(Image.open(image[0]).convert("RGB"))
    return [np.ascontiguousarray(v) for v in (base, base[:, ::-1], base[::-1], base[::-1, ::-1], base[:, ::-1][::-1])]


def test_batcher_runs_waiting_images_in_one_pass_each_with_its_own_depth(model, variants):
    focals = [None, 400.0, None, 900.0, 532.0]  # each image its own camera
    gated = GatedPredictor(model)
    results = run_gated(gated, variants, focals)
    assert gated.runs == [1, 4]
    for k, rgb in enumerate(variants):
        np.testing.assert_allclose(results[k], model.predict_rgb(rgb, focal=focals[k]), rtol=1e-6, atol=1e-5)


def test_batcher_retries_a_failed_batch_one_by_one_so_each_request_gets_its_own_error(model, variants):
    gated = GatedPredictor(model, fail_batches=True, bad_names=("v2",))
    results = run_gated(gated, variants)
    assert gated.runs == [1, 4, 1, 1, 1, 1]
    assert isinstance(results[2], RuntimeError) and str(results[2]) == "v2: the network produced NaN or infinite depth"
    for k in (0, 1, 3, 4):
        np.testing.assert_allclose(results[k], model.predict_rgb(variants[k]), rtol=0, atol=1e-5)


def bad_uploads(image_bytes: bytes) -> list[tuple[str, bytes, str]]:
    """(file name, body, words the error must contain) for each kind of bad upload."""
    from PIL import Image

    jpeg = io.BytesIO()
    Image.open(io.BytesIO(image_bytes)).convert("RGB").save(jpeg, format="JPEG", quality=90)
    return [
        ("notes.txt", b"this is text, not a photo\n" * 20, "not an image file"),
        ("cut.jpg", jpeg.getvalue()[: len(jpeg.getvalue()) // 2], "truncated or corrupt"),
        ("empty.png", b"", "empty file (0 bytes)"),
        ("tiny.png", png_bytes(np.full((8, 8, 3), 128, np.uint8)), "8x8, too small"),
        ("bomb.png", bomb_header_png(), "above the limit"),
    ]


def test_bad_uploads_get_400_naming_the_file_and_the_server_keeps_serving(client, image):
    _, data = image
    for name, body, words in bad_uploads(data):
        r = post(client, body, name=name)
        assert r.status_code == 400, (name, r.text)
        err = r.json()["error"]
        assert err.startswith(f"{name}: ") and words in err and "\n" not in err, err
        assert "/tmp" not in err and "rgb2depth-serve-" not in err
    assert post(client, data).status_code == 200


def test_bad_requests_get_400_with_a_json_error(client, image):
    _, data = image
    cases = [
        (client.post("/api/predict"), "multipart form field 'file'"),
        (post(client, data, format="tiff"), "unknown format 'tiff'"),
        (post(client, data, format="color", cmap="nope"), "unknown colormap 'nope'"),
        (post(client, data, format="ply", intrinsics="1,2"), "intrinsics must be 'fx,fy,cx,cy'"),
        (post(client, data, format="json", points=-1), "points:"),
    ]
    for r, words in cases:
        assert r.status_code == 400 and words in r.json()["error"], r.text
    r = client.get("/no/such/page")
    assert r.status_code == 404 and r.json() == {"error": "Not Found"}


def test_upload_names_are_reduced_to_safe_names(client, image):
    _, data = image
    r = post(client, data, name="../../etc/my photo (1).png", format="png16")
    assert r.headers["content-disposition"] == 'attachment; filename="my_photo_1_depth.png"'
    from rgb2depth.serve.service import safe_name

    assert [safe_name(n) for n in ("C:\\x\\a.b.JPG", "", "..", "???.p n g", "é.png")] == [
        "a_b.JPG", "upload", "upload", "upload.png", "upload.png"]


def test_oversize_body_is_413_declared_or_streamed(client, image):
    _, data = image
    r = post(client, b"\xff" * 3_500_000, name="big.jpg")
    err = r.json()["error"]
    assert r.status_code == 413 and err.startswith("request body is 3,50") and err.endswith(
        "bytes, above the limit of 3,000,000 bytes (rgb2depth serve --max-upload-mb)")

    def chunks():  # no Content-Length: counted as it streams
        yield (b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
               b"Content-Type: image/jpeg\r\n\r\n")
        for _ in range(8):
            yield b"\xff" * 500_000

    r = client.post("/api/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413 and "above the limit of 3,000,000 bytes" in r.json()["error"]
    assert post(client, data).status_code == 200


def test_model_failure_is_500_json_and_the_server_keeps_serving(client, model, image, monkeypatch):
    _, data = image

    def broken(rgb, name="<array>", focal=None):
        raise RuntimeError(f"{name}: the network produced NaN or infinite depth")

    monkeypatch.setattr(model, "predict_rgb", broken)
    raw = testclient.TestClient(client.app, raise_server_exceptions=False)  # answer as a server would
    r = post(raw, data, name="a.png")
    assert r.status_code == 500
    assert r.json() == {"error": "internal error: RuntimeError: a.png: the network produced NaN or infinite depth"}
    monkeypatch.undo()
    assert post(client, data).status_code == 200


def test_page_and_its_files_are_served_by_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for src in ("/static/style.css", "/static/pointcloud.js", "/static/app.js"):
        assert src in page.text
        assert client.get(src).status_code == 200
    # nothing from elsewhere: no absolute URLs in the page or its scripts
    for text in [page.text] + [client.get(s).text for s in ("/static/app.js", "/static/pointcloud.js", "/static/style.css")]:
        assert "http://" not in text and "https://" not in text and "//cdn" not in text


def test_serve_command_refuses_a_missing_model_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from rgb2depth.cli import app

    r = CliRunner().invoke(app, ["serve", "--model", str(tmp_path / "missing.pt")])
    assert r.exit_code == 2
    assert r.output.strip() == f"error: {tmp_path / 'missing.pt'}: no such model file"


def test_real_server_sequential_parallel_and_bad_requests(model, image):
    """uvicorn on 127.0.0.1: 12 sequential requests, 4 clients x 4 parallel requests of
    different images (each answered with its own depth), a 50 MB body (413) and bad images
    (400), then still serving."""
    httpx = pytest.importorskip("httpx2", reason="needs httpx2 (test extra)")
    from PIL import Image

    from rgb2depth.serve import create_app
    from rgb2depth.serve.threaded import ServerThread

    path, data = image
    base = np.asarray(Image.open(path).convert("RGB"))
    variants = [base, base[:, ::-1], base[::-1], base[::-1, ::-1]]
    bodies = [png_bytes(np.ascontiguousarray(v)) for v in variants]
    expected = [model.predict(np.ascontiguousarray(v)) for v in variants]

    with ServerThread(create_app(model), timeout=60) as url, httpx.Client(base_url=url, timeout=60) as c:
        for i in range(12):
            r = c.post("/api/predict", files={"file": ("v.png", bodies[i % 4])})
            assert r.status_code == 200
            np.testing.assert_allclose(npy_of(r.content), expected[i % 4], atol=1e-5)

        failures: list[str] = []

        def client_thread(k: int) -> None:
            with httpx.Client(base_url=url, timeout=60) as ck:
                for _ in range(4):
                    r = ck.post("/api/predict", files={"file": (f"v{k}.png", bodies[k])})
                    if r.status_code != 200 or np.abs(npy_of(r.content) - expected[k]).max() > 1e-5:
                        failures.append(f"client {k}: HTTP {r.status_code}")

        threads = [threading.Thread(target=client_thread, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads) and failures == []

        r = c.post("/api/predict", files={"file": ("huge.jpg", b"\xff" * (50 * 2**20))})
        assert r.status_code == 413 and "above the limit" in r.json()["error"]
        for name, body, words in bad_uploads(data):
            r = c.post("/api/predict", files={"file": (name, body)})
            assert r.status_code == 400 and words in r.json()["error"]
        assert c.get("/api/health").json()["status"] == "ok"
        r = c.post("/api/predict", files={"file": ("v.png", bodies[0])})
        np.testing.assert_allclose(npy_of(r.content), expected[0], atol=1e-5)
