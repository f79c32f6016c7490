"""A plain-text book in Chromium: a .txt is uploaded, the corpus page says it was read by
paragraph and shows the paragraphs as rows (wrapped lines joined), and the worker's report counts
the sentences of whole paragraphs, never a sentence cut at a line break.
Screenshot: test-artifacts/screenshots/plain-text-01-paragraphs.
"""
from __future__ import annotations

import textwrap

import pytest
from playwright.sync_api import expect

from .conftest import shoot

pytestmark = pytest.mark.browser

PARAGRAPHS = [
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the "
    "age of foolishness. It was the season of Light, it was the season of Darkness.",
    "There were a king with a large jaw and a queen with a plain face, on the throne of England. "
    "It was clearer than crystal to the lords of the State that things were settled for ever.",
    "France, less favoured on the whole as to matters spiritual than her sister, rolled with "
    "exceeding smoothness down hill. She entertained herself with such humane achievements.",
]


def test_a_text_file_is_read_by_paragraph(page, stack, tmp_path):
    path = tmp_path / "two-cities.txt"
    body = "\n\n".join(textwrap.fill(p, 50) for p in PARAGRAPHS * 20)
    path.write_text("A TALE OF TWO CITIES\n\n" + body + "\n", encoding="utf-8")
    page.goto("/corpora/upload")
    page.get_by_label("CSV or text file").set_input_files(str(path))
    page.get_by_role("button", name="Upload", exact=True).click()

    expect(page.get_by_role("heading", name="two-cities.txt")).to_be_visible()
    corpus_id = page.url.rstrip("/").rsplit("/", 1)[1]
    expect(page.get_by_text("Read as plain text")).to_be_visible()
    cells = page.locator("table.preview tbody td")
    expect(cells.nth(0)).to_have_text("A TALE OF TWO CITIES")
    expect(cells.nth(1)).to_have_text(PARAGRAPHS[0])  # its five wrapped lines, joined
    shoot(page, "plain-text-01-paragraphs")

    page.get_by_role("button", name="Preprocess in a worker").click()
    expect(page.get_by_role("heading", name="Preprocessing report")).to_be_visible(timeout=60_000)
    report = stack.get(f"/api/corpora/{corpus_id}")["report"]
    assert report["sentences"] == 1 + 2 * len(PARAGRAPHS) * 20  # the title, two a paragraph
