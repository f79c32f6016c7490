"""Issue 11 in Chromium: a pre-tokenized, one-sentence-per-row corpus (written by the test) is
uploaded; the corpus page suggests both choices and shows what they do to the first rows; the
report says how the text was read and which splitter ran, counts the corpus's <unk> as unknown,
compares vocabulary sizes, draws a true histogram; choosing 2,000 words re-indexes, and the
training form starts from that vocabulary. Screenshots: test-artifacts/screenshots/corpus-as-written-*.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from written_corpora import newswire_rows, write_csv

from .conftest import shoot

pytestmark = pytest.mark.browser

ROWS, NAMES = 6_000, 50_000
NAME = "Newswire, one sentence per row"


def report_view(page) -> dict:
    return dict(zip(page.locator("dl.report dt").all_inner_texts(),
                    page.locator("dl.report dd").all_inner_texts()))


def test_the_corpus_page_suggests_the_choices_and_the_report_tells_the_truth(page, stack,
                                                                            tmp_path):
    rows = newswire_rows(ROWS, names=NAMES)
    path = write_csv(tmp_path / "newswire.csv", rows)
    page.goto("/corpora/upload")
    page.get_by_label("CSV or text file").set_input_files(str(path))
    page.get_by_label("Name (optional)").fill(NAME)
    page.get_by_role("button", name="Upload", exact=True).click()

    expect(page.get_by_role("heading", name=NAME)).to_be_visible()
    corpus_id = page.url.rstrip("/").rsplit("/", 1)[1]
    expect(page.locator("#suggestion")).to_contain_text("This text looks already tokenized")
    expect(page.locator("#suggestion")).to_contain_text("<unk>")
    one_per_row = page.get_by_label("Each row is one sentence")
    tokenized = page.get_by_label("The text is already tokenized (split on spaces)")
    lowercase = page.get_by_label("Lowercase the text")
    expect(one_per_row).to_be_checked()
    expect(tokenized).to_be_checked()
    expect(lowercase).to_be_checked()
    first = page.locator("#tokenized-rows > li").first
    words = [w if w != "<unk>" else "UNKNOWN_TOKEN" for w in rows[0].lower().split()]
    assert first.locator(".tok").all_inner_texts() == ["SENTENCE_START", *words, "SENTENCE_END"]
    shoot(page, "corpus-as-written-01-upload-suggests-both-choices")

    # The preview follows the boxes: case kept shows the corpus's N, not n.
    lowercase.uncheck()
    expect(first.locator(".tok", has_text=re.compile(r"^N$")).first).to_be_visible()
    lowercase.check()
    expect(first.locator(".tok", has_text=re.compile(r"^N$"))).to_have_count(0)
    page.get_by_label("Vocabulary size").fill("8000")
    page.get_by_role("button", name="Preprocess in a worker").click()

    expect(page.get_by_role("heading", name="Preprocessing report")).to_be_visible(timeout=60_000)
    corpus = stack.get(f"/api/corpora/{corpus_id}")
    report = corpus["report"]
    shown = report_view(page)
    assert shown["Sentences parsed"] == f"{len(rows):,}"
    assert shown["Sentence splitter"] == "none: each row is one sentence"
    assert shown["How the text was read"].startswith("One sentence per row")
    assert "<unk>" in shown["Words that become UNKNOWN_TOKEN"]
    assert shown["Vocabulary"].startswith(f"{report['vocabulary_size']:,} words (every word")
    assert report["vocabulary_size"] < 8000
    table = page.locator("#vocabulary-candidates tbody tr")
    expect(table).to_have_count(len(report["vocabulary_candidates"]))
    bars = page.evaluate("""() => [...document.querySelectorAll('#length-histogram rect.bar')]
        .map((r) => { const b = r.getBoundingClientRect(); return [b.width, b.height]; })""")
    drawn = [b for b in report["length_histogram"] if not b.get("tail")]
    assert len(bars) == len(drawn) > 3
    widths = [w for w, _ in bars]
    assert max(widths) - min(widths) < 0.5  # bins of one width, drawn as wide as each other
    tallest, tallest_px = max(b["count"] for b in drawn), max(h for _, h in bars)
    for (_, height), b in zip(bars, drawn):  # heights are the counts, to the pixel
        assert abs(height - tallest_px * b["count"] / tallest) < 1.0
    page.locator("#length-histogram").scroll_into_view_if_needed()
    shoot(page, "corpus-as-written-02-report")

    page.get_by_role("button", name="Use 2,000 words").click()
    expect(page.locator("#report-vocabulary")).to_have_text("2,000 words", timeout=60_000)
    expect(page.locator("#vocabulary-candidates tr.chosen")).to_contain_text("this corpus's vocabulary")
    shoot(page, "corpus-as-written-03-vocabulary-2000")
    page.get_by_role("link", name="Train a model on this corpus").click()
    expect(page.get_by_label("Vocabulary size")).to_have_value("2000")
    page.goto("/")
    row = page.locator("tr", has=page.get_by_role("link", name=NAME))
    expect(row.locator("[data-label='Vocabulary']")).to_have_text("2,000")
