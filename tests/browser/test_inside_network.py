"""Inside the network, in the browser: a sentence's hidden states drawn as a heatmap (units x
words) whose pixels have the colours of the API's activations, a unit picked with the slider or
by clicking its row colours the sentence, and clicking a word lists its nearest words by the
cosine of their input embeddings, as the API gives them. Words with markup in them stay text.
Screenshots in test-artifacts/screenshots/inside-*.png.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from browser.conftest import SCREENSHOTS, shoot
from conftest import TINY_TRAINING
from webapp.playground import activation_band

pytestmark = pytest.mark.browser

SENTENCE = "the old man watches the red ball <b>today</b> ."
# The canvas pixel in the middle of the cell of word t, unit u (the layout of inside.js).
CELL_COLOUR = """([t, u, words, units]) => {
  const canvas = document.getElementById("heatmap");
  const cellW = Math.max(16, Math.min(44, Math.floor(720 / words)));
  const cellH = Math.max(3, Math.min(18, Math.floor(360 / units)));
  const r = devicePixelRatio;
  const x = Math.round((44 + t * cellW + cellW / 2) * r), y = Math.round((118 + u * cellH + cellH / 2) * r);
  return Array.from(canvas.getContext("2d").getImageData(x, y, 1, 1).data.slice(0, 3));
}"""
BAND_COLOURS = """() => [...document.querySelectorAll("#activation-legend .swatch")].map((s) =>
  getComputedStyle(s).backgroundColor.match(/\\d+/g).map(Number))"""


@pytest.fixture(scope="module")
def better_model(stack, visitor):
    """A model trained long enough for its units to say something."""
    job = stack.post("/api/jobs", {"corpus_id": visitor["ready"]["id"], **TINY_TRAINING,
                                   "hidden_dim": 16, "optimizer": "adam",
                                   "learning_rate": 0.02, "nepoch": 6,
                                   "name": "Inside the network"}, expect=202)
    job = stack.wait_for(f"/api/jobs/{job['id']}", lambda j: j["state"] in (
        "finished", "failed", "cancelled"))
    assert job["state"] == "finished", job["error"]
    return stack.get(f"/api/models/{job['model_id']}")


def test_hidden_states_heatmap_units_and_nearest_words(page, stack, better_model):
    model = better_model
    api = f"/api/models/{model['id']}"
    page.goto(model["url"])
    page.get_by_label("A sentence").fill(SENTENCE)
    page.get_by_role("button", name="Show the hidden states").click()
    expect(page.locator("#heatmap")).to_be_visible()
    answer = stack.post(f"{api}/hidden-states", {"text": SENTENCE}, expect=200)
    words, units = len(answer["tokens"]), answer["hidden_dim"]
    bands = page.evaluate(BAND_COLOURS)
    for t, u in [(0, 0), (1, 3), (words - 1, units - 1), (4, 7)]:
        expected = bands[activation_band(answer["states"][t][u])]
        assert page.evaluate(CELL_COLOUR, [t, u, words, units]) == expected, (t, u)
    chips = page.locator("#unit-text .token")
    assert chips.all_inner_texts() == answer["tokens"]  # "<b>" is a word, shown as text
    expect(page.locator("#unit-text b")).to_have_count(0)

    # Pick unit 5 with the slider: the words take its activations' colours.
    page.locator("#unit-range").fill("5")
    expect(page.locator("#unit-number")).to_have_text(f"unit 5 of {units}")
    classes = chips.evaluate_all("cs => cs.map((c) => c.className)")
    assert classes == [f"token act-{activation_band(s[5])}" for s in answer["states"]]
    # Click the row of unit 9 on the heatmap.
    cell_h = max(3, min(18, 360 // units))
    page.locator("#heatmap").click(position={"x": 60, "y": 118 + 9 * cell_h + cell_h / 2})
    expect(page.locator("#unit-number")).to_have_text(f"unit 9 of {units}")
    shoot(page, "inside-1-playground")
    page.locator("#result-hidden-states").screenshot(
        path=str(SCREENSHOTS / "inside-2-heatmap-unit-9.png"))

    # A word of the coloured sentence asks for its nearest words.
    chips.nth(answer["tokens"].index("ball")).click()
    table = page.locator("#result-nearest-words #nearest-table")
    expect(table.locator("tbody tr")).to_have_count(10)
    near = stack.post(f"{api}/nearest-words", {"word": "ball", "k": 10}, expect=200)
    shown = [r.locator("td").first.inner_text() for r in table.locator("tbody tr").all()]
    assert shown == [n["word"] for n in near["neighbours"]]
    expect(table.locator("caption")).to_contain_text("“ball”")
    page.locator("#inside").screenshot(path=str(SCREENSHOTS / "inside-3-nearest-words.png"))
