"""Measured table for 3D reconstruction from predicted depth (paper 003, Section 4.4; issue 9).

For each sequence (TUM fr1/rpy and 7-Scenes redkitchen_seq from ../shared/data) it runs the
``rgb2depth reconstruct`` pipeline (:func:`rgb2depth.geometry.reconstruct.reconstruct_frames`)
four times at the same working resolution, frame stride and voxel size:

=============================  ===================================================
run                            used for
=============================  ===================================================
GT depth  + odometry           ATE of RGB-D odometry on sensor depth (reference)
predicted + odometry           ATE of RGB-D odometry on the network's depth
GT depth  + GT poses           the reference mesh
predicted + GT poses           the mesh compared with the reference
=============================  ===================================================

- **Trajectory**: ATE RMSE per TUM's definition (``evaluate_ate.py``): associate estimated and
  ground-truth stamps (nearest, < 0.02 s; 7-Scenes: the same frame ids), align with the
  least-squares rigid motion (Horn/Umeyama), RMSE of the translation residuals. The Sim(3)
  column also fits a scale (for depth with a global scale bias). For TUM the ground truth is
  the sequence's ``groundtruth.txt``; for 7-Scenes the per-frame ``.pose.txt`` files. The
  "GT poses" row runs the same evaluation on the ground-truth poses the pipeline used (for
  TUM these are interpolated at the image stamps, so its ATE is the evaluation's floor).
  RPE: translational RMSE and mean rotation error between consecutive used frames.
- **Geometry** (both with ground-truth poses): Chamfer-L1 distance, accuracy (predicted ->
  reference), completeness (reference -> predicted), precision / recall / F-score at 5 cm
  (:mod:`rgb2depth.geometry.surface_metrics`), on 500,000 points sampled uniformly on each
  mesh.

Predictions are cached on disk per frame during one sequence (the odometry run and the
GT-pose run use the same depth maps) and the cache is deleted afterwards.

Defaults (sized for 2 shared cores): 320x240, voxel 1 cm, depth <= 4 m, TUM every 2nd frame,
7-Scenes every frame of the sample (itself every 4th frame), first 40 frames of each.
Run (about 15-30 minutes of CPU)::

    .venv/bin/python benchmarks/bench_reconstruction.py --model default
    .venv/bin/python benchmarks/bench_reconstruction.py --skip-predicted   # reference rows only
    .venv/bin/python benchmarks/bench_reconstruction.py --model default --reuse-reference
    # or one process per sequence, then combine:
    .venv/bin/python benchmarks/bench_reconstruction.py --sequences tum_fr1_rpy --out outputs/rec_tum
    .venv/bin/python benchmarks/bench_reconstruction.py --sequences 7scenes_redkitchen --out outputs/rec_7s
    .venv/bin/python benchmarks/bench_reconstruction.py --merge outputs/rec_tum outputs/rec_7s --out outputs/reconstruction

Writes ``outputs/reconstruction/`` (one folder per run with mesh, cloud, trajectory, preview,
summary; ``<sequence>_compare.png`` side-by-side previews; ``table.md``; ``results.json``).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # open3d on a shared machine: no oversubscription

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from rgb2depth.geometry.reconstruct import (  # noqa: E402
    default_view,
    ground_truth_depth,
    open_sequence,
    predictor_depth,
    reconstruct_frames,
    render_points,
    save_png,
)
from rgb2depth.geometry.surface_metrics import compare_surfaces  # noqa: E402
from rgb2depth.geometry.trajectory import ate, read_tum, rpe  # noqa: E402
from rgb2depth.paths import shared_data_dir  # noqa: E402

SEQUENCES = {
    "tum_fr1_rpy": ("tum/rgbd_dataset_freiburg1_rpy", "groundtruth.txt"),
    "7scenes_redkitchen": ("7scenes/redkitchen_seq", None),
}


class CachedDepth:
    """Wrap a depth function with a per-frame .npy cache (keyed by sample id) in ``folder``."""

    def __init__(self, fn, folder: Path) -> None:
        self.fn, self.folder = fn, folder
        shutil.rmtree(folder, ignore_errors=True)  # never reuse another model's predictions
        folder.mkdir(parents=True, exist_ok=True)
        self.seconds = 0.0
        self.computed = 0

    def __call__(self, sample: dict) -> np.ndarray:
        p = self.folder / f"{sample['id']}.npy"
        if p.is_file():
            return np.load(p)
        t = time.perf_counter()
        d = np.asarray(self.fn(sample), dtype=np.float32)
        self.seconds += time.perf_counter() - t
        self.computed += 1
        np.save(p, d)
        return d


def run(seq_path: Path, out: Path, depth_fn, poses: str, args, reusable: bool = False) -> dict:
    stride = args.stride[kind_of(seq_path)]
    settings = {"sequence": str(seq_path), "stride": stride, "max_frames": args.max_frames}
    if reusable and args.reuse_reference and (out / "summary.json").is_file():
        old = json.loads((out / "summary.json").read_text())
        want = {"poses": poses, "voxel": args.voxel, "width": args.width, "depth_max": args.depth_max, **settings}
        if all(old["settings"].get(k) == v for k, v in want.items()):
            print(f"reusing {out} (same settings)", flush=True)
            return {"dir": out, "frames": old["frames"], "failures": old["odometry_failures"]}
    frames, total, kind = open_sequence(seq_path, stride=stride, max_frames=args.max_frames)
    # Odometry runs are scored by their trajectory: write their cloud and preview, skip the mesh.
    res = reconstruct_frames(frames, depth_fn, out, poses=poses, voxel=args.voxel, width=args.width,
                             depth_max=args.depth_max, total=total, progress=not args.quiet,
                             write_mesh=poses == "ground-truth",
                             settings={**settings, "kind": kind})
    return {"dir": out, "frames": res.frames, "failures": res.odometry_failures}


def kind_of(p: Path) -> str:
    return "tum" if "tum" in str(p) else "7scenes"


def trajectory_metrics(run_dir: Path, gt_file: Path | None) -> dict:
    est = read_tum(run_dir / "trajectory.txt")
    gt = read_tum(gt_file) if gt_file is not None else read_tum(run_dir / "groundtruth.txt")
    r = ate(gt, est)
    rs = ate(gt, est, with_scale=True)
    rp = rpe(gt, est, delta=1)
    return {"ate_rmse": r.rmse, "ate_sim3_rmse": rs.rmse, "sim3_scale": rs.scale, "pairs": r.pairs,
            "rpe_trans_rmse": rp["trans_rmse"], "rpe_rot_mean_deg": rp["rot_mean_deg"]}


def static_baseline(run_dir: Path, gt_file: Path | None) -> dict:
    """ATE of a camera that never moves (every frame at the first pose): the RMS spread of the
    ground-truth positions. fr1/rpy barely translates, so this bounds what ATE can show."""
    est = read_tum(run_dir / "trajectory.txt")
    gt = read_tum(gt_file) if gt_file is not None else read_tum(run_dir / "groundtruth.txt")
    est.poses[:] = est.poses[0]
    r = ate(gt, est)
    return {"ate_rmse": r.rmse, "pairs": r.pairs}


def compare_png(gt_dir: Path, pred_dir: Path, path: Path, labels=("ground-truth depth", "predicted depth")) -> None:
    import cv2
    import open3d as o3d

    clouds = [o3d.io.read_point_cloud(str(d / "cloud.ply")) for d in (gt_dir, pred_dir)]
    poses = read_tum(gt_dir / "trajectory.txt").poses
    view = default_view(np.asarray(clouds[0].points), poses)
    imgs = []
    for c, lab in zip(clouds, labels, strict=True):
        img = render_points(np.asarray(c.points), np.asarray(c.colors) if c.has_colors() else None, view,
                            normals=np.asarray(c.normals) if c.has_normals() else None)
        cv2.putText(img, lab, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2, cv2.LINE_AA)
        imgs.append(img)
    save_png(path, np.hstack(imgs))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="default", help="predictor: 'default', a model file or checkpoint")
    ap.add_argument("--out", type=Path, default=Path("outputs/reconstruction"))
    ap.add_argument("--sequences", default=",".join(SEQUENCES))
    ap.add_argument("--tum-stride", type=int, default=2)
    ap.add_argument("--7s-stride", dest="s7_stride", type=int, default=1)
    ap.add_argument("--max-frames", type=int, default=40,
                    help="frames per sequence after the stride (0 = all; default sized for 2 shared cores)")
    ap.add_argument("--voxel", type=float, default=0.01)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--depth-max", type=float, default=4.0)
    ap.add_argument("--samples", type=int, default=500_000, help="points sampled per mesh for Chamfer")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the predictor")
    ap.add_argument("--skip-predicted", action="store_true", help="reference (GT depth) rows only")
    ap.add_argument("--reuse-reference", action="store_true",
                    help="keep existing ground-truth-depth runs made with the same settings")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--merge", type=Path, nargs="+", default=None,
                    help="only combine the results.json of earlier runs (one per sequence) into --out")
    args = ap.parse_args(argv)
    if args.merge:
        merged: dict = {}
        for d in args.merge:
            r = json.loads((d / "results.json").read_text())
            if merged and r["model"] != merged["model"]:
                print(f"error: {d}: made with model {r['model']}, not {merged['model']}", file=sys.stderr)
                return 1
            merged.setdefault("settings", r["settings"])
            merged.setdefault("model", r["model"])
            merged.setdefault("sequences", {}).update(r["sequences"])
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(merged, indent=1) + "\n")
        table = render_table(merged)
        (args.out / "table.md").write_text(table)
        print(table)
        return 0
    args.stride = {"tum": args.tum_stride, "7scenes": args.s7_stride}
    args.max_frames = args.max_frames or None

    data = shared_data_dir()
    if data is None:
        print("error: ../shared/data is absent (set RGB2DEPTH_DATA)", file=sys.stderr)
        return 1
    pred_fn, model_desc = None, None
    if not args.skip_predicted:
        from rgb2depth.inference.api import load

        predictor = load(args.model, threads=args.threads)
        pred_fn = predictor_depth(predictor)
        model_desc = repr(predictor)
    results = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "model": model_desc, "sequences": {}}
    for name in args.sequences.split(","):
        rel, gt_name = SEQUENCES[name]
        seq = data / rel
        gt_file = seq / gt_name if gt_name else None
        out = args.out / name
        r: dict = {"trajectory": {}, "geometry": None, "timings": {}}
        t0 = time.perf_counter()
        a = run(seq, out / "gtdepth_odometry", ground_truth_depth, "odometry", args, reusable=True)
        r["trajectory"]["odometry, GT depth"] = trajectory_metrics(a["dir"], gt_file)
        r["trajectory"]["odometry, GT depth"]["failures"] = a["failures"]
        b = run(seq, out / "gtdepth_gtposes", ground_truth_depth, "ground-truth", args, reusable=True)
        r["trajectory"]["GT poses"] = trajectory_metrics(b["dir"], gt_file)
        r["trajectory"]["no motion (baseline)"] = static_baseline(b["dir"], gt_file)
        r["timings"]["reference_s"] = time.perf_counter() - t0
        r["frames"] = a["frames"]
        if pred_fn is not None:
            cache = CachedDepth(pred_fn, out / "_pred_cache")
            t1 = time.perf_counter()
            c = run(seq, out / "pred_odometry", cache, "odometry", args)
            r["trajectory"]["odometry, predicted depth"] = trajectory_metrics(c["dir"], gt_file)
            r["trajectory"]["odometry, predicted depth"]["failures"] = c["failures"]
            d = run(seq, out / "pred_gtposes", cache, "ground-truth", args)
            r["timings"]["predicted_s"] = time.perf_counter() - t1
            r["timings"]["prediction_per_frame_s"] = cache.seconds / max(cache.computed, 1)
            shutil.rmtree(out / "_pred_cache", ignore_errors=True)
            m = compare_surfaces(d["dir"] / "mesh.ply", b["dir"] / "mesh.ply", threshold=0.05,
                                 n_samples=args.samples)
            r["geometry"] = m.as_dict()
            compare_png(b["dir"], d["dir"], args.out / f"{name}_compare.png")
            compare_png(a["dir"], c["dir"], args.out / f"{name}_odometry_compare.png",
                        labels=("GT depth + odometry", "predicted depth + odometry"))
        results["sequences"][name] = r
        print(json.dumps({name: r}, indent=1, default=float), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=float) + "\n")
    table = render_table(results)
    (args.out / "table.md").write_text(table)
    print(table)
    return 0


def render_table(results: dict) -> str:
    s = results["settings"]
    lines = [
        f"Model: {results['model'] or 'none (reference rows only; predicted rows pending)'}",
        f"Settings: width {s['width']} px, voxel {s['voxel']} m, depth <= {s['depth_max']} m, "
        f"TUM stride {s['tum_stride']}, 7-Scenes stride {s['s7_stride']} (on top of the sample's every 4th frame), "
        f"max frames {s['max_frames'] or 'all'}",
        "",
        "| sequence | frames | trajectory | ATE RMSE (cm) | ATE Sim(3) (cm) | scale | RPE trans (cm/frame) | RPE rot (deg/frame) | odometry failures |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results["sequences"].items():
        for label in ("no motion (baseline)", "GT poses", "odometry, GT depth", "odometry, predicted depth"):
            t = r["trajectory"].get(label)
            if t is None:
                lines.append(f"| {name} | {r['frames']} | {label} | pending | pending | | | | |")
                continue
            if "sim3_scale" not in t:
                lines.append(f"| {name} | {r['frames']} | {label} | {t['ate_rmse'] * 100:.2f} | | | | | |")
                continue
            lines.append(
                f"| {name} | {r['frames']} | {label} | {t['ate_rmse'] * 100:.2f} | {t['ate_sim3_rmse'] * 100:.2f} | "
                f"{t['sim3_scale']:.3f} | {t['rpe_trans_rmse'] * 100:.2f} | {t['rpe_rot_mean_deg']:.2f} | "
                f"{t.get('failures', '')} |"
            )
    lines += ["", "Geometry, ground-truth poses: mesh from predicted depth vs mesh from ground-truth depth",
              "", "| sequence | Chamfer-L1 (cm) | accuracy (cm) | completeness (cm) | precision @5cm | recall @5cm | F @5cm |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in results["sequences"].items():
        g = r["geometry"]
        if g is None:
            lines.append(f"| {name} | pending | pending | pending | pending | pending | pending |")
            continue
        lines.append(f"| {name} | {g['chamfer'] * 100:.2f} | {g['accuracy'] * 100:.2f} | {g['completeness'] * 100:.2f} | "
                     f"{g['precision']:.3f} | {g['recall']:.3f} | {g['fscore']:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
