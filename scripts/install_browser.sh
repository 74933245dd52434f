#!/usr/bin/env bash
# Install Debian's headless-capable Chromium and its WebDriver (chromium, chromium-driver) for the
# browser test of `rgb2depth serve` (tests/test_serve_browser.py drives it with selenium).
# Idempotent and quick when both are present. Never fatal: where they cannot be installed (not
# root, no apt-get, no network) it says why on stderr and exits 0, and the browser test skips
# with that reason. Set RGB2DEPTH_NO_BROWSER=1 to skip the install.
set -uo pipefail
if [ "${RGB2DEPTH_NO_BROWSER:-}" = 1 ]; then
    exit 0
fi
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
why=""
if ! command -v apt-get >/dev/null; then
    why="no apt-get on this machine"
elif [ "$(id -u)" != 0 ]; then
    why="not root (run: sudo apt-get install -y chromium chromium-driver)"
fi
if [ -z "$why" ]; then
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver; } >/tmp/rgb2depth-install-browser.log 2>&1; then
        why="apt-get install chromium chromium-driver failed (see /tmp/rgb2depth-install-browser.log)"
    fi
fi
if [ -n "$why" ]; then
    echo "note: the browser test of 'rgb2depth serve' will be skipped: $why" >&2
fi
exit 0
