"""Vanishing gradients in the browser: the job page draws the first and the latest evaluation's
curve (the share of the gradient reaching k steps back, as the API's history has it), and the
corpus's run comparison puts a vanilla run beside gated ones (dashed). Screenshots in
test-artifacts/screenshots/gradients-*.png.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from browser.conftest import SCREENSHOTS
from conftest import TINY_TRAINING

pytestmark = pytest.mark.browser

DATASETS = """(id) => Chart.getChart(document.getElementById(id)).data.datasets.map(
  (d) => ({label: d.label, points: d.data, dash: d.borderDash || []}))"""


def ratios(norms: dict) -> list[float]:
    return [m / norms["mean_norm"][0] for m in norms["mean_norm"] if m]


def test_gradients_on_the_job_page_and_side_by_side(page, stack, visitor):
    corpus = visitor["ready"]
    jobs = {}
    for cell in ("rnn", "gru", "lstm"):
        job = stack.post("/api/jobs", {"corpus_id": corpus["id"], **TINY_TRAINING, "cell": cell,
                                       "hidden_dim": 12, "optimizer": "adam",
                                       "learning_rate": 0.02, "nepoch": 4,
                                       "name": f"{cell.upper()} for the gradients"}, expect=202)
        jobs[cell] = stack.wait_for(f"/api/jobs/{job['id']}?since=0", lambda j: j["state"] in (
            "finished", "failed", "cancelled"))
        assert jobs[cell]["state"] == "finished", jobs[cell]["error"]

    rnn = jobs["rnn"]
    evaluations = [e for e in rnn["history"] if e["event"] == "evaluation"]
    page.goto(rnn["url"])
    expect(page.locator("#gradients")).to_be_visible()
    drawn = page.evaluate(DATASETS, "gradients-chart")
    assert [d["label"] for d in drawn] == [
        f"epoch {evaluations[0]['epoch']} (first evaluation)",
        f"epoch {evaluations[-1]['epoch']} (latest)"]
    for curve, event in zip(drawn, (evaluations[0], evaluations[-1])):
        assert [p["y"] for p in curve["points"]] == pytest.approx(ratios(event["gradient_norms"]))
    page.locator("#gradients").screenshot(path=str(SCREENSHOTS / "gradients-1-job-page.png"))

    page.goto(corpus["url"])
    page.wait_for_function("() => window.Chart && Chart.getChart('runs-gradients-chart')")
    side_by_side = {d["label"]: d for d in page.evaluate(DATASETS, "runs-gradients-chart")}
    for cell, job in jobs.items():
        label = f"{cell.upper()} for the gradients ({cell.upper()}, epoch {job['nepoch']})"
        assert side_by_side[label]["dash"] == ([] if cell == "rnn" else [6, 4])
        last = [e for e in job["history"] if e["event"] == "evaluation"][-1]
        assert [p["y"] for p in side_by_side[label]["points"]] == pytest.approx(
            ratios(last["gradient_norms"]))
    page.locator("#runs-gradients-chart").scroll_into_view_if_needed()
    page.locator("#runs").screenshot(path=str(SCREENSHOTS / "gradients-2-runs-side-by-side.png"))
