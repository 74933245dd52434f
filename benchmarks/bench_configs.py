"""Training steps and time per step of the shipped configs (not a test).

For each ``configs/*.yaml``: the number of optimiser steps the config runs (every stage's
epochs x ``samples // batch``, capped by ``max_steps``; the sample count from the loaders where
the data is on this machine, else the documented size of the set, see ``ABSENT``), and the time
of a training step: the config's network, loss and optimiser (and each stage's frozen parts)
on random images at its input size, ``--warmup`` untimed steps then ``--steps`` timed ones
(median and min). Data loading and validation are not included.

Time is read twice: wall clock and the process's CPU time. On a shared machine the second is
the robust one: with ``--threads 1`` it is what one otherwise idle core would take. By default
a step is timed at the config's batch. ``--batch N`` instead times the forward/backward pass at
N and 2N images and extrapolates linearly to the config's batch (cheaper, but rough: the
leverage of 2 points over 8-40x multiplies their noise): part of it does not grow with the
batch (FCRN's fast up-projection re-arranges its 5x5 filters into the fused bank every training
step, about 2 CPU-seconds for ResNet-50 UpProj at any input size), and the optimiser update, one
pass over the weights whatever the batch (it dominates the 100M-parameter fully-connected
heads), is timed apart and added once per step.
Configs that build the same network at the same size with the same optimiser and batch are
timed once. Pretrained backbone options are ignored (same cost, no download). ``--compile``
runs the network through ``torch.compile`` (inductor; needs a C++ compiler) and reports the
first warm-up step's wall time, which holds the compilation; ``--channels-last`` uses the
memory format the config's ``model.channels_last`` asks the trainer for.

Usage::

    .venv/bin/python benchmarks/bench_configs.py                               # every config
    .venv/bin/python benchmarks/bench_configs.py --configs 'configs/*small*.yaml' --steps 3
    .venv/bin/python benchmarks/bench_configs.py --steps-only                  # no timing
    .venv/bin/python benchmarks/bench_configs.py --configs configs/default_v3_photo_long.yaml --threads 2 --steps 12 --warmup 3 --compile
"""

from __future__ import annotations

import argparse
import glob
import json
import statistics
import time
from pathlib import Path

import torch

from rgb2depth.training.builders import apply_freeze, build_loss, build_model, build_optimizer
from rgb2depth.training.config import load_config
from rgb2depth.training.data import build_source
from rgb2depth.training.trainer import target_like

ROOT = Path(__file__).resolve().parent.parent
# Training-set sizes of data that is not in ../shared/data: (text in the item, count).
ABSENT = [
    ("nyu2_train.csv", 50688),  # DenseDepth nyu_data.zip (paper 000 Sec. 4.1)
    ("nyu_depth_v2_labeled.mat", 795),  # the official labeled-set training split
    ("kitti/stereo_targets/train", 12482),  # paper 002 Sec. 4.1
    ("make3d/train", 400),  # paper 003 Sec. 4.3
    ("synth_a\"", 1570),  # pre-rendered rooms of default_v3_base.yaml (its header)
]


def item_samples(item: dict) -> tuple[int, bool]:
    """(samples, measured) of one ``data.train`` item."""
    try:
        return len(build_source(item)), True
    except (OSError, ValueError, KeyError):
        pass
    text = json.dumps(item)
    n = next((v for k, v in ABSENT if k in text), None)
    if n is None:
        raise ValueError(f"no size known for data item {text}")
    sel = item.get("select") or {}
    idx = list(range(n))[sel.get("start", 0):sel.get("stop"):sel.get("stride", 1)]
    if sel.get("limit") is not None:
        idx = idx[: int(sel["limit"])]
    return len(idx) * int(sel.get("repeat", 1)), False


def stages_of(cfg: dict) -> list[dict]:
    """The stages as the trainer fills them in (epochs, batch, freeze, max_steps)."""
    tr = cfg["train"]
    out = []
    for st in tr.get("stages") or [{"name": "main"}]:
        out.append({"name": st.get("name", "main"), "epochs": int(st.get("epochs") or tr["epochs"]),
                    "batch": int(st.get("batch_size") or tr["batch_size"]), "max_steps": st.get("max_steps"),
                    "freeze": st.get("freeze", list(cfg["model"].get("freeze") or [])),
                    "train_parts": st.get("train_parts"), "optim": {**cfg["optim"], **(st.get("optim") or {})},
                    "loss": {**cfg["loss"], **(st.get("loss") or {})}})
    return out


