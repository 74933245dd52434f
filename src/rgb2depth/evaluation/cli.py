"""``rgb2depth evaluate`` and ``rgb2depth report``.

Evaluate a model file / checkpoint / registered model, or a folder of saved predictions
(``.npy``, or the 16-bit PNGs of ``predict --save png16``; depth, inverse depth or disparity),
on a dataset with a named protocol::

    rgb2depth evaluate runs/x/model.pt --dataset nyu_mini --protocol nyu --out eval/x_nyu.json
    rgb2depth evaluate runs/x/model.pt --dataset tum_val --protocol none --max-depth 10
    rgb2depth evaluate --predictions preds/ --dataset nyu_csv --data csv=/path/test.csv
    rgb2depth evaluate --predictions midas_out/ --prediction-kind inverse_depth --dataset nyu_mini
    rgb2depth report eval/*.json --log runs/x/metrics.jsonl --out report/

``--dataset`` takes a loader name of :mod:`rgb2depth.data` (arguments with ``--data k=v``) or
a shortcut for the shared real data: ``nyu_mini`` (the 10 NYU test images), ``tum_val`` (TUM
fr3/cabinet keyframes), ``tum_rpy`` (TUM fr1/rpy). A relative-depth loader (depth known only up
to scale and shift of inverse depth, e.g. ``middlebury_relative``) is scored only with
``--align scale_shift``, fitted in inverse depth; its absolute errors are then not in metres::

    rgb2depth evaluate default -d middlebury_relative --data root=../shared/data/middlebury/2005 \
        --protocol none --align scale_shift
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

ALIGN_CHOICES = ("none", "median", "lstsq", "scale", "scale_shift")


def _print_table(title: str, metrics: dict, extra: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from rgb2depth.evaluation.report import HIGHER_IS_BETTER, LABELS

    t = Table(title=title)
    t.add_column("metric")
    t.add_column("", justify="center")
    t.add_column("value", justify="right")
    for k, v in metrics.items():
        t.add_row(LABELS.get(k, k), "↑" if k in HIGHER_IS_BETTER else "↓", f"{v:.4f}")
    Console().print(t)
    Console().print("  ".join(f"{k}: {v}" for k, v in extra.items()))


def evaluate(
    model: str = typer.Argument(None, help="Model file / training checkpoint, or a registered model name."),
    predictions: Path = typer.Option(None, "--predictions", "-p", help="Folder of saved predictions to score instead of a model: <id>.npy maps, or the 16-bit PNGs of predict --save png16 (<id>_depth.png, millimetres)."),
    prediction_kind: str = typer.Option("depth", "--prediction-kind", help="What --predictions hold: depth (metres) | inverse_depth | disparity (any scale: aligned to 1/depth in inverse space, by --align, default scale_shift, then inverted)."),
    dataset: str = typer.Option("nyu_mini", "--dataset", "-d", help="Loader name or shortcut (nyu_mini, tum_val, tum_rpy)."),
    data: list[str] = typer.Option(None, "--data", help="Loader argument key=value (repeatable), e.g. root=/path."),
    protocol: str = typer.Option("nyu", "--protocol", help="nyu | kitti-eigen | kitti-garg | make3d | none (and -50 variants)."),
    min_depth: float = typer.Option(None, "--min-depth", help="Override the protocol's minimum depth (m)."),
    max_depth: float = typer.Option(None, "--max-depth", help="Override the protocol's maximum depth (m)."),
    align: str = typer.Option("none", "--align", help="none | median | lstsq (scale) | scale_shift."),
    flip: bool = typer.Option(False, "--flip", help="Flip test-time augmentation."),
    aggregation: str = typer.Option("per_image", "--aggregation", help="per_image | pooled."),
    input_size: str = typer.Option(None, "--input-size", help="HxW the model sees (default: the model's)."),
    preprocess: str = typer.Option("resize", "--preprocess",
                                   help="resize (the whole frame to the input size) | paper003 (halve, centre-crop "
                                        "to the input size, e.g. 640x480 -> 320x240 -> 304x228; scored inside the crop)."),
    batch_size: int = typer.Option(4, "--batch-size"),
    limit: int = typer.Option(None, "--limit", help="Only the first N samples."),
    out: Path = typer.Option(None, "--out", "-o", help="JSON file to write (default: print only)."),
    vis: int = typer.Option(4, "--vis", help="Samples kept for the report's qualitative grid (beside the JSON)."),
    name: str = typer.Option(None, "--name", help="Label of this result in reports (default: the model's config name)."),
    threads: int = typer.Option(None, "--threads", help="torch threads."),
    per_image: bool = typer.Option(True, "--per-image/--no-per-image", help="Store per-image values in the JSON."),
) -> None:
    """Score a model or saved predictions with a named protocol; print a table, write JSON."""
    import torch

    from rgb2depth.evaluation.evaluate import (
        PREDICTION_KINDS,
        build_eval_dataset,
        evaluate_dataset,
        evaluate_predictions,
        load_any_model,
        resolve_dataset_spec,
        save_vis,
    )
    from rgb2depth.fileio import OutputError, ensure_dir, write_text
    from rgb2depth.training.config import ConfigError

    if threads:
        torch.set_num_threads(threads)
    if (model is None) == (predictions is None):
        typer.echo("error: give either a MODEL or --predictions DIR", err=True)
        raise typer.Exit(2)
    if align not in ALIGN_CHOICES:
        typer.echo(f"error: --align must be one of {', '.join(ALIGN_CHOICES)}", err=True)
        raise typer.Exit(2)
    if aggregation not in ("per_image", "pooled"):
        typer.echo("error: --aggregation must be per_image or pooled", err=True)
        raise typer.Exit(2)
    if preprocess not in ("resize", "paper003"):
        typer.echo("error: --preprocess must be resize or paper003", err=True)
        raise typer.Exit(2)
    if predictions is not None and preprocess != "resize":
        typer.echo("error: --preprocess applies to a model's input, not to saved --predictions", err=True)
        raise typer.Exit(2)
    if prediction_kind not in PREDICTION_KINDS:
        typer.echo(f"error: --prediction-kind must be one of {', '.join(PREDICTION_KINDS)}", err=True)
        raise typer.Exit(2)
    if prediction_kind != "depth":
        if predictions is None:
            typer.echo("error: --prediction-kind applies to saved --predictions (a model predicts metres)", err=True)
            raise typer.Exit(2)
        if align == "none":  # inverse depth of unknown scale is no depth without a fit
            align = "scale_shift"
    al = None if align == "none" else ("scale" if align == "lstsq" else align)
    size = None
    if input_size:
        try:
            size = tuple(int(v) for v in input_size.lower().split("x"))
            if len(size) != 2 or min(size) < 1:
                raise ValueError
        except ValueError:
            typer.echo(f"error: --input-size {input_size!r}: expected HxW, e.g. 240x320", err=True)
            raise typer.Exit(2) from None
    if out is not None and out.is_dir():
        typer.echo(f"error: --out {out}: is a folder; give the JSON file to write", err=True)
        raise typer.Exit(2)
    try:
        spec = resolve_dataset_spec(dataset, data or [])
        if out is not None:
            ensure_dir(out.parent, "folder of --out")
    except (ConfigError, OutputError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    record: dict = {"dataset": {**spec, "loader": spec.get("name"), "name": dataset}, "protocol": protocol, "aggregation": aggregation,
                    "align": align, "flip": flip}
    if min_depth is not None or max_depth is not None:
        record["depth_range"] = [min_depth, max_depth]
    rc = 0
    try:
        if predictions is not None:
            from rgb2depth.training.data import build_source

            res = evaluate_predictions(predictions, build_source(spec), protocol, min_depth, max_depth, al,
                                       aggregation, limit=limit, keep_images=vis, kind=prediction_kind)
            for e in res["errors"]:
                typer.echo(f"error: {e}", err=True)
            rc = 1 if res["errors"] else 0
            record.update(source="predictions", predictions=str(predictions), name=name or predictions.name,
                          prediction_kind=prediction_kind, align=align,
                          formats=res["formats"], expected=res["expected"], partial=bool(res["errors"]),
                          missing=res["missing"], bad=res["bad"])
        else:
            net, info = load_any_model(model)
            size = size or tuple(net.meta.input_size)
            ds = build_eval_dataset(spec)
            res = evaluate_dataset(net, ds, protocol, min_depth, max_depth, al, aggregation, flip=flip,
                                   batch_size=batch_size, input_size=size, keep_images=vis, limit=limit,
                                   progress=True, preprocess=preprocess)
            label = name or info.get("config") or Path(model).stem
            record.update(source="model", model_file=info.get("file"), model=net.rgb2depth_name,
                          model_options=getattr(net, "rgb2depth_options", {}), name=label,
                          params=sum(p.numel() for p in net.parameters()), input_size=list(size),
                          preprocess=preprocess,
                          loss=info.get("loss"), output=net.meta.output, paper=net.meta.paper,
                          trained_steps=info.get("steps"))
    except (FileNotFoundError, ValueError, KeyError, TypeError, OSError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        typer.echo(f"error: {msg}", err=True)
        raise typer.Exit(1) from None
    result = res["result"]
    record.update(align_space=result.get("align_space", "depth"), metrics=res["metrics"], count=int(result["count"]), skipped=int(result["skipped"]),
                  pixels=int(result["pixels"]), time_s=round(res["time_s"], 3))
    if per_image:
        record["per_image"] = res["per_image"]
    _print_table(f"{record.get('name')} on {dataset} (protocol {protocol})", res["metrics"],
                 {"images": record["count"], "skipped": record["skipped"], "aggregation": aggregation,
                  "align": align, "flip": flip, **({"preprocess": preprocess} if model is not None else {}),
                  **({"missing": len(res["missing"]), "bad": len(res["bad"])} if predictions is not None else {})})
    if out is not None:
        try:
            if res.get("images"):
                vis_path = out.with_suffix(".vis.npz")
                save_vis(res["images"], vis_path)
                record["vis"] = vis_path.name
            write_text(out, json.dumps(record, indent=2, default=float))
        except OutputError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"wrote {out}")
    if rc:
        raise typer.Exit(rc)


def report(
    evaluations: list[Path] = typer.Argument(..., help="Evaluation JSON files (rgb2depth evaluate --out)."),
    log: list[Path] = typer.Option(None, "--log", help="Training metrics.jsonl files (or run folders) for curves."),
    out: Path = typer.Option(Path("report"), "--out", "-o", help="Output folder (report.md, report.html, PNGs)."),
    title: str = typer.Option("rgb2depth results", "--title"),
    metrics: str = typer.Option("delta1,delta2,delta3,abs_rel,sq_rel,rmse,rmse_log,log10,mse,ssim", "--metrics",
                                help="Comma-separated metric columns."),
) -> None:
    """Markdown + HTML report: results table, training curves, qualitative grids (PNG)."""
    from rgb2depth.evaluation.report import build_report

    try:
        paths = build_report(evaluations, log or [], out, title=title, metric_keys=metrics.split(","))
    except (OSError, ValueError) as e:  # unreadable inputs, or an output that cannot be written
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    for p in paths:
        typer.echo(f"wrote {p}")
