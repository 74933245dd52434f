"""Reports from evaluation JSONs and training logs: Markdown + HTML, PNG figures.

* **Results table** in the layout of the papers' tables (paper 003 Table 1/2, paper 004
  Table 1): one row per model with its loss and parameter count, then each metric with an arrow
  saying which way is better (accuracy thresholds ``delta`` up, errors down); the best value of
  each column is bold. One table per (dataset, protocol, aggregation, alignment, input
  preprocessing: ``evaluate --preprocess``), since numbers
  under different protocols are not comparable (the protocol is named in each table's heading).
* **Training curves** (``curves.png``): training loss (raw and a moving average) and the
  validation metrics against the step, every run overlaid, from ``metrics.jsonl`` files.
* **Qualitative grid** per table (``qualitative_<dataset>_<protocol>[_<aggregation>][_<alignment>]
  [_<range>][_<preprocessing>].png``, one file each, so the median-aligned figure does not
  replace the raw one): rows are images, columns RGB | ground truth | each model's prediction as
  it was scored (aligned in an aligned table), depth colour-mapped with one range per row (that
  of the ground truth, shown by the row's colour bar in metres) so models compare by eye; from
  the ``.vis.npz`` files ``rgb2depth evaluate --out`` writes beside its JSON.

A run has one name everywhere (:func:`run_label`): its evaluation's ``name``; a training log
takes the name of the evaluation of the model file in its folder, else the ``name`` of the
``summary.json`` beside it, else the folder's name. An evaluation of a partial predictions
folder (``"partial": true``) is flagged under its table with the samples it lacks.
"""

from __future__ import annotations

import html
import json
from collections import OrderedDict
from pathlib import Path

import numpy as np

from rgb2depth.fileio import atomic_path, ensure_dir, write_text

HIGHER_IS_BETTER = {"delta1", "delta2", "delta3", "ssim"}
LABELS = {
    "delta1": "δ<1.25", "delta2": "δ<1.25²", "delta3": "δ<1.25³", "abs_rel": "AbsRel",
    "sq_rel": "SqRel", "rmse": "RMSE", "rmse_log": "RMSE(log)", "log10": "log10", "silog": "SIlog",
    "mse": "MSE", "mae": "MAE", "ssim": "SSIM",
}


