"""``predict --save ply`` back-projects with the camera the depth was predicted for.

The shipped model predicts depth for the photo's focal length (``--focal``, else EXIF, else its
canonical camera of 0.82 image widths), so the point cloud must use that same focal length:
a point at pixel (u, v) and depth z lies at ((u - cx) z / f, (v - cy) z / f, z).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

import rgb2depth
from rgb2depth.geometry.pointcloud import read_ply
from rgb2depth.inference import cli

ASSET = Path(rgb2depth.__file__).parent / "assets" / "tum_cabinet.jpg"
app = typer.Typer()
app.command("predict")(cli.predict)
app.command("benchmark")(cli.benchmark)  # two commands: typer then dispatches by name


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def check_points(out: Path, stem: str, f: float) -> np.ndarray:
    depth = np.load(out / f"{stem}.npy")
    h, w = depth.shape
    pc = read_ply(out / f"{stem}.ply")
    assert len(pc) == h * w
    for u, v in ((5, 7), (600, 30), (320, 470)):
        z = depth[v, u]
        want = [(u - (w - 1) / 2) * z / f, (v - (h - 1) / 2) * z / f, z]
        np.testing.assert_allclose(pc.points[v * w + u], want, rtol=1e-5)
    return depth


@pytest.mark.parametrize("focal", [None, 430.0])
def test_ply_uses_the_focal_length_of_the_prediction(tmp_path, monkeypatch, focal):
    from rgb2depth.inference import api

    reads = []
    real = api.exif_focal_px
    monkeypatch.setattr(api, "exif_focal_px", lambda image: reads.append(image) or real(image))
    out = tmp_path / "out"
    args = ["predict", ASSET, "-o", out, "--save", "npy,ply", "--threads", "2"]
    if focal is not None:
        args += ["--focal", focal]
    r = run(*args)
    assert r.exit_code == 0, r.output
    w = np.load(out / "tum_cabinet.npy").shape[1]
    canonical = rgb2depth.load("default").meta.extra["canonical_focal"]
    check_points(out, "tum_cabinet", focal if focal is not None else canonical * w)
    assert len(reads) == (0 if focal is not None else 1), reads  # EXIF read once per image, if at all


def test_given_intrinsics_still_win(tmp_path):
    out = tmp_path / "out"
    r = run("predict", ASSET, "-o", out, "--save", "npy,ply", "--focal", "430", "--intrinsics", "500,500,319.5,239.5")
    assert r.exit_code == 0, r.output
    check_points(out, "tum_cabinet", 500.0)
