"""The memorisation check in the browser: each generated sample says the longest run of words it
shares with the corpus, marked in the sample and in the corpus sentence it comes from, as the
API answers. Screenshot in test-artifacts/screenshots/memorised-*.png.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from browser.conftest import SCREENSHOTS, shoot

pytestmark = pytest.mark.browser


def test_samples_show_what_they_copy(page, stack, visitor):
    model = visitor["model"]
    page.goto(model["url"])
    form = page.locator("form[data-question=generate]")
    form.get_by_label("Prefix").fill("the old man")
    form.get_by_label("Samples").fill("6")
    form.get_by_label("Seed").fill("3")
    form.get_by_role("button", name="Sample").click()
    items = page.locator("#result-generate ol.samples > li")
    expect(items).to_have_count(6)
    expect(items.locator(".copied")).to_have_count(6)
    samples = stack.post(f"/api/models/{model['id']}/generate", {
        "prefix": "the old man", "num_samples": 6, "seed": 3, "max_length": 20,
        "temperature": 1.0}, expect=200)["samples"]
    answer = stack.post(f"/api/models/{model['id']}/memorised",
                        {"texts": [s["text"] for s in samples]}, expect=200)
    assert answer["checked"]
    found = 0
    for item, result in zip(items.all(), answer["results"], strict=True):
        run = result["run"]
        if run is None:
            expect(item.locator(".copied")).to_have_text(
                f"No run of {answer['min_words']} words or more is in the corpus.")
            continue
        found += 1
        expect(item.locator("mark").first).to_have_text(run["text_parts"][1])
        expect(item.locator(".copied")).to_contain_text(
            f"Shares {run['length']} words in a row with sentence {run['sentence_number']:,}")
        expect(item.locator(".copied mark")).to_have_text(run["sentence_parts"][1])
    assert found, "a model of this small corpus copies some of its phrases"
    shoot(page, "memorised-1-playground")
    page.locator("#result-generate").screenshot(path=str(SCREENSHOTS / "memorised-2-samples.png"))
