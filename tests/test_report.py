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


def test_each_alignment_gets_its_own_figure_with_colour_bars(tmp_path, shared_data, monkeypatch):
    """Predictions 1.7x too far on 2 real NYU frames, evaluated raw and median-aligned: two
    tables, two figure files that differ; each grid row has a colour bar in metres spanning the
    row's ground-truth range; the aligned figure shows the aligned prediction (= ground truth)."""
    from rgb2depth.cli import app
    from rgb2depth.evaluation import report
    from rgb2depth.evaluation.evaluate import load_vis, resolve_dataset_spec
    from rgb2depth.training.data import build_source
    from rgb2depth.viz import depth_range

    src = build_source(resolve_dataset_spec("nyu_mini"))
    (tmp_path / "pred").mkdir()
    for i in range(2):
        s = src[i]
        np.save(tmp_path / "pred" / f"{s['id']}.npy", np.where(s["valid"], 1.7 * s["depth"], 0).astype(np.float32))
    jsons = []
    for align in ("none", "median"):
        out = tmp_path / f"{align}.json"
        r = CliRunner().invoke(app, ["evaluate", "--predictions", str(tmp_path / "pred"), "--dataset", "nyu_mini",
                                     "--limit", "2", "--align", align, "--name", "x1.7", "--out", str(out)])
        assert r.exit_code == 0, r.output
        jsons.append(out)
    raw, aligned = (load_vis(tmp_path / f"{a}.vis.npz") for a in ("none", "median"))
    ok = np.isfinite(raw[0]["gt"]) & (raw[0]["gt"] > 0)  # (downsized: gt nearest, prediction bilinear)
    assert np.median(raw[0]["pred"][ok] / raw[0]["gt"][ok]) == pytest.approx(1.7, rel=1e-3)
    assert np.median(aligned[0]["pred"][ok] / raw[0]["gt"][ok]) == pytest.approx(1.0, rel=1e-3)
    figures = {}
    real_save = report.save_figure

    def capture(fig, path, dpi):
        figures[path.name] = [(ax.get_ylabel(), ax.get_ylim()) for ax in fig.axes if ax.get_ylabel() == "depth (m)"]
        real_save(fig, path, dpi)

    monkeypatch.setattr(report, "save_figure", capture)
    out = tmp_path / "rep"
    r = CliRunner().invoke(app, ["report", *map(str, jsons), "-o", str(out)])
    assert r.exit_code == 0, r.output
    names = ["qualitative_nyu_mini_nyu.png", "qualitative_nyu_mini_nyu_align-median.png"]
    assert sorted(figures) == names
    a, b = ((out / n).read_bytes() for n in names)
    assert a != b
    md = (out / "report.md").read_text()
    assert md.count("| model | loss | params |") == 2 and all(f"]({n})" in md for n in names)
    for bars in figures.values():  # one bar per row, the row's ground-truth range in metres
        assert [lim for _, lim in bars] == [pytest.approx(depth_range(v["gt"])) for v in raw]


def test_runs_keep_one_name_in_curves_and_tables(tmp_path, monkeypatch):
    """A run folder's curve and summary row take the name of the evaluation of its model file;
    a run without one takes summary.json's name, not the folder's."""
    from rgb2depth.cli import app
    from rgb2depth.evaluation import report

    logs = []
    for folder, cfg in (("run_a", "cfg_a"), ("run_b", "cfg_b")):
        d = tmp_path / "runs" / folder
        d.mkdir(parents=True)
        lines = [{"kind": "train", "step": s, "loss": 1.0 / s} for s in range(1, 6)]
        lines += [{"kind": "val", "step": 5, "rmse": 0.9, "abs_rel": 0.25, "delta1": 0.6}]
        (d / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
        (d / "summary.json").write_text(json.dumps({"name": cfg}))
        logs.append(d)
    ev = write_eval(tmp_path / "a.json", "my_model", "l1", 1000, 0.8, 0.6, vis=False)
    rec = json.loads(ev.read_text())
    rec["model_file"] = str(logs[0] / "model.pt")
    ev.write_text(json.dumps(rec))
    legends = []
    real_save = report.save_figure

    def capture(fig, path, dpi):
        legends.extend(t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts())
        real_save(fig, path, dpi)

    monkeypatch.setattr(report, "save_figure", capture)
    out = tmp_path / "rep"
    r = CliRunner().invoke(app, ["report", str(ev), "--log", str(logs[0]), "--log", str(logs[1] / "metrics.jsonl"),
                                 "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert legends == ["my_model", "cfg_b"]
    md = (out / "report.md").read_text()
    assert "| my_model (my_model) |" not in md and "| my_model | l1 |" in md
    assert "| my_model | 5 |" in md and "| cfg_b | 5 |" in md and "run_a" not in md
