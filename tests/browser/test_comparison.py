"""The job page says how the model compares with counting: the trigram and unigram counters as
flat lines on the loss chart, a star at the best evaluation (the weights people get), and the
sentence "this model: X; trigram counter: Y". Checked against the API and in the canvas's pixels;
screenshots in test-artifacts/screenshots/job-comparison*.png.
"""
from __future__ import annotations

import math

import pytest
from playwright.sync_api import expect

from browser.conftest import SCREENSHOTS, shoot

pytestmark = pytest.mark.browser

DATASETS = """() => {
  const chart = Chart.getChart(document.getElementById("loss-chart"));
  return chart.data.datasets.map((d) => ({label: d.label, points: d.data}));
}"""
# The colour of the canvas pixel at the chart's (x, y) in data units.
PIXEL_AT = """([x, y]) => {
  const canvas = document.getElementById("loss-chart");
  const chart = Chart.getChart(canvas);
  const px = chart.scales.x.getPixelForValue(x) * devicePixelRatio;
  const py = chart.scales.y.getPixelForValue(y) * devicePixelRatio;
  const [r, g, b] = canvas.getContext("2d").getImageData(Math.round(px), Math.round(py), 1, 1).data;
  return [r, g, b];
}"""


def test_the_chart_draws_the_counters_and_the_best_evaluation(page, stack, visitor):
    job = stack.get(f"/api/jobs/{visitor['job']['id']}?since=0")
    trigram = job["baselines"]["trigram_perplexity"]
    unigram = job["baselines"]["unigram_perplexity"]
    page.goto(job["url"])
    expect(page.locator("#job-comparison")).to_have_text(job["comparison"])
    assert "trigram counter" in job["comparison"]
    datasets = {d["label"]: d["points"] for d in page.evaluate(DATASETS)}
    width = job["nepoch"]
    assert datasets["trigram counter (validation)"] == [
        {"x": 0, "y": pytest.approx(math.log(trigram))}, {"x": width, "y": pytest.approx(math.log(trigram))}]
    assert datasets["unigram counter (validation)"][0]["y"] == pytest.approx(math.log(unigram))
    best = job["best"]
    assert datasets["best evaluation (the model)"] == [
        {"x": best["epoch"], "y": pytest.approx(best["valid_loss"])}]
    evaluations = [e for e in job["history"] if e["event"] == "evaluation"]
    assert best["valid_loss"] == min(e["valid_loss"] for e in evaluations)
    # The trigram's line is drawn in its own green across the chart, not just listed.
    r, g, b = page.evaluate(PIXEL_AT, [width / 2, math.log(trigram)])
    assert g > r + 40 and g > b + 20, (r, g, b)
    shoot(page, "job-comparison")
    page.locator(".chart", has=page.locator("#loss-chart")).screenshot(
        path=str(SCREENSHOTS / "job-comparison-chart.png"))


def test_the_playground_says_how_the_model_compares(page, visitor):
    model = visitor["model"]
    page.goto(model["url"])
    expect(page.locator("#model-comparison")).to_have_text(model["comparison"])
    assert model["comparison"].startswith("This model: ")
