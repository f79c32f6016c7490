"""Nothing trained is lost, in the browser: a cancelled job's page offers its model (the best
checkpoint) and "Continue training", which starts a new job whose chart begins with the first
job's curve and goes on to the larger number of epochs. Screenshots in
test-artifacts/screenshots/kept-*.png.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from browser.conftest import shoot
from conftest import LONG_TRAINING

pytestmark = pytest.mark.browser

VALID_POINTS = """() => Chart.getChart(document.getElementById("loss-chart")).data.datasets
  .find((d) => d.label === "validation").data.map((p) => p.x)"""


def test_cancel_keeps_a_model_and_continue_trains_on(page, stack, visitor):
    api = page.context.request
    answer = api.post("/api/jobs", data={"corpus_id": visitor["ready"]["id"], **LONG_TRAINING})
    assert answer.status == 202, answer.text()
    job = answer.json()
    stack.wait_for(f"/api/jobs/{job['id']}", lambda j: j["epoch"] >= 3, interval=0.05)
    page.goto(job["url"])
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#job-state")).to_have_text("cancelled", timeout=15_000)
    expect(page.get_by_role("link", name="Play with the model")).to_be_visible()
    expect(page.locator("#job-message")).to_contain_text("What it learned is kept")
    form = page.locator("#continue-form")
    expect(form).to_be_visible()
    cancelled = stack.get(f"/api/jobs/{job['id']}")
    assert cancelled["model_id"] and cancelled["can_continue"]
    shoot(page, "kept-1-cancelled-job")

    page.get_by_role("link", name="Play with the model").click()
    expect(page.locator("h1")).to_contain_text("cancelled in epoch")
    shoot(page, "kept-2-model-of-a-cancelled-job")

    page.go_back()
    form.get_by_label("More epochs").fill("4")
    form.get_by_role("button", name="Continue training").click()
    expect(page.locator("#job-continues")).to_be_visible()
    expect(page.locator("#job-state")).to_have_text("finished", timeout=60_000)
    continued = stack.get(page.url.replace(stack.base_url, "/api") + "?since=0")
    assert continued["continued_from"] == job["id"]
    assert continued["nepoch"] == cancelled["epoch"] + 4
    evaluations = [e["epoch"] for e in continued["history"] if e["event"] == "evaluation"]
    assert evaluations == list(range(continued["nepoch"] + 1))
    # The chart draws the first job's evaluations and the continuation's on one axis.
    xs = page.evaluate(VALID_POINTS)
    assert len(xs) == len(evaluations) and xs == sorted(xs)
    assert xs[-1] == pytest.approx(continued["nepoch"], abs=0.05)
    expect(page.get_by_role("link", name="Play with the model")).to_be_visible()
    shoot(page, "kept-3-continued-job")
