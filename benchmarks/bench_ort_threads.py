"""ONNX Runtime alone: a float32 and an int8 ONNX file at 1 and 2 intra-op threads, with thread
spinning on and off, timed round-robin in one run (no PyTorch in the loop, whose spinning
OpenMP workers would slow the next call), then the int8 file's per-operator profile at 1 and 2
threads. Not a test: run by hand, paste the output into docs/results/int8.md.

    RGB2DEPTH_CACHE=/tmp/int8/benchcache .venv/bin/python benchmarks/bench_models.py \\
        --models none --no-ratio --precision fcrn --iters 3       # makes both files once
    .venv/bin/python benchmarks/bench_ort_threads.py FLOAT.onnx INT8.onnx --iters 15

The two files are the cached exports ``<cache>/onnx/fcrn-<digest>-228x304.onnx`` and
``...-228x304.int8.onnx`` (any two files with one float32 image input work).
"""

from __future__ import annotations

import argparse
import collections
import json
import time
from pathlib import Path

import numpy as np


def session(path: str, threads: int, spin: bool = True, profile: bool = False):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    if not spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.enable_profiling = profile
    if profile:  # the profile goes to the temporary folder (read back and deleted in main)
        import tempfile

        so.profile_file_prefix = str(Path(tempfile.gettempdir()) / "rgb2depth_ort_profile")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("float32", help="float32 ONNX file")
    ap.add_argument("int8", help="int8 ONNX file of the same network")
    ap.add_argument("--iters", type=int, default=15)
    args = ap.parse_args()
    ways = {}
    for label, path in (("float32", args.float32), ("int8", args.int8)):
        for t in (1, 2):
            for spin in (True, False):
                ways[f"{label} {t} thread{'s' if t > 1 else ''}{'' if spin else ', no spinning'}"] = session(path, t, spin)
    first = next(iter(ways.values())).get_inputs()[0]
    x = np.random.default_rng(0).random([1 if isinstance(d, str) else d for d in first.shape], dtype=np.float32)
    feeds = {k: {s.get_inputs()[0].name: x} for k, s in ways.items()}
    for k, s in ways.items():
        for _ in range(2):
            s.run(None, feeds[k])
    wall, cpu = collections.defaultdict(list), collections.defaultdict(list)
    for _ in range(args.iters):
        for k, s in ways.items():
            c0, t0 = time.process_time(), time.perf_counter()
            s.run(None, feeds[k])
            wall[k].append((time.perf_counter() - t0) * 1e3)
            cpu[k].append((time.process_time() - c0) * 1e3)
    print(f"input {list(x.shape)}, {args.iters} rounds")
    print("| way | wall median ms | wall min ms | CPU median ms |\n| --- | --- | --- | --- |")
    for k in ways:
        print(f"| {k} | {np.median(wall[k]):.1f} | {min(wall[k]):.1f} | {np.median(cpu[k]):.1f} |")
    for t in (1, 2):
        s = session(args.int8, t, profile=True)
        for _ in range(8):
            s.run(None, {s.get_inputs()[0].name: x})
        per_op: collections.Counter = collections.Counter()
        trace = Path(s.end_profiling())
        events = json.loads(trace.read_text())
        trace.unlink()
        for e in events:
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                per_op[e["args"].get("op_name")] += e["dur"]
        print(f"int8 profile, {t} thread(s), ms per run: "
              + ", ".join(f"{op} {d / 8 / 1e3:.1f}" for op, d in per_op.most_common(8)))


if __name__ == "__main__":
    main()
