"""Every page paints its first content, from the test server alone: no font, script or style from
the internet. The measured times are written to test-artifacts/first-paint.json and printed; a
second is the target. It is not the test's pass mark: during a CI run of the whole suite
the corpus report once painted at 1,380 ms (every other page under 400), and a timed test fails on
the machine's load rather than on the page.
"""
from __future__ import annotations

import json

import pytest

from .checks import first_contentful_paint
from .conftest import NOT_FOUND, SCREENSHOTS

pytestmark = pytest.mark.browser

TARGET_MS = 1000


def test_every_page_paints_from_this_server_alone(pages, every_page, stack):
    pages.watcher.allow(NOT_FOUND)
    timings = {}
    for name, path in every_page.items():
        page = pages.new()  # a fresh browser profile each time: nothing cached
        page.goto(path)
        page.wait_for_load_state("load")
        timings[name] = first_contentful_paint(page)
    SCREENSHOTS.parent.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS.parent / "first-paint.json").write_text(json.dumps(timings, indent=2))
    print(f"first contentful paint, ms (target {TARGET_MS}):", json.dumps(timings))
    unpainted = [name for name, ms in timings.items() if ms is None]
    assert not unpainted, f"no first contentful paint: {unpainted} (all: {timings})"

    requests = pages.watcher.requests
    assert all(url.startswith(f"{stack.base_url}/") for url in requests), requests
    for asset in ("/static/css/app.css", "/static/vendor/chartjs/chart.umd.min.js",
                  "/static/js/format.js"):
        assert f"{stack.base_url}{asset}" in requests, asset
