"""Comparing runs in the browser: the corpus page draws every run's validation curve with the
trigram line and lists their settings; a run named on its job page is called so on the home
page's cards, which show cell, optimizer and date. Screenshots in
test-artifacts/screenshots/runs-*.png.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from browser.conftest import PHONE, SCREENSHOTS, shoot
from conftest import TINY_TRAINING

pytestmark = pytest.mark.browser

DATASETS = """() => Chart.getChart(document.getElementById("runs-chart")).data.datasets.map(
  (d) => ({label: d.label, points: d.data, color: d.borderColor, dash: d.borderDash || []}))"""


def test_the_corpus_page_compares_runs_and_names_follow(page, pages, stack, visitor):
    api = page.context.request
    corpus = visitor["ready"]
    for changes in ({"cell": "gru", "name": "GRU, a gated cell", "nepoch": 4},
                    {"optimizer": "adam", "learning_rate": 0.02, "nepoch": 3}):
        answer = api.post("/api/jobs", data={"corpus_id": corpus["id"], **TINY_TRAINING,
                                             **changes})
        assert answer.status == 202, answer.text()
        stack.wait_for(f"/api/jobs/{answer.json()['id']}", lambda j: j["state"] in (
            "finished", "failed", "cancelled"))
    runs = stack.get(f"/api/corpora/{corpus['id']}/runs")
    page.goto(corpus["url"])
    page.wait_for_function("() => window.Chart && Chart.getChart('runs-chart')")
    datasets = page.evaluate(DATASETS)
    assert [d["label"] for d in datasets] == [r["label"] for r in runs["runs"]] + [
        line["label"] for line in runs["trigram_lines"]]
    for run, drawn in zip(runs["runs"], datasets):
        assert [p["y"] for p in drawn["points"]] == pytest.approx(
            [p["valid_perplexity"] for p in run["curve"]])
    assert datasets[-1]["dash"] == [8, 4]
    table = page.locator("#runs-table")
    expect(table.locator("tbody tr")).to_have_count(len(runs["runs"]))
    gru = table.locator("tr", has_text="GRU, a gated cell")
    expect(gru.locator('td[data-label="Cell"]')).to_have_text("GRU")
    # Each row's swatch has its curve's colour.
    index = [r["label"] for r in runs["runs"]].index("GRU, a gated cell")
    swatch = gru.locator(".swatch").evaluate("s => getComputedStyle(s).backgroundColor")
    hexed = "#" + "".join(f"{int(c):02x}" for c in re.findall(r"\d+", swatch)[:3])
    assert hexed == datasets[index]["color"]
    expect(table.locator("tr.best-run .badge")).to_have_text("best")
    shoot(page, "runs-1-corpus-comparison")
    page.locator("#runs").screenshot(path=str(SCREENSHOTS / "runs-2-comparison-section.png"))

    # Name the tutorial run from its job page; the home page's card follows.
    page.goto(visitor["job"]["url"])
    page.get_by_label("Name of this run").fill("The tutorial's settings <b>")
    page.get_by_role("button", name="Save the name").click()
    expect(page.locator("#job-name")).to_have_text("The tutorial's settings <b>")
    shoot(page, "runs-3-named-job")
    page.goto("/")
    card = page.locator(f'#jobs tr[data-job-id="{visitor["job"]["id"]}"]')
    expect(card.locator("td.title a")).to_have_text("The tutorial's settings <b>")
    expect(card.locator(".run-meta")).to_contain_text("RNN · sgd · ")
    shoot(page, "runs-4-home-cards")
    phone = pages.new(viewport=PHONE)
    phone.goto(corpus["url"])
    phone.wait_for_function("() => window.Chart && Chart.getChart('runs-chart')")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    phone.locator("#runs").screenshot(path=str(SCREENSHOTS / "runs-5-comparison-phone.png"))
