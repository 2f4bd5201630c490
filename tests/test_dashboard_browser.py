"""The dashboard in a real browser: Debian's chromium, headless, driven through Playwright.

The page must load without console errors, hold every figure it says it holds, and show something in each
figure's box: a screenshot whose pixels in that box are not all one colour. Browser downloads are not
reachable here, so Playwright drives the system's chromium; CI installs it (``.ci/run``), and a developer
machine without it skips this test.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from iobench.analysis.history import as_run
from iobench.present.dashboard import build_dashboard, write_dashboard
from tests.test_history import synthetic_history

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
#: A figure box whose pixels vary less than this (on 0..1 RGB values) is blank.
MIN_PIXEL_VARIANCE = 1e-3

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"), reason="needs Debian's chromium (apt-get install chromium)"
)


def test_the_dashboard_renders_every_figure_without_console_errors(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    runs = [as_run(name, results) for name, results in synthetic_history(step_at=7, runs=10)]
    page_built = build_dashboard(runs, last=4)
    path = write_dashboard(page_built, tmp_path / "site")
    shot = tmp_path / "dashboard.png"
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("request", lambda request: problems.append(f"loaded {request.url}")
                    if not request.url.startswith("file://") else None)  # fmt: skip
            page.goto(path.as_uri(), wait_until="load")
            boxes = {}
            for name in page_built.figures:
                figure = page.locator(f'figure[data-figure="{name}"] svg')
                assert figure.count() == 1, f"figure {name} is missing"
                boxes[name] = figure.bounding_box()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert {"latest-speedup", "latest-throughput", "latest-efficiency", "latest-latency", "overlay-speedup"} <= set(
        page_built.figures
    )
    assert any(name.startswith("trend-") for name in page_built.figures)
    pixels = image.imread(shot)[:, :, :3]
    for name, box in boxes.items():
        assert box is not None and box["width"] > 200 and box["height"] > 150, f"{name} is too small: {box}"
        top, left = int(box["y"]), int(box["x"])
        region = pixels[top : top + int(box["height"]), left : left + int(box["width"])]
        assert region.size and float(np.var(region)) > MIN_PIXEL_VARIANCE, f"figure {name} is blank"
