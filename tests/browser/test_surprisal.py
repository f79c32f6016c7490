"""Surprisal in bits in the browser: the scored words are chips coloured by their band (the
page's script and the server agree on the bands), each sentence says its bits in all and per
word, and the next words list their surprisal in bits. Screenshot in
test-artifacts/screenshots/surprisal-*.png.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from browser.conftest import SCREENSHOTS, shoot
from webapp.playground import bit_band

pytestmark = pytest.mark.browser

SENTENCES = ["the cat sees the red ball today .", "a dog likes his garden at night .",
             "garden the night likes at dog a ."]


def test_scored_words_are_coloured_by_bits(page, stack, visitor):
    model = visitor["model"]
    page.goto(model["url"])
    page.get_by_label("Sentences, one per line").fill("\n".join(SENTENCES))
    page.get_by_role("button", name="Score").click()
    ranked = page.locator("#result-score ol.ranked > li")
    expect(ranked).to_have_count(len(SENTENCES))
    expected = stack.post(f"/api/models/{model['id']}/score", {"sentences": SENTENCES},
                          expect=200)["ranked"]
    for item, r in zip(ranked.all(), expected, strict=True):
        expect(item.locator(".hint")).to_have_text(
            f"{r['bits']:.2f} bits in all, {r['bits_per_word']:.2f} bits per word "
            f"(perplexity {r['perplexity']:.1f})")
        classes = item.locator(".surprisal .token").evaluate_all(
            "chips => chips.map((c) => c.className)")
        bands = [int(re.search(r"bits-(\d)", c).group(1)) for c in classes]
        assert bands == [bit_band(w["bits"]) for w in r["surprisal"]]
    # The colours differ between bands (the legend is drawn with the same classes).
    legend = page.locator("#bit-legend .token").evaluate_all(
        "chips => chips.map((c) => getComputedStyle(c).backgroundColor)")
    assert len(set(legend)) == len(legend) == 6
    page.locator("form[data-question=next-words]").get_by_label("Prefix").fill("the")
    page.get_by_role("button", name="Show the most probable next words").click()
    expect(page.locator("#result-next-words th").nth(2)).to_have_text("Surprisal (bits)")
    shoot(page, "surprisal-1-playground")
    page.locator("#result-score").screenshot(path=str(SCREENSHOTS / "surprisal-2-chips.png"))


def test_the_playground_mixes_the_network_with_the_trigram_counter(page, stack, visitor):
    model = visitor["model"]
    page.goto(model["url"])
    form = page.locator("form[data-question=next-words]")
    form.get_by_label("Prefix").fill("the")
    form.get_by_label("Mix with the trigram counter").check()
    page.get_by_role("button", name="Show the most probable next words").click()
    mixed = stack.post(f"/api/models/{model['id']}/next-words",
                       {"prefix": "the", "k": 10, "mix": True}, expect=200)
    share = round(mixed["mixture"]["rnn_weight"] * 100)
    expect(page.locator("#result-next-words .mixture-note")).to_have_text(
        f"Answered by the network mixed with the trigram counter ({share}% network).")
    words = page.locator("#result-next-words tbody td:first-child").all_text_contents()
    assert words == [c["word"] for c in mixed["candidates"]]
    shoot(page, "surprisal-3-mixed-next-words")
