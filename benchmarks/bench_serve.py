"""``rgb2depth serve`` under load. Not a test: run by hand, report the numbers.

    .venv/bin/python benchmarks/bench_serve.py                    # defaults below
    .venv/bin/python benchmarks/bench_serve.py --sequential 50 --parallel 4x10

1. Start-up: the real command (``python -m rgb2depth serve``) in a subprocess, from launch to
   the first answer of ``GET /api/health``: wall time and the server's CPU time (user + system
   from /proc, which stays meaningful when the machine is shared).
2. Latency of ``POST /api/predict`` for one 640x480 photo (the NYU test image when the shared
   data is present, else the demo room): ``format=npy`` ``--sequential`` times and
   ``format=json`` (what the page asks for) 20 times, after 3 warm-up requests; median and min,
   and the server's CPU time per npy request (robust to other load on the machine).
3. Concurrency: ``--parallel`` C x N: C clients in threads, each posting its own image (the
   photo flipped four ways) N times; every answer is compared with the sequential answer for
   that image. Then batched against one at a time: a second server with ``--max-batch 1``
   runs beside the first (``--max-batch 4``: requests waiting together share a forward pass),
   and ``--rounds`` rounds of C x 10 requests alternate between the two; wall time per request
   (round wall time / requests, i.e. 1 / throughput), median and min over the rounds, and the
   ratio of the medians.
4. Memory: the server's resident set (VmRSS) after warm-up and after each phase; a second
   sequential round after the parallel one shows whether it still grows.
5. Bad uploads (text, truncated JPEG, 0 bytes, 8x8, a bomb header, a 50 MB body): status and
   message of each, then ``/api/health``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stats_ms(times: list[float]) -> str:
    a = np.asarray(times) * 1e3
    return f"median {np.median(a):.1f} ms, min {a.min():.1f} ms (n={len(a)})"


@contextlib.contextmanager
def server(model: str, threads: int, max_batch: int):
    """``rgb2depth serve`` in a subprocess on a free port; yields (url, pid)."""
    import httpx2 as httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "rgb2depth", "serve", "--model", model, "--port", str(port),
                             "--threads", str(threads), "--max-batch", str(max_batch), "--log-level", "warning"])
    try:
        deadline = time.monotonic() + 900
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit("the server did not start")
            try:
                if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        print(f"start-up (--max-batch {max_batch}): {time.perf_counter() - t0:.2f} s wall, "
              f"{proc_cpu_s(proc.pid):.2f} s CPU of the server")
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


def same(body: bytes, expected: np.ndarray) -> bool:
    # a batched forward pass may differ from a single one in the last float bits
    return bool(np.allclose(np.load(io.BytesIO(body)), expected, rtol=0, atol=1e-5))


def parallel(url: str, bodies: list[bytes], expected: list[np.ndarray], n_clients: int, n_each: int) -> tuple[str, float]:
    """C clients x N requests; -> (summary line, requests per second)."""
    import httpx2 as httpx

    failures: list[str] = []
    lat: list[float] = []

    def client(k: int) -> None:
        with httpx.Client(base_url=url, timeout=300) as c:
            for _ in range(n_each):
                t = time.perf_counter()
                r = c.post("/api/predict", files={"file": (f"v{k}.png", bodies[k % 4])})
                lat.append(time.perf_counter() - t)
                if r.status_code != 200 or not same(r.content, expected[k % 4]):
                    failures.append(f"client {k}: HTTP {r.status_code}")

    t = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(n_clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    for f in failures[:5]:
        print("  FAILED", f)
    return (f"{n_clients} parallel clients x {n_each}: {len(lat) - len(failures)}/{len(lat)} correct, "
            f"{len(lat) / wall:.1f} requests/s, per request {stats_ms(lat)}"), len(lat) / wall


def main() -> None:
    import httpx2 as httpx
    from PIL import Image

    from test_serve import bad_uploads, png_bytes, real_image

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--sequential", type=int, default=200)
    ap.add_argument("--parallel", default="4x50", help="CLIENTSxREQUESTS")
    ap.add_argument("--threads", type=int, default=0, help="the server's --threads")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds, batched vs one at a time")
    args = ap.parse_args()
    n_clients, n_each = (int(x) for x in args.parallel.lower().split("x"))

    path = real_image()
    base = np.asarray(Image.open(path).convert("RGB"))
    bodies = [png_bytes(np.ascontiguousarray(v)) for v in (base, base[:, ::-1], base[::-1], base[::-1, ::-1])]
    print(f"image: {path} ({base.shape[1]}x{base.shape[0]})")

    with server(args.model, args.threads, 4) as (url, pid), httpx.Client(base_url=url, timeout=300) as c:
        def predict(body: bytes, fmt: str = "npy"):
            r = c.post("/api/predict", params={"format": fmt, "colorbar": "true"}, files={"file": ("photo.png", body)})
            r.raise_for_status()
            return r

        for _ in range(3):
            predict(bodies[0])
        rss0 = proc_rss_mb(pid)
        expected = [np.load(io.BytesIO(predict(b).content)) for b in bodies]

        def sequential(label: str) -> None:
            times = []
            cpu0 = proc_cpu_s(pid)
            for i in range(args.sequential):
                t = time.perf_counter()
                r = predict(bodies[i % 4])
                times.append(time.perf_counter() - t)
                assert same(r.content, expected[i % 4])
            cpu = (proc_cpu_s(pid) - cpu0) / max(args.sequential, 1) * 1e3
            print(f"POST /api/predict npy, {args.sequential} sequential ({label}), all correct: "
                  f"{stats_ms(times)}; server CPU {cpu:.1f} ms per request; RSS {proc_rss_mb(pid):.0f} MB")

        sequential("first round")
        times = []
        for _ in range(20):
            t = time.perf_counter()
            predict(bodies[0], "json")
            times.append(time.perf_counter() - t)
        print(f"POST /api/predict json (the page's request): {stats_ms(times)}")
        print(parallel(url, bodies, expected, n_clients, n_each)[0] + f"; RSS {proc_rss_mb(pid):.0f} MB")
        sequential("second round")
        print(f"server RSS: {rss0:.0f} MB after warm-up, {proc_rss_mb(pid):.0f} MB after "
              f"{2 * args.sequential + 20 + n_clients * n_each} more requests")

        print("bad uploads:")
        cases = [(n, b) for n, b, _ in bad_uploads(bodies[0])] + [("huge.jpg", b"\xff" * (50 * 2**20))]
        for name, body in cases:
            r = c.post("/api/predict", files={"file": (name, body)})
            print(f"  {name:10s} {len(body):>10,} B -> {r.status_code} {r.json()['error']}")
        print(f"  then GET /api/health -> {c.get('/api/health').status_code}; server RSS {proc_rss_mb(pid):.0f} MB")

        with server(args.model, args.threads, 1) as (url1, _):
            per_request: dict[int, list[float]] = {4: [], 1: []}
            for _ in range(args.rounds):
                for batch, u in ((4, url), (1, url1)):
                    per_request[batch].append(1.0 / parallel(u, bodies, expected, n_clients, 10)[1])
            for batch in (4, 1):
                print(f"--max-batch {batch}, {n_clients} clients x 10, {args.rounds} rounds, wall time per "
                      f"request: {stats_ms(per_request[batch])}")
            print(f"one at a time / batched, ratio of the medians: "
                  f"{np.median(per_request[1]) / np.median(per_request[4]):.2f}")


if __name__ == "__main__":
    main()
