"""``rgb2depth serve`` in a real browser: headless Chromium driven by selenium.

The server runs on 127.0.0.1 (a real socket); the test uploads a real photo through the page's
file input, waits for the depth image and the 3D view, and checks what the page shows against
the API: the colour image byte for byte, the depth numbers against the ``.npy`` answer, the 3D
canvas drawn and turning when dragged, a download identical to the API's file, and an error
message for a text file. A screenshot is saved (path printed; ``RGB2DEPTH_SCREENSHOT=FILE``
saves it there instead) and the upload-to-depth time measured by the page is printed.

Needs Debian's ``chromium`` and ``chromium-driver`` (``scripts/install_browser.sh``, run by
``scripts/setup.sh``); skipped with the reason when they or selenium are absent.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="rgb2depth serve needs fastapi (a dependency: run scripts/setup.sh)")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is absent (test extra: run scripts/setup.sh)")
httpx = pytest.importorskip("httpx2", reason="needs httpx2 (test extra)")

from test_serve import real_image  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian's chromium and chromium-driver are not installed (scripts/install_browser.sh installs them as root)",
)

WAIT_S = 45  # upper bound for one page state on a loaded 2-core machine (not a timing check)


@pytest.fixture(scope="module")
def server():
    import rgb2depth
    from rgb2depth.serve import create_app
    from rgb2depth.serve.threaded import ServerThread

    with ServerThread(create_app(rgb2depth.load("default")), timeout=60) as url:
        yield url


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1360,1650", "--hide-scrollbars", "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    except WebDriverException as e:
        pytest.skip(f"headless chromium did not start: {str(e).splitlines()[0]}")
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


def wait_state(driver, states=("done", "error")) -> str:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(
        lambda d: d.execute_script("return document.body.dataset.state") in states)
    return driver.execute_script("return document.body.dataset.state")


def upload(driver, path) -> str:
    from selenium.webdriver.common.by import By

    driver.execute_script("document.body.dataset.state = 'idle'")
    driver.find_element(By.ID, "file").send_keys(str(Path(path).resolve()))  # WebDriver wants absolute
    return wait_state(driver)


CANVAS_PIXELS = """
const c = document.getElementById('cloud');
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let lit = 0, hash = 0;
for (let i = 0; i < d.length; i += 4) {
  if (d[i] !== 32 || d[i + 1] !== 36 || d[i + 2] !== 42) lit++;
  hash = (hash * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) >>> 0;
}
return [lit / (c.width * c.height), hash, Number(c.dataset.points), Number(c.dataset.drawn)];
"""


def test_page_upload_depth_3d_view_and_download(server, browser, downloads, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    path = real_image()
    data = path.read_bytes()
    browser.get(server + "/")
    assert browser.title.startswith("rgb2depth")
    assert wait_state(browser, ("idle",)) == "idle"

    state = upload(browser, path)
    assert state == "done", browser.find_element(By.ID, "status").text

    with httpx.Client(base_url=server, timeout=60) as api:
        summary = api.post("/api/predict", params={"format": "json", "colorbar": "true"},
                           files={"file": (path.name, data)}).json()
        depth = np.load(io.BytesIO(api.post("/api/predict", files={"file": (path.name, data)}).content))
        color = api.post("/api/predict", params={"format": "color", "colorbar": "true"},
                         files={"file": (path.name, data)}).content

    # the depth image shown is the API's colour PNG (with its colour bar), fully loaded
    src = browser.execute_script("return document.getElementById('depth-img').src")
    assert src.startswith("data:image/png;base64,") and base64.b64decode(src.split(",", 1)[1]) == color
    assert browser.execute_script("const i = document.getElementById('depth-img'); return i.complete && i.naturalWidth") > 640
    assert browser.execute_script("return document.getElementById('input-img').naturalWidth") == 640

    # the depth numbers: the page's values are the API's, which are the .npy's statistics
    for key, value in (("min", depth.min()), ("median", np.median(depth)), ("max", depth.max())):
        cell = browser.find_element(By.ID, f"depth-{key}")
        assert float(cell.get_attribute("data-value")) == pytest.approx(summary["depth"][key], abs=1e-9)
        assert float(cell.get_attribute("data-value")) == pytest.approx(float(value), abs=1e-6)
        assert cell.text == f"{summary['depth'][key]:.3f} m"
    lo, hi = summary["display_range"]
    assert browser.find_element(By.ID, "depth-range").text == f"{lo:.2f}–{hi:.2f} m"
    assert browser.find_element(By.ID, "image-size").text == "640 × 480"

    # the 3D view: every point drawn at least partly, a large part of the canvas covered
    lit, start_hash, points, drawn = browser.execute_script(CANVAS_PIXELS)
    assert points == summary["points"]["count"] > 10_000
    assert drawn > 0.5 * points and lit > 0.3
    canvas = browser.find_element(By.ID, "cloud")
    ActionChains(browser).click_and_hold(canvas).move_by_offset(120, 40).release().perform()
    wait = WebDriverWait(browser, WAIT_S, poll_frequency=0.1)
    wait.until(lambda d: d.execute_script(CANVAS_PIXELS)[1] != start_hash)  # redrawn, turned
    assert browser.execute_script(CANVAS_PIXELS)[0] > 0.05
    ActionChains(browser).double_click(canvas).perform()
    wait.until(lambda d: d.execute_script(CANVAS_PIXELS)[1] == start_hash)  # back to the start view

    ms = float(browser.execute_script("return document.body.dataset.uploadToDepthMs"))
    server_ms = browser.find_element(By.ID, "timing").text
    print(f"\nupload to depth shown in the browser: {ms:.0f} ms for a 640x480 {path.suffix} photo ({server_ms})")

    shot = os.environ.get("RGB2DEPTH_SCREENSHOT") or str(tmp_path / "serve_page.png")
    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.save_screenshot(shot)
    print(f"screenshot: {shot}")

    # a download button saves the API's file
    browser.find_element(By.CSS_SELECTOR, "#downloads button[data-format='npy']").click()
    target = downloads / f"{path.stem}.npy"
    deadline = time.monotonic() + WAIT_S
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert target.exists(), sorted(p.name for p in downloads.iterdir())
    np.testing.assert_array_equal(np.load(target), depth)


def test_page_shows_the_servers_error_for_a_text_file(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo\n")
    if not browser.current_url.startswith(server):
        browser.get(server + "/")
    assert upload(browser, notes) == "error"
    status = browser.find_element(By.ID, "status")
    assert status.text == "notes.txt: not an image file (unrecognised format)"
    assert "error" in status.get_attribute("class")
