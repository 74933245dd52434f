"""``rgb2depth synth``: folder layout, byte-identical output for one seed (any worker count),
files that decode back to the samples of ``SynthDataset``."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

pytest.importorskip("open3d")

from rgb2depth.synth.cli import synth  # noqa: E402
from rgb2depth.synth.generator import SynthDataset  # noqa: E402


def _app():
    app = typer.Typer()
    app.command()(synth)
    return app


def _run(out, *extra):
    r = CliRunner().invoke(_app(), ["--count", "3", "--size", "36x48", "--seed", "11", "-o", str(out), *extra])
    assert r.exit_code == 0, r.output
    return r


def _files(d):
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_folders(tmp_path):
    _run(tmp_path / "a", "--workers", "1")
    _run(tmp_path / "b", "--workers", "2")
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert sorted(a) == sorted(b)
    assert {"intrinsics.json", "poses.txt", "rgb/000002.png", "depth/000002.png"} <= set(a)
    assert all(a[k] == b[k] for k in a)
    _run(tmp_path / "c", "--workers", "1", "--seed", "12")
    assert _files(tmp_path / "c")["rgb/000000.png"] != a["rgb/000000.png"]


def test_written_files_decode_to_the_dataset_samples(tmp_path):
    out = tmp_path / "ds"
    _run(out, "--workers", "1")
    ds = SynthDataset(count=3, size=(36, 48), seed=11)
    K = json.loads((out / "intrinsics.json").read_text())
    assert K == ds.K.to_dict()
    rows = [ln.split() for ln in (out / "poses.txt").read_text().splitlines() if not ln.startswith("#")]
    assert [r[0] for r in rows] == ["000000", "000001", "000002"]
    from scipy.spatial.transform import Rotation

    for i, row in enumerate(rows):
        s = ds[i]
        rgb = cv2.cvtColor(cv2.imread(str(out / "rgb" / f"{s['id']}.png")), cv2.COLOR_BGR2RGB)
        assert np.array_equal(rgb, s["rgb"])
        mm = cv2.imread(str(out / "depth" / f"{s['id']}.png"), cv2.IMREAD_UNCHANGED)
        assert mm.dtype == np.uint16
        np.testing.assert_array_equal(mm == 0, ~s["valid"])
        assert np.abs(mm[s["valid"]] / 1000.0 - s["depth"][s["valid"]]).max() <= 0.0005 + 1e-6
        vals = np.array(row[1:], float)
        np.testing.assert_allclose(vals[:3], s["pose"][:3, 3], atol=1e-8)
        np.testing.assert_allclose(Rotation.from_quat(vals[3:]).as_matrix(), s["pose"][:3, :3], atol=1e-7)


def test_folder_loader_reads_the_output(tmp_path):
    folder = pytest.importorskip("rgb2depth.data.folder")
    out = tmp_path / "ds"
    _run(out, "--workers", "1", "--sensor-noise")
    loaded = folder.FolderDataset(out)
    ds = SynthDataset(count=3, size=(36, 48), seed=11, sensor_noise=True)
    s, ref = loaded.load(1), ds[1]
    assert np.array_equal(s["rgb"], ref["rgb"]) and np.array_equal(s["valid"], ref["valid"])
    np.testing.assert_allclose(s["depth"][s["valid"]], ref["depth"][ref["valid"]], atol=5e-4 + 1e-6)
    np.testing.assert_allclose(s["pose"], ref["pose"], atol=1e-6)


def test_jpeg_rgb_option(tmp_path):
    out = tmp_path / "j"
    r = CliRunner().invoke(_app(), ["-n", "1", "--size", "24x32", "-o", str(out), "-j", "1", "--rgb-format", "jpg"])
    assert r.exit_code == 0, r.output
    im = cv2.imread(str(out / "rgb" / "000000.jpg"))
    ref = SynthDataset(count=1, size=(24, 32), seed=0)[0]["rgb"]
    assert im.shape == (24, 32, 3) and np.abs(cv2.cvtColor(im, cv2.COLOR_BGR2RGB).astype(int) - ref).mean() < 6


def test_bad_size_is_a_one_line_error(tmp_path):
    r = CliRunner().invoke(_app(), ["--count", "1", "--size", "big", "-o", str(tmp_path / "x")])
    assert r.exit_code != 0 and "HxW" in r.output


def test_demo_asset_is_a_generator_sample():
    """The committed demo room is SynthDataset(seed=7, size 480x640, ao_samples=6)[4]."""
    from pathlib import Path

    import rgb2depth

    assets = Path(rgb2depth.__file__).parent / "assets"
    rgb = cv2.cvtColor(cv2.imread(str(assets / "demo_room.png")), cv2.COLOR_BGR2RGB)
    mm = cv2.imread(str(assets / "demo_room_depth.png"), cv2.IMREAD_UNCHANGED)
    K = json.loads((assets / "demo_room_intrinsics.json").read_text())
    assert rgb.shape == (480, 640, 3) and mm.dtype == np.uint16 and mm.shape == (480, 640)
    s = SynthDataset(count=5, size=(480, 640), seed=7, ao_samples=6)[4]
    assert K == s["K"].to_dict()
    np.testing.assert_array_equal(mm == 0, ~s["valid"])
    assert np.abs(mm[s["valid"]] / 1000.0 - s["depth"][s["valid"]]).max() <= 0.0005 + 1e-6
    assert np.abs(rgb.astype(int) - s["rgb"]).mean() < 1.0


def test_widened_generator_with_random_cameras(tmp_path):
    """--scene-types / --focal-range: every room's own camera goes to intrinsics.txt (no single
    intrinsics.json), and the folder loader hands each image the K the generator used."""
    folder = pytest.importorskip("rgb2depth.data.folder")
    out = tmp_path / "w"
    _run(out, "--workers", "1", "--scene-types", "office,kitchen", "--focal-range", "500,640")
    assert not (out / "intrinsics.json").exists() and (out / "intrinsics.txt").is_file()
    ds = SynthDataset(count=3, size=(36, 48), seed=11, scene_types="office,kitchen", focal_range=(500, 640))
    loaded = folder.FolderDataset(out)
    got = [loaded.load(i)["K"] for i in range(3)]
    for g, i in zip(got, range(3), strict=True):
        ref = ds[i]["K"]
        assert abs(g.fx - ref.fx) < 1e-6 * ref.fx and (g.width, g.height) == (48, 36)
    assert len({round(k.fx, 3) for k in got}) > 1  # the cameras differ
    assert 500 * 48 / 640 - 1e-6 <= min(k.fx for k in got) and max(k.fx for k in got) <= 640 * 48 / 640 + 1e-6
    assert json.loads((out / "synth.json").read_text())["focal_range"] == [500.0, 640.0]


@pytest.mark.parametrize("bad", ["640", "640,500", "a,b", "0,10"])
def test_bad_focal_range_is_a_one_line_error(tmp_path, bad):
    r = CliRunner().invoke(_app(), ["--count", "1", "--size", "24x32", "-o", str(tmp_path / "x"), "--focal-range", bad])
    assert r.exit_code != 0 and "--focal-range" in r.output and "LO,HI" in r.output
