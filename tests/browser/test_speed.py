"""Every page paints its first content within a second on this machine, from the test server
alone: no font, script or style from the internet. The measured times are written to
test-artifacts/first-paint.json.
"""
from __future__ import annotations

import json

import pytest

from .checks import first_contentful_paint
from .conftest import NOT_FOUND, SCREENSHOTS

pytestmark = pytest.mark.browser

LIMIT_MS = 1000


def test_first_paint_within_a_second_from_this_server_alone(pages, every_page, stack):
    pages.watcher.allow(NOT_FOUND)
    timings = {}
    for name, path in every_page.items():
        page = pages.new()  # a fresh browser profile each time: nothing cached
        page.goto(path)
        page.wait_for_load_state("load")
        timings[name] = first_contentful_paint(page)
    SCREENSHOTS.parent.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS.parent / "first-paint.json").write_text(json.dumps(timings, indent=2))
    slow = {name: ms for name, ms in timings.items() if ms is None or ms >= LIMIT_MS}
    assert not slow, f"first contentful paint at or over {LIMIT_MS} ms: {slow} (all: {timings})"

    requests = pages.watcher.requests
    assert all(url.startswith(f"{stack.base_url}/") for url in requests), requests
    for asset in ("/static/css/app.css", "/static/vendor/chartjs/chart.umd.min.js",
                  "/static/js/format.js"):
        assert f"{stack.base_url}{asset}" in requests, asset
