"""Outputs are written atomically and every write failure is one line naming the file.

The helpers of :mod:`rgb2depth.fileio` are tried directly (commit, failure, clean-up,
concurrent writers with a reader checking every file it sees), then through ``predict``: two
runs writing the same names into one folder, a real file-size limit (``RLIMIT_FSIZE``, the
kernel refusing the write as on a full disk) hitting one image of three, a folder in the way,
the ``-o`` and environment mistakes that used to end in tracebacks, ``predict_batch``
collecting per-item errors, and a video whose prediction fails half-way.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from rgb2depth.fileio import (
    OutputError,
    atomic_path,
    ensure_dir,
    imwrite,
    is_temporary,
    remove_temporaries,
    save_npy,
    write_text,
)
from rgb2depth.inference import cli
from rgb2depth.inference.api import load
from rgb2depth.inference.imageio import ImageReadError

app = typer.Typer()
app.command("predict")(cli.predict)
app.command("benchmark")(cli.benchmark)
runner = CliRunner()


def run(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False, env=env)


def error_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("error:")]


def temporaries(folder: Path) -> list[Path]:
    return [p for p in Path(folder).rglob("*") if is_temporary(p) or p.name.endswith(".tmp")]


def png_ok(path: Path) -> bool:
    """The PNG decodes completely with every chunk CRC checked (PIL verify + full load)."""
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        im.load()
    return True


def rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------ fileio


def test_atomic_path_commits_with_usual_mode(tmp_path):
    p = tmp_path / "sub" / "a.txt"
    with atomic_path(p) as tmp:
        assert tmp.parent == p.parent and tmp.name.startswith(".a.txt.") and tmp.suffix == ".txt"
        tmp.write_text("new")
        assert not p.exists()
    assert p.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask
    assert temporaries(tmp_path) == []


def test_atomic_path_failure_keeps_old_file_and_cleans_up(tmp_path):
    p = tmp_path / "a.npy"
    save_npy(p, np.arange(4.0))
    with pytest.raises(OutputError) as e:
        with atomic_path(p) as tmp:
            tmp.write_bytes(b"half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert str(e.value) == f"{p}: cannot write (No space left on device)"
    np.testing.assert_array_equal(np.load(p), np.arange(4.0))
    assert temporaries(tmp_path) == []
    # the caller's own errors pass through unchanged (and still clean up)
    for exc in (ValueError("bad value"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with atomic_path(p) as tmp:
                tmp.write_bytes(b"x")
                raise exc
    assert temporaries(tmp_path) == []


def test_torch_wrapped_write_errors_name_the_os_reason(tmp_path, monkeypatch):
    """torch.save wraps the OSError of a full disk in a RuntimeError; the one-line message
    still gives the OS reason and names the file."""
    from rgb2depth.models.io import atomic_save

    def failing_save(obj, f):
        f.write(b"PK\x03\x04 partial")
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598") from None

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OutputError) as e:
        atomic_save({"x": 1}, tmp_path / "ck.pt")
    assert str(e.value) == f"{tmp_path / 'ck.pt'}: cannot write (No space left on device)"
    assert list(tmp_path.iterdir()) == []


def test_round_trips_and_temporaries(tmp_path):
    import io

    for a in (np.arange(12, dtype=np.float32).reshape(3, 4), np.array(3.5), np.arange(10)[::2]):
        ref = io.BytesIO()
        np.save(ref, a)
        assert save_npy(tmp_path / "a.npy", a).read_bytes() == ref.getvalue()  # np.save's bytes
    with pytest.raises(ValueError, match="object array"):
        save_npy(tmp_path / "o.npy", np.array([{}, 1], dtype=object))
    img16 = (np.arange(40 * 50, dtype=np.uint16).reshape(40, 50) * 30).astype(np.uint16)
    imwrite(tmp_path / "d.png", img16)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED), img16)
    with pytest.raises(OutputError, match=r"d\.xyz: cannot encode the image"):
        imwrite(tmp_path / "d.xyz", img16)
    write_text(tmp_path / "t.json", json.dumps({"a": 1}))
    assert json.loads((tmp_path / "t.json").read_text()) == {"a": 1}
    (tmp_path / ".last.pt.abc123.tmp.pt").write_bytes(b"stale")
    (tmp_path / ".best.pt.def456.tmp.pt").write_bytes(b"stale")
    (tmp_path / ".hidden_but_mine.png").write_bytes(b"keep")
    assert [p.name for p in remove_temporaries(tmp_path, "last.pt")] == [".last.pt.abc123.tmp.pt"]
    assert [p.name for p in remove_temporaries(tmp_path)] == [".best.pt.def456.tmp.pt"]
    assert (tmp_path / ".hidden_but_mine.png").exists() and (tmp_path / "d.png").exists()


def unwritable_place(tmp_path: Path) -> Path:
    """A folder nothing can be created in: read-only permissions, or for root (who ignores
    them) a place in sysfs, where the kernel refuses new files."""
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        return ro / "out"
    target = Path("/sys/rgb2depth-test-out")
    try:
        target.mkdir()
    except OSError:
        return target
    target.rmdir()
    pytest.skip("no unwritable place available to root here")


def test_ensure_dir_errors(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(OutputError, match=r"file\.txt: cannot use as the output folder \(it is an existing file"):
        ensure_dir(f)
    with pytest.raises(OutputError, match=r"file\.txt/sub: cannot create the output folder \(.*file\.txt is a file"):
        ensure_dir(f / "sub")
    with pytest.raises(OutputError, match=r"cannot (create|write in) the output folder \((Permission denied|Operation not permitted|Read-only)"):
        ensure_dir(unwritable_place(tmp_path))
    assert ensure_dir(tmp_path / "a" / "b").is_dir()


WRITER = textwrap.dedent("""
    import sys, numpy as np
    from rgb2depth.fileio import imwrite, save_npy
    out, tag, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    img = np.full((600, 800, 3), tag, np.uint8)
    img[::7] = 255 - tag  # some structure so that encoding takes a while
    for _ in range(n):
        imwrite(out + "/same.png", img)
        save_npy(out + "/same.npy", np.full((600, 800), float(tag), np.float32))