def planned_steps(cfg: dict) -> tuple[int, list[int], int, bool]:
    """(total steps, steps per stage, training samples, whether every count was measured here)."""
    counts = [item_samples(i) for i in cfg["data"]["train"]]
    n = sum(c for c, _ in counts)
    per = []
    left = int(cfg["train"]["max_steps"]) if cfg["train"].get("max_steps") else None
    for st in stages_of(cfg):
        s = st["epochs"] * (n // st["batch"])
        s = min(s, int(st["max_steps"])) if st["max_steps"] else s
        if left is not None:  # train.max_steps ends the run, whichever stage it is in
            s = min(s, left)
            left -= s
        per.append(s)
    return sum(per), per, n, all(m for _, m in counts)


def time_stage(cfg: dict, st: dict, batch: int, warmup: int, steps: int, compile_model: bool = False,
               channels_last: bool = False) -> dict:
    """Wall and CPU seconds of the forward/backward pass and of the optimiser update of stage
    ``st`` at ``batch`` random images."""
    mcfg = dict(cfg["model"], options={k: v for k, v in (cfg["model"]["options"] or {}).items() if k != "pretrained"})
    model = build_model(mcfg, load_pretrained=False)
    if st["name"] in tuple(getattr(model, "stages", ()) or ()):
        model.set_stage(st["name"])
    frozen = apply_freeze(model, st["freeze"], st["train_parts"])
    model.train()
    for m in frozen:
        m.eval()
    loss_fn = build_loss(st["loss"])
    opt = build_optimizer(st["optim"], [p for p in model.parameters() if p.requires_grad])
    h, w = cfg["data"]["input_size"] or model.meta.input_size
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, model.meta.in_channels, h, w, generator=g)
    if channels_last and cfg["model"].get("channels_last"):
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    net = torch.compile(model) if compile_model else model
    depth = 1 + 4 * torch.rand(batch, 1, h, w, generator=g)
    valid = torch.ones_like(depth, dtype=torch.bool)

    def forward_backward() -> None:
        pred = net(x)
        target, tvalid = target_like(pred, depth, valid, model.meta)
        rgb = torch.nn.functional.interpolate(x, size=pred.shape[-2:], mode="bilinear", align_corners=False)
        loss = loss_fn(pred, target, tvalid, rgb=rgb)
        opt.zero_grad(set_to_none=True)
        loss.backward()

    first = None
    for _ in range(warmup):
        t = time.perf_counter()
        forward_backward()
        opt.step()
        first = time.perf_counter() - t if first is None else first
    fb_wall, fb_cpu, op_wall, op_cpu = [], [], [], []
    for _ in range(steps):
        t, c = time.perf_counter(), time.process_time()
        forward_backward()
        t2, c2 = time.perf_counter(), time.process_time()
        opt.step()
        fb_wall.append(t2 - t)
        fb_cpu.append(c2 - c)
        op_wall.append(time.perf_counter() - t2)
        op_cpu.append(time.process_time() - c2)
    med = statistics.median
    return {"fb_wall": med(fb_wall), "fb_wall_min": min(fb_wall), "fb_cpu": med(fb_cpu), "fb_cpu_min": min(fb_cpu),
            "opt_wall": med(op_wall), "opt_cpu": med(op_cpu), "batch": batch, "first_step_wall": first}


def step_cpu(runs: list[dict], batch: int) -> float:
    """CPU seconds of a step at ``batch`` images: the forward/backward pass on the line through
    the timed batch sizes (or as timed, for one), plus the optimiser update (one per step)."""
    a = runs[0]
    if len(runs) == 1 or batch == a["batch"]:
        fb = a["fb_cpu"] * batch / a["batch"]
    else:
        b = runs[1]
        per_image = max(b["fb_cpu"] - a["fb_cpu"], 0.0) / (b["batch"] - a["batch"])
        fb = a["fb_cpu"] + per_image * (batch - a["batch"])
    return fb + a["opt_cpu"]


def key_of(cfg: dict, st: dict, batch: int) -> str:
    opts = {k: v for k, v in (cfg["model"]["options"] or {}).items() if k != "pretrained"}
    return json.dumps([cfg["model"]["name"], opts, cfg["data"]["input_size"], st["name"], st["freeze"],
                       st["optim"]["name"], st["loss"], batch], sort_keys=True, default=str)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default=str(ROOT / "configs" / "*.yaml"))
    ap.add_argument("--batch", default="config", help="'config' (the config's batch) or N: time N and 2N images, extrapolate")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps-only", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="JSON lines file to append results to")
    ap.add_argument("--compile", action="store_true", help="run the network through torch.compile")
    ap.add_argument("--channels-last", action="store_true", help="channels-last where the config asks for it")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seen: dict[str, dict] = {}
    for f in sorted(glob.glob(args.configs)):
        cfg = load_config(f)
        total, per, n, measured = planned_steps(cfg)
        row = {"config": Path(f).name, "steps": total, "stage_steps": per, "samples": n,
               "samples_measured": measured}
        if not args.steps_only:
            est = 0.0
            row["stages"] = []
            for st, s in zip(stages_of(cfg), per, strict=True):
                sizes = [st["batch"]] if args.batch == "config" else sorted(
                    {min(int(args.batch), st["batch"]), min(2 * int(args.batch), st["batch"])})
                k = key_of(cfg, st, sizes)
                if k not in seen:
                    seen[k] = {"timed_as": row["config"],
                               "runs": [time_stage(cfg, st, b, args.warmup, args.steps, args.compile,
                                                   args.channels_last) for b in sizes]}
                r = seen[k]
                row["stages"].append({**r, "step_cpu": step_cpu(r["runs"], st["batch"])})
                est += step_cpu(r["runs"], st["batch"]) * s
            row["cpu_hours_1core"] = est / 3600
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