def load_evaluation(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such evaluation file")
    try:
        rec = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(rec, dict) or "metrics" not in rec or "protocol" not in rec:
        raise ValueError(f"{path}: not an rgb2depth evaluation (no metrics/protocol)")
    rec["_path"] = str(path)
    return rec


def load_log(path: Path) -> tuple[str, list[dict]]:
    """A ``metrics.jsonl`` (or a run folder holding one) -> (run name, records)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training log")
    recs = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            recs.append(json.loads(line))
        except json.JSONDecodeError:
            raise ValueError(f"{path}: line {i} is not JSON") from None
    return path.parent.name, recs


def _fmt_params(n) -> str:
    if not n:
        return "-"
    return f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n / 1e3:.1f}k"


def _fmt(v: float, key: str) -> str:
    if v is None or not np.isfinite(v):
        return "-"
    if key in ("mse", "sq_rel") and abs(v) >= 100:
        return f"{v:.3g}"
    return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"


def group_results(evals: list[dict]) -> OrderedDict:
    groups: OrderedDict = OrderedDict()
    for e in evals:
        rng = e.get("depth_range")
        key = (e["dataset"]["name"] if isinstance(e.get("dataset"), dict) else str(e.get("dataset")),
               e["protocol"], e.get("aggregation", "per_image"), e.get("align", "none"),
               tuple(rng) if rng else None, e.get("preprocess", "resize"))
        groups.setdefault(key, []).append(e)
    return groups


def run_label(e: dict) -> str:
    """The name an evaluation goes by in every table and figure of a report."""
    return str(e.get("name") or e.get("model") or Path(e["_path"]).stem)


def log_label(log: Path, default: str, evals: list[dict]) -> str:
    """The name of a training run (``metrics.jsonl`` or its folder) in a report: that of the
    evaluation of a model file inside the run's folder, else ``summary.json``'s ``name``, else
    ``default`` (the folder's name)."""
    folder = (log if log.is_dir() else log.parent).resolve()
    for e in evals:
        f = e.get("model_file")
        if f and Path(f).resolve().parent == folder:
            return run_label(e)
    summary = folder / "summary.json"
    if summary.is_file():
        try:
            name = json.loads(summary.read_text()).get("name")
        except (json.JSONDecodeError, AttributeError):
            name = None
        if isinstance(name, str) and name:
            return name
    return default


def figure_name(key: tuple) -> str:
    """``qualitative_<dataset>_<protocol>...png`` for a table's group key (dataset, protocol,
    aggregation, alignment, depth range, preprocessing); defaults are left out of the name."""
    ds, proto, agg, align, rng, pre = key
    parts = [ds, proto]
    parts += [agg] if agg != "per_image" else []
    parts += [f"align-{align}"] if align != "none" else []
    parts += [f"depth-{rng[0]}-{rng[1]}"] if rng else []
    parts += [pre] if pre != "resize" else []
    safe = "_".join("".join(c if c.isalnum() or c in "-._" else "-" for c in str(p)) for p in parts)
    return f"qualitative_{safe}.png"


def table_rows(evals: list[dict], keys: list[str]) -> tuple[list[str], list[list[str]]]:
    header = ["model", "loss", "params"] + [f"{LABELS.get(k, k)} {'↑' if k in HIGHER_IS_BETTER else '↓'}" for k in keys]
    best = {}
    for k in keys:
        vals = [e["metrics"].get(k) for e in evals if e["metrics"].get(k) is not None]
        if vals:
            best[k] = max(vals) if k in HIGHER_IS_BETTER else min(vals)
    rows = []
    for e in evals:
        name = run_label(e)
        model = e.get("model")
        label = f"{name} ({model})" if model and model not in str(name) else str(name)
        loss = e.get("loss")
        loss = "+".join(loss) if isinstance(loss, list) else (loss or "-")
        row = [label, str(loss), _fmt_params(e.get("params"))]
        for k in keys:
            v = e["metrics"].get(k)
            s = _fmt(v, k)
            if v is not None and k in best and len(evals) > 1 and v == best[k]:
                s = f"**{s}**"
            row.append(s)
        rows.append(row)
    return header, rows


def plot_curves(logs: list[tuple[str, list[dict]]], path: Path, val_keys=("rmse", "abs_rel", "delta1")) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 1 + len(val_keys), figsize=(4.2 * (1 + len(val_keys)), 3.4))
    for name, recs in logs:
        tr = [r for r in recs if r.get("kind") == "train" and np.isfinite(r.get("loss", np.nan))]
        if tr:
            s = np.array([r["step"] for r in tr])
            lo = np.array([r["loss"] for r in tr])
            k = max(1, len(lo) // 20)
            sm = np.convolve(lo, np.ones(k) / k, mode="valid")
            line = axes[0].plot(s, lo, alpha=0.25)[0]
            axes[0].plot(s[k - 1:], sm, color=line.get_color(), label=name)
        va = [r for r in recs if r.get("kind") == "val"]
        for ax, key in zip(axes[1:], val_keys, strict=True):
            pts = [(r["step"], r[key]) for r in va if key in r]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", ms=3, label=name)
    axes[0].set_title("training loss")
    axes[0].set_xlabel("step")
    for ax, key in zip(axes[1:], val_keys, strict=True):
        ax.set_title(f"validation {LABELS.get(key, key)}")
        ax.set_xlabel("step")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    return path


def plot_qualitative(evals: list[dict], path: Path, max_rows: int = 4) -> Path | None:
    """RGB | GT | prediction of each model, one row per image (from the evals' .vis.npz)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from rgb2depth.evaluation.evaluate import load_vis
    from rgb2depth.viz import colorize, depth_range

    cols = []
    for e in evals:
        if not e.get("vis"):
            continue
        p = Path(e["_path"]).parent / e["vis"]
        if p.is_file():
            cols.append((run_label(e), load_vis(p)))
    if not cols:
        return None
    base = cols[0][1]
    n = min(max_rows, len(base))
    ncol = 2 + len(cols)
    # one extra narrow column: each row's colour bar (the row's depth range, in metres)
    fig, axes = plt.subplots(n, ncol + 1, figsize=(2.6 * ncol + 0.9, 2.1 * n + 0.3), squeeze=False,
                             gridspec_kw={"width_ratios": [1.0] * ncol + [0.06]})
    for i in range(n):
        gt = base[i]["gt"]
        lo, hi = depth_range(gt)
        axes[i][0].imshow(base[i]["rgb"])
        axes[i][1].imshow(colorize(gt, lo, hi))
        for j, (_, vis) in enumerate(cols):
            if i < len(vis):
                axes[i][2 + j].imshow(colorize(vis[i]["pred"], lo, hi))
        for ax in axes[i][:ncol]:
            ax.set_xticks([])
            ax.set_yticks([])
        bar = fig.colorbar(ScalarMappable(Normalize(lo, hi), cmap="turbo"), cax=axes[i][ncol])
        bar.set_label("depth (m)", fontsize=7)
        bar.ax.tick_params(labelsize=6)
        axes[i][0].set_ylabel(str(base[i]["id"])[:18], fontsize=7)
    for j, t in enumerate(["RGB", "ground truth"] + [c[0] for c in cols]):
        axes[0][j].set_title(str(t)[:28], fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    return path


def save_figure(fig, path: Path, dpi: int) -> None:
    """``fig.savefig`` atomically (format from ``path``'s suffix), then close the figure."""
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---"] * 1 + ["--:"] * (len(header) - 2)) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(s: str, tag: str) -> str:
        bold = s.startswith("**") and s.endswith("**")
        s = html.escape(s.strip("*"))
        return f"<{tag}>{'<b>' + s + '</b>' if bold else s}</{tag}>"

    h = "".join(cell(c, "th") for c in header)
    body = "".join("<tr>" + "".join(cell(c, "td") for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def build_report(evaluations: list[Path], logs: list[Path], out: Path, title: str = "rgb2depth results",
                 metric_keys: list[str] | None = None) -> list[Path]:
    """Write ``report.md``, ``report.html`` and the PNGs into ``out``; returns the paths."""
    out = ensure_dir(out, "report folder")
    evals = [load_evaluation(p) for p in evaluations]
    if not evals:
        raise ValueError("no evaluation file given")
    keys = [k.strip() for k in (metric_keys or []) if k.strip()] or list(evals[0]["metrics"])
    md = [f"# {title}", ""]
    hp = [f"<h1>{html.escape(title)}</h1>"]
    written: list[Path] = []
    for (ds, proto, agg, align, rng, pre), group in group_results(evals).items():
        rng_s = f", depth {rng[0]}..{rng[1]} m" if rng else ""
        if pre != "resize":  # the network saw another input (e.g. paper003: half resolution, centre crop)
            rng_s += f", input preprocessing {pre}"
        n = sorted({int(e.get("count", 0)) for e in group})
        head = (f"{ds}: protocol `{proto}`{rng_s}, {agg.replace('_', '-')} mean, alignment {align}, "
                f"{'/'.join(map(str, n))} images")
        header, rows = table_rows(group, [k for k in keys if any(k in e["metrics"] for e in group)])
        md += [f"## {head}", "", _md_table(header, rows), ""]
        hp += [f"<h2>{html.escape(head)}</h2>", _html_table(header, rows)]
        for e in group:
            if e.get("partial"):
                note = (f"{run_label(e)}: partial, {e.get('count')} of {e.get('expected')} samples scored "
                        f"({len(e.get('missing') or [])} without a prediction, {len(e.get('bad') or [])} unreadable)")
                md += [f"> {note}", ""]
                hp += [f"<p><b>{html.escape(note)}</b></p>"]
        q = plot_qualitative(group, out / figure_name((ds, proto, agg, align, rng, pre)))
        if q is not None:
            written.append(q)
            md += [f"![qualitative {ds}]({q.name})", ""]
            hp += [f'<p><img src="{html.escape(q.name)}" style="max-width:100%"></p>']
    if logs:
        loaded = [(log_label(Path(p), name, evals), recs) for p in logs for name, recs in [load_log(p)]]
        c = plot_curves(loaded, out / "curves.png")
        written.append(c)
        md += ["## Training curves", "", f"![training curves]({c.name})", ""]
        hp += ["<h2>Training curves</h2>", f'<p><img src="{c.name}" style="max-width:100%"></p>']
        summary_rows = []
        for name, recs in loaded:
            tr = [r for r in recs if r.get("kind") == "train"]
            va = [r for r in recs if r.get("kind") == "val"]
            last = va[-1] if va else {}
            summary_rows.append([name, str(tr[-1]["step"] if tr else 0),
                                 _fmt(tr[-1]["loss"], "loss") if tr else "-",
                                 _fmt(last.get("rmse"), "rmse"), _fmt(last.get("abs_rel"), "abs_rel"),
                                 _fmt(last.get("delta1"), "delta1")])
        sh = ["run", "steps", "final loss", "val RMSE ↓", "val AbsRel ↓", "val δ<1.25 ↑"]
        md += [_md_table(sh, summary_rows), ""]
        hp += [_html_table(sh, summary_rows)]
    md += ["", "Sources: " + ", ".join(f"`{Path(e['_path']).name}`" for e in evals)]
    style = ("<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}</style>")
    mdp, htp = out / "report.md", out / "report.html"
    write_text(mdp, "\n".join(md) + "\n")
    write_text(htp, f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                   f"{style}</head><body>{''.join(hp)}</body></html>\n")
    return [mdp, htp, *written]
