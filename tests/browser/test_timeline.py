"""The learning timeline in the browser: the job page's slider scrubs through the evaluations,
each showing the same prompts (in bold) continued by that evaluation's weights, as the API's
history has them; Play steps through them. Screenshots in
test-artifacts/screenshots/timeline-*.png.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from browser.conftest import SCREENSHOTS, shoot
from conftest import TINY_TRAINING

pytestmark = pytest.mark.browser


def test_the_timeline_scrubs_through_the_evaluations(page, stack, visitor):
    job = stack.post("/api/jobs", {"corpus_id": visitor["ready"]["id"], **TINY_TRAINING,
                                   "hidden_dim": 16, "optimizer": "adam", "learning_rate": 0.02,
                                   "nepoch": 8, "name": "Watching it learn"}, expect=202)
    job = stack.wait_for(f"/api/jobs/{job['id']}?since=0", lambda j: j["state"] in (
        "finished", "failed", "cancelled"))
    assert job["state"] == "finished", job["error"]
    evaluations = [e for e in job["history"] if e["event"] == "evaluation"]
    prefixes = job["timeline"]["prefixes"]
    page.goto(job["url"])
    slider = page.locator("#timeline-range")
    expect(slider).to_have_attribute("max", str(len(evaluations) - 1))
    samples = page.locator("#timeline-samples li")

    def shown_at(i: int) -> None:
        slider.fill(str(i))
        expect(page.locator("#timeline-epoch")).to_contain_text(
            f"epoch {evaluations[i]['epoch']} (evaluation {i + 1} of {len(evaluations)})")
        expect(samples).to_have_text(evaluations[i]["samples"])
        expect(samples.locator("strong.prompt")).to_have_text([p for p in prefixes if p])

    shown_at(0)
    shoot(page, "timeline-1-first-evaluation")
    page.locator("#timeline-section").screenshot(
        path=str(SCREENSHOTS / "timeline-2-first-evaluation-section.png"))
    shown_at(len(evaluations) // 2)
    shown_at(len(evaluations) - 1)
    page.locator("#timeline-section").screenshot(
        path=str(SCREENSHOTS / "timeline-3-last-evaluation-section.png"))
    assert evaluations[0]["samples"] != evaluations[-1]["samples"]
    # Play starts again from the first evaluation and ends at the last.
    page.get_by_role("button", name="Play").click()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    expect(slider).to_have_value(str(len(evaluations) - 1), timeout=15_000)
    expect(page.get_by_role("button", name="Play")).to_be_visible()
    # Arrow keys move one evaluation.
    slider.focus()
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#timeline-epoch")).to_contain_text(
        f"epoch {evaluations[-2]['epoch']} (evaluation")