""")

READER = textwrap.dedent("""
    import sys, time, numpy as np
    from PIL import Image
    out, seconds = sys.argv[1], float(sys.argv[2])
    seen = bad = 0
    end = time.time() + seconds
    while time.time() < end:
        for name in ("same.png", "same.npy"):
            try:
                if name.endswith(".png"):
                    with Image.open(out + "/" + name) as im:
                        im.load()
                        v = np.asarray(im)[1, 0, 0]  # row 0 is one of the 255 - tag rows
                else:
                    v = np.load(out + "/" + name)[0, 0]
                seen += 1
                bad += int(v not in (10, 200))
            except FileNotFoundError:
                pass
            except Exception:
                seen += 1
                bad += 1
    print(seen, bad)
""")


def test_concurrent_same_name_writers_never_show_a_torn_file(tmp_path):
    """Two processes rewrite the same two files 15 times each while a third reads them in a
    loop: every read is a complete file of one writer or the other."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(tag), "15"], env=env)
               for tag in (10, 200)]
    reader = subprocess.run([sys.executable, "-c", READER, str(tmp_path), "8"], env=env,
                            capture_output=True, text=True, timeout=600)
    assert [w.wait(timeout=600) for w in writers] == [0, 0]
    seen, bad = (int(v) for v in reader.stdout.split())
    assert seen > 0 and bad == 0, reader.stdout + reader.stderr
    assert png_ok(tmp_path / "same.png")
    assert np.load(tmp_path / "same.npy")[0, 0] in (10.0, 200.0)
    assert temporaries(tmp_path) == []


# ------------------------------------------------------------------------------ predict


@pytest.fixture()
def three_images(tmp_path):
    """a.png and c.png (64x64) and big.png (800x800) in tmp/in."""
    d = tmp_path / "in"
    d.mkdir()
    Image.fromarray(rgb(64, 64, 1)).save(d / "a.png")
    Image.fromarray(rgb(800, 800, 2)).save(d / "big.png")
    Image.fromarray(rgb(64, 64, 3)).save(d / "c.png")
    return d


