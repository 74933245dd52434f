"""Reports: results table (papers' layout, best value bold, one table per protocol), training
curves and qualitative grids written as PNG, Markdown and HTML."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from rgb2depth.evaluation.evaluate import save_vis


def write_eval(path, name, loss, params, rmse, delta1, protocol="nyu", vis=True):
    rec = {"name": name, "model": name, "loss": loss, "params": params, "protocol": protocol,
           "aggregation": "per_image", "align": "none", "count": 10,
           "dataset": {"name": "nyu_mini", "loader": "nyu_csv"},
           "metrics": {"delta1": delta1, "abs_rel": 0.2, "rmse": rmse}}
    if vis:
        rng = np.random.default_rng(0)
        gt = rng.uniform(1, 4, (24, 32)).astype(np.float32)
        save_vis([{"id": "a", "rgb": np.zeros((24, 32, 3), np.uint8), "gt": gt, "pred": gt * 1.1}] * 2,
                 path.with_suffix(".vis.npz"))
        rec["vis"] = path.with_suffix(".vis.npz").name
    path.write_text(json.dumps(rec))
    return path


def test_report_tables_curves_and_grids(tmp_path):
    from rgb2depth.cli import app

    a = write_eval(tmp_path / "a.json", "unet_realtime", "combined", 1_215_974, 0.812, 0.61)
    b = write_eval(tmp_path / "b.json", "fcrn", "berhu", 63_563_009, 0.573, 0.81)
    c = write_eval(tmp_path / "c.json", "fcrn", "berhu", 63_563_009, 1.5, 0.3, protocol="none", vis=False)
    run = tmp_path / "run1"
    run.mkdir()
    lines = [{"kind": "train", "step": s, "loss": 1.0 / s} for s in range(1, 11)]
    lines += [{"kind": "val", "step": 5, "rmse": 1.2, "abs_rel": 0.3, "delta1": 0.5},
              {"kind": "val", "step": 10, "rmse": 0.9, "abs_rel": 0.25, "delta1": 0.6}]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    out = tmp_path / "rep"
    r = CliRunner().invoke(app, ["report", str(a), str(b), str(c), "--log", str(run), "-o", str(out),
                                 "--metrics", "delta1,abs_rel,rmse"])
    assert r.exit_code == 0, r.output
    md = (out / "report.md").read_text()
    # two protocols -> two tables; within nyu the best value of each column is bold (ties too)
    assert md.count("| model | loss | params |") == 2
    assert "protocol `nyu`" in md and "protocol `none`" in md
    assert "| fcrn | berhu | 63.56M | **0.810** | **0.200** | **0.573** |" in md
    assert "| unet_realtime | combined | 1.22M | 0.610 | **0.200** | 0.812 |" in md
    assert "| run1 | 10 | 0.100 | 0.900 | 0.250 | 0.600 |" in md
    html = (out / "report.html").read_text()
    assert "<b>0.573</b>" in html and "curves.png" in html
    for png in ("curves.png", "qualitative_nyu_mini_nyu.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    assert not (out / "qualitative_nyu_mini_none.png").exists()  # no vis for c


def test_report_rejects_bad_input(tmp_path):
    from rgb2depth.evaluation.report import build_report

    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="bad.json: not an rgb2depth evaluation"):
        build_report([bad], [], tmp_path / "o")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        build_report([tmp_path / "missing.json"], [], tmp_path / "o")
