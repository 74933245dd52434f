#!/usr/bin/env bash
# Create .venv/ at the repository root if missing and install rgb2depth into it (CPU-only).
# Idempotent: re-installs only when pyproject.toml or constraints.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.rgb2depth-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    # constraints.txt pins torch to the CPU build: no CUDA (nvidia-*) wheels are pulled.
    .venv/bin/python -m pip install -q --upgrade pip
    # opencv-contrib-python-headless (pyproject) and the plain opencv-python-headless install the
    # same cv2 package over each other: a venv made before the switch drops the plain one (and a
    # contrib one whose files it may have overwritten) first; the install below puts contrib back.
    if .venv/bin/python -m pip show -q opencv-python-headless >/dev/null 2>&1; then
        .venv/bin/python -m pip uninstall -q -y opencv-python-headless opencv-contrib-python-headless
    fi
    .venv/bin/python -m pip install -q -c constraints.txt -e ".[3d,test]"
    if .venv/bin/python -m pip list 2>/dev/null | grep -qi '^nvidia'; then
        echo "error: CUDA packages were installed into .venv; see constraints.txt" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi
./scripts/install_browser.sh  # Chromium + chromedriver for the `rgb2depth serve` browser test: quick when present, never fatal