def test_two_predict_runs_into_one_folder(tmp_path, model_file, three_images):
    """The issue's reproduction: two predict runs writing the same names at once. Both exit
    0 and every PNG and npy is complete (it left corrupt PNGs before)."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "rgb2depth", "predict", str(three_images), "-o", str(out),
           "--model", str(model_file), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    for stem in ("a", "big", "c"):
        assert png_ok(out / f"{stem}_depth.png") and png_ok(out / f"{stem}_color.png")
        assert np.isfinite(np.load(out / f"{stem}.npy")).all()
    assert temporaries(out) == []


def _limit_file_size(limit: int):
    def pre() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


def test_file_size_limit_fails_one_image_and_keeps_the_others(tmp_path, model_file, three_images):
    """A real write failure from the kernel (RLIMIT_FSIZE, like a full disk): big.npy
    (2.56 MB) cannot be written under a 1 MB limit. One error line names it, a and c are
    complete, nothing partial or temporary is left, exit code 1."""
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "rgb2depth", "predict", str(three_images), "-o", str(out),
                        "--model", str(model_file), "--no-progress"],
                       env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                       timeout=600, preexec_fn=_limit_file_size(1_000_000))
    assert r.returncode == 1, r.stderr
    assert error_lines(r.stderr) == [f"error: {three_images / 'big.png'}: {out / 'big.npy'}: cannot write (File too large)"]
    assert "Traceback" not in r.stderr
    for stem in ("a", "c"):
        assert np.load(out / f"{stem}.npy").shape == (64, 64)
        assert png_ok(out / f"{stem}_depth.png") and png_ok(out / f"{stem}_color.png")
    assert not (out / "big.npy").exists()
    assert temporaries(out) == []
    assert "2 input(s) predicted" in r.stderr and "1 failed" in r.stderr


def test_write_failure_in_process_and_folder_in_the_way(tmp_path, model_file, three_images, monkeypatch):
    """A colour PNG whose write fails (ENOSPC from the OS write) and an output name taken by a
    folder: one line each, the other images complete."""
    out = tmp_path / "out"
    (out / "c.npy").mkdir(parents=True)
    import rgb2depth.fileio as fileio

    real = fileio.write_bytes

    def full_disk_for_big(path, data):
        if Path(path).name == "big_color.png":
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                f.write(bytes(data)[:100])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, data)

    monkeypatch.setattr(fileio, "write_bytes", full_disk_for_big)
    r = run("predict", three_images, "-o", out, "--model", model_file, "--no-progress")
    assert r.exit_code == 1
    errs = error_lines(r.stderr)
    assert errs == [f"error: {three_images / 'big.png'}: {out / 'big_color.png'}: cannot write (No space left on device)",
                    f"error: {three_images / 'c.png'}: {out / 'c.npy'}: cannot write (a folder of that name is in the way)"], r.stderr
    assert np.load(out / "a.npy").shape == (64, 64) and png_ok(out / "a_color.png")
    assert png_ok(out / "big_depth.png") and not (out / "big_color.png").exists()
    assert temporaries(out) == []


def test_output_place_errors_are_one_line(tmp_path, model_file, three_images):
    f = tmp_path / "file.txt"
    f.write_text("x")
    img = three_images / "a.png"
    for out, expect in ((f, "it is an existing file, not a folder"),
                        (f / "sub", "file.txt is a file, not a folder"),
                        (unwritable_place(tmp_path), "cannot ")):
        r = run("predict", img, "-o", out, "--model", model_file)
        assert r.exit_code == 2, r.output
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {out}: ") and expect in lines[0], r.stderr


def test_bad_environment_and_device_are_one_line(tmp_path, model_file, three_images):
    img = three_images / "a.png"
    r = run("predict", img, "-o", tmp_path / "o", "--model", model_file, env={"RGB2DEPTH_MAX_PIXELS": "abc"})
    assert r.exit_code == 2
    assert r.stderr.strip() == "error: RGB2DEPTH_MAX_PIXELS must be a number, got 'abc'"
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: --device cuda is valid")
    for command in (["predict", img, "-o", tmp_path / "o"], ["benchmark", "--iters", "1"]):
        r = run(*command, "--model", model_file, "--device", "cuda")
        assert r.exit_code == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: --device cuda: ") and "CUDA" in lines[0]
    r = run("predict", img, "-o", tmp_path / "o", "--model", model_file, "--device", "gpu7")
    assert r.stderr.strip() == "error: --device 'gpu7': expected cpu, cuda or cuda:N"


def test_bad_inputs_keep_failing_cleanly(tmp_path, model_file):
    """The bad-input cases that already worked stay one line each, with the good images written."""
    d = tmp_path / "in"
    d.mkdir()
    Image.fromarray(rgb(64, 64)).save(d / "good.png")
    (d / "empty.jpg").write_bytes(b"")
    (d / "text.png").write_text("not an image")
    data = (d / "good.png").read_bytes()
    (d / "cut.png").write_bytes(data[: len(data) // 2])
    Image.fromarray(rgb(8, 8)).save(d / "tiny.png")
    r = run("predict", d, tmp_path / "missing.jpg", "-o", tmp_path / "out", "--model", model_file, "--no-progress")
    assert r.exit_code == 1
    errs = error_lines(r.stderr)
    assert len(errs) == 5, r.stderr
    for name, problem in (("missing.jpg", "no such file"), ("empty.jpg", "empty file"),
                          ("text.png", "not an image"), ("cut.png", "truncated or corrupt"), ("tiny.png", "too small")):
        assert sum(name in e and problem in e for e in errs) == 1, (name, errs)
    assert np.load(tmp_path / "out" / "good.npy").shape == (64, 64)
    assert "Traceback" not in r.stderr


def test_predict_batch_collects_per_item_errors(tmp_path, model_file):
    pred = load(model_file)
    good = [rgb(64, 64, 5), rgb(96, 128, 6)]
    (tmp_path / "bad.png").write_text("nope")
    items = [good[0], tmp_path / "bad.png", good[1], rgb(8, 8)]
    with pytest.raises(ImageReadError, match=r"bad\.png: not an image"):
        pred.predict_batch(items)
    depths, errors = pred.predict_batch(items, batch_size=2, on_error="collect")
    assert sorted(errors) == [1, 3] and depths[1] is None and depths[3] is None
    assert str(errors[1]).startswith(f"{tmp_path / 'bad.png'}: not an image") and "too small" in str(errors[3])
    for k, i in enumerate((0, 2)):
        np.testing.assert_allclose(depths[i], pred.predict(good[k]), rtol=1e-5, atol=1e-6)
    # a non-finite prediction is per item too
    real = pred._run

    def nan_for_second(x):
        y = real(x)
        if len(y) > 1:
            y[1] = np.nan
        return y

    pred._run = nan_for_second
    depths, errors = pred.predict_batch([good[0], good[0], good[0]], batch_size=3, on_error="collect")
    assert list(errors) == [1] and "NaN or infinite" in str(errors[1])
    assert depths[0] is not None and depths[2] is not None
    with pytest.raises(ValueError, match="on_error"):
        pred.predict_batch(good, on_error="skip")


def test_failed_video_leaves_no_partial_file(tmp_path, model_file):
    from rgb2depth.inference.outputs import OutputWriter
    from rgb2depth.inference.video import process_stream

    clip = tmp_path / "clip.avi"
    vw = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(6):
        vw.write(np.full((48, 64, 3), 40 * i, np.uint8))
    vw.release()
    pred = load(model_file)
    writer = OutputWriter(tmp_path / "out", ())
    info = process_stream(pred, clip, str(clip), "clip", writer)
    cap = cv2.VideoCapture(str(info["video"]))
    assert info["frames"] == 6 and cap.isOpened() and cap.read()[0]
    cap.release()
    info["video"].unlink()

    calls = {"n": 0}
    real = pred.predict_rgb

    def fail_at_frame_3(*a, **k):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("clip.avi[3]: the network produced NaN or infinite depth")
        return real(*a, **k)

    pred.predict_rgb = fail_at_frame_3
    with pytest.raises(RuntimeError, match=r"\[3\]"):
        process_stream(pred, clip, str(clip), "clip", writer)
    assert list((tmp_path / "out").iterdir()) == []
