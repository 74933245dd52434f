"""7-Scenes, Middlebury, SUN RGB-D, Make3D, PFM, TUM raw frame, the synth name: units and
conversions on the real files; Make3D on a .mat written in its public format."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.io

from conftest import require
from rgb2depth import data
from rgb2depth.data.depth_io import read_depth_png, read_pfm, sun_rgbd_to_metres, write_pfm
from rgb2depth.data.middlebury import depth_to_disparity, disparity_to_depth, read_middlebury_calib


def test_seven_scenes_units_pose_intrinsics(shared_data):
    root = require(shared_data / "7scenes" / "redkitchen_seq")
    ds = data.create("seven_scenes", root=root)
    assert len(ds) == 250
    s = ds[1]
    raw = cv2.imread(str(root / "frame-000004.depth.png"), cv2.IMREAD_UNCHANGED)
    assert s["id"].endswith("frame-000004")
    ok = (raw > 0) & (raw < 65535)
    assert np.array_equal(ok, s["valid"])
    assert np.allclose(s["depth"][ok], raw[ok] / 1000.0)
    assert 0.3 < s["depth"][ok].min() and s["depth"][ok].max() < 6
    assert (s["K"].fx, s["K"].cx, s["K"].cy) == (585.0, 320.0, 240.0)
    T = np.loadtxt(root / "frame-000004.pose.txt")
    assert np.allclose(s["pose"], T) and np.allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-3)


def test_middlebury_2014_depth_from_pfm(shared_data):
    root = require(shared_data / "middlebury" / "2014" / "trainingQ" / "Motorcycle")
    s = data.create("middlebury", root=root)[0]
    c = read_middlebury_calib(root / "calib.txt")
    assert c["baseline"] == 193.001 and c["doffs"] == 32.778
    disp = read_pfm(root / "disp0GT.pfm")
    v, u = 250, 400
    assert np.isfinite(disp[v, u])
    # depth_mm = baseline * f / (d + doffs)  (Middlebury's formula), in metres here
    assert s["depth"][v, u] == pytest.approx(193.001 * 999.421 / (disp[v, u] + 32.778) / 1000, rel=1e-5)
    assert np.array_equal(s["valid"], np.isfinite(disp))
    d = s["depth"][s["valid"]]
    assert 1.5 < d.min() and d.max() < 6  # vmin..vmax disparities 7..65 px
    assert s["disparity"].shape == (497, 741) and s["nonocc"].dtype == bool
    # PFM rows are stored bottom-to-top; OpenCV's decoder (which also flips) agrees on the layout.
    # It multiplies by 1/|scale| (the header says -0.003922), Middlebury's readers ignore the
    # magnitude: disparities here are in the calib's vmin..vmax = 7..65 px.
    cv = cv2.imread(str(root / "disp0GT.pfm"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(np.isfinite(cv), np.isfinite(disp))
    assert np.allclose(cv[np.isfinite(cv)] * 0.003922, disp[np.isfinite(disp)], rtol=1e-4)
    fin = disp[np.isfinite(disp)]
    assert 7 <= fin.min() and fin.max() <= 65


def test_middlebury_2003_needs_calibration(shared_data):
    root = require(shared_data / "middlebury" / "2003")
    ds = data.create("middlebury", root=root)
    assert ds.ids == ["cones", "teddy"]
    with pytest.raises(data.DataError, match="no calib.txt"):
        ds[0]
    s = data.create("middlebury", root=root, focal=1000.0, baseline=0.1)[0]
    raw = cv2.imread(str(root / "cones" / "disp2.png"), cv2.IMREAD_UNCHANGED)
    v, u = np.argwhere(raw > 0)[500]
    assert s["disparity"][v, u] == raw[v, u] / 4
    assert s["depth"][v, u] == pytest.approx(1000 * 0.1 / (raw[v, u] / 4))
    assert (~s["valid"]).sum() == (raw == 0).sum()


def test_disparity_depth_round_trip():
    d = np.array([[10.0, 0.0, np.inf], [64.0, -1.0, 3.5]], np.float32)
    z = disparity_to_depth(d, 700.0, 0.54, 2.0)
    assert z[0, 0] == pytest.approx(700 * 0.54 / 12)
    assert np.isnan(z[0, 1]) and np.isnan(z[0, 2]) and np.isnan(z[1, 1])
    back = depth_to_disparity(z, 700.0, 0.54, 2.0)
    assert np.allclose(back[np.isfinite(z)], d[np.isfinite(z)], rtol=1e-5)


def test_pfm_round_trip(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    a[1, 2] = np.inf
    write_pfm(tmp_path / "a.pfm", a)
    assert np.array_equal(read_pfm(tmp_path / "a.pfm"), a)
    (tmp_path / "b.pfm").write_bytes(b"P6\n1 1\n")
    with pytest.raises(data.DataError, match=r"b\.pfm: not a PFM"):
        read_pfm(tmp_path / "b.pfm")


def test_sun_rgbd_bit_rotation(shared_data):
    d = require(shared_data / "raw_frames")
    raw = cv2.imread(str(d / "SUN_depth.png"), cv2.IMREAD_UNCHANGED)
    s = data.create("sun_rgbd", pairs=[(d / "SUN_color.jpg", d / "SUN_depth.png")])[0]
    v, u = np.argwhere(raw > 0)[2000]
    x = int(raw[v, u])
    mm = ((x >> 3) | (x << 13)) & 0xFFFF
    assert s["depth"][v, u] == pytest.approx(mm / 1000)
    dd = s["depth"][s["valid"]]
    assert 0.3 < dd.min() and dd.max() < 10  # indoor Kinect/RealSense ranges
    # without the rotation the values would be 8x too large (tens of metres)
    assert np.nanmedian(raw[raw > 0] / 1000.0) > 8 * np.nanmedian(dd) * 0.9
    assert sun_rgbd_to_metres(np.array([[8 * 1500]], np.uint16))[0, 0] == pytest.approx(1.5)


def test_sun_rgbd_folder(tmp_path, shared_data):
    d = require(shared_data / "raw_frames")
    f = tmp_path / "kv1" / "NYUdata" / "NYU0001"
    (f / "image").mkdir(parents=True)
    (f / "depth").mkdir()
    (f / "image" / "NYU0001.jpg").write_bytes((d / "SUN_color.jpg").read_bytes())
    (f / "depth" / "NYU0001.png").write_bytes((d / "SUN_depth.png").read_bytes())
    (f / "intrinsics.txt").write_text("518.857901 0 284.582449\n0 519.469611 208.736166\n0 0 1\n")
    s = data.create("sun_rgbd", root=tmp_path)[0]
    assert s["id"] == "NYU0001" and s["K"].fx == pytest.approx(518.857901)


def test_tum_raw_frame_units(shared_data):
    d = require(shared_data / "raw_frames")
    depth = read_depth_png(d / "TUM_depth.png", 5000.0)
    ok = np.isfinite(depth)
    assert 0.3 < depth[ok].min() and depth[ok].max() < 10


def _write_make3d(tmp_path, grid_d):
    (tmp_path / "Test134").mkdir()
    (tmp_path / "Gridlaserdata").mkdir()
    img = np.zeros((2272, 1704, 3), np.uint8)  # Make3D photos: 1704 wide, 2272 tall
    img[:1136] = 200
    cv2.imwrite(str(tmp_path / "Test134" / "img-10.21op2-p-015t000.jpg"), img)
    g = np.zeros(grid_d.shape + (4,), np.float64)
    g[..., 2] = grid_d * 0.9
    g[..., 3] = grid_d
    scipy.io.savemat(tmp_path / "Gridlaserdata" / "depth_sph_corr-10.21op2-p-015t000.mat", {"Position3DGrid": g})


def test_make3d_protocol(tmp_path):
    grid = np.tile(np.linspace(5, 81, 55)[:, None], (1, 305))  # 55x305 as the readme says
    grid[0, 0] = 0  # no return
    _write_make3d(tmp_path, grid)
    ds = data.create("make3d", root=tmp_path)
    s = ds[0]
    assert s["rgb"].shape == (345, 460, 3) and s["depth"].shape == (345, 460)
    assert s["K"] is None
    d = s["depth"][s["valid"]]
    assert d.max() <= 70 and d.min() >= 5
    assert set(np.unique(d)) <= set(np.unique(grid.astype(np.float32)))  # nearest: no blending
    assert np.isnan(s["depth"][0, 0])  # the zero return is invalid
    z = data.create("make3d", root=tmp_path, channel="z", max_depth=None)[0]
    assert np.nanmax(z["depth"]) == pytest.approx(81 * 0.9, rel=1e-5)
    bad = tmp_path / "Gridlaserdata" / "depth_sph_corr-10.21op2-p-015t000.mat"
    scipy.io.savemat(bad, {"Other": np.zeros(3)})
    with pytest.raises(data.DataError, match="no 'Position3DGrid'"):
        ds[0]


def test_synth_name_uses_the_generator():
    gen = pytest.importorskip("rgb2depth.synth.generator")
    if not hasattr(gen, "SynthDataset"):
        pytest.skip("rgb2depth.synth.generator.SynthDataset not written yet")
    ds = data.create("synth", count=2, size=(24, 32), seed=1)
    assert isinstance(ds, gen.SynthDataset) and len(ds) == 2


def test_registry_names_and_unknown():
    for n in ("tum", "tum_keyframes", "seven_scenes", "nyu_labeled", "nyu_csv", "nyu_h5", "nyu_raw",
              "kitti_raw", "kitti_depth", "make3d", "middlebury", "sun_rgbd", "folder", "synth"):
        assert n in data.names()
    with pytest.raises(KeyError, match="did you mean tum"):
        data.create("tun", root=".")
