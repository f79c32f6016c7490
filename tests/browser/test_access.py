"""Pages everyone can use: the upload and playground walk with the keyboard alone, a name on every
control, text contrast of at least 4.5:1, and no sideways scrolling in a phone-sized window.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import write_corpus

from .checks import CONTRAST_JS, accessible_names, focused, horizontal_overflow, tab_to
from .conftest import NOT_FOUND, PHONE, shoot

pytestmark = pytest.mark.browser

MIN_CONTRAST = 4.5  # WCAG 2 AA for body text


def answer_every_question(page) -> None:
    """Fill and send the playground's three forms, so their answers are on the page too."""
    generate = page.locator("form[data-question=generate]")
    generate.get_by_label("Prefix").fill("the cat")
    generate.get_by_role("button", name="Sample").click()
    nexts = page.locator("form[data-question=next-words]")
    nexts.get_by_label("Prefix").fill("the")
    nexts.get_by_role("button", name="Show the most probable next words").click()
    page.get_by_label("Sentences, one per line").fill("the cat sees a dog .\na dog sees the cat .")
    page.get_by_role("button", name="Score").click()
    expect(page.locator("#result-generate ol.samples li")).to_have_count(3)
    expect(page.locator("#result-next-words tbody tr")).to_have_count(10)
    expect(page.locator("#result-score ol.ranked > li")).to_have_count(2)


def visit(page, pages, name: str, path: str) -> None:
    if name == "not-found":
        pages.watcher.allow(NOT_FOUND)
    response = page.goto(path)
    assert response.status == (404 if name == "not-found" else 200), (path, response.status)
    page.wait_for_load_state("load")
    if name == "playground":
        answer_every_question(page)


def test_the_keyboard_alone_uploads_preprocesses_and_plays(page, visitor, tmp_path):
    corpus = write_corpus(tmp_path / "typed.csv", rows=60, seed=5)
    page.goto("/")
    stops = tab_to(page, "a.skip")
    expect(page.locator("a.skip")).to_be_in_viewport()  # shown once it has focus
    stops += tab_to(page, "nav a[href='/corpora/upload']")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Upload a corpus")).to_be_visible()

    stops += tab_to(page, "#file")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(corpus)
    stops += tab_to(page, "#name")
    page.keyboard.type("Typed with the keyboard")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Typed with the keyboard")).to_be_visible()

    stops += tab_to(page, "#vocabulary_size")
    page.keyboard.press("Control+A")
    page.keyboard.type("60")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Preprocessing report")).to_be_visible(timeout=60_000)
    shoot(page, "keyboard-01-report")

    page.goto(visitor["model"]["url"])
    stops += tab_to(page, "#prefix")
    page.keyboard.type("the old man")
    page.keyboard.press("Enter")
    expect(page.locator("#result-generate ol.samples li")).to_have_count(3)
    for text in page.locator("#result-generate ol.samples li").all_inner_texts():
        assert text.startswith("the old man")
    assert focused(page)["id"] == "prefix"  # answering did not steal the focus

    stops += tab_to(page, "#sentences")
    page.keyboard.type("the cat sees a dog .")
    page.keyboard.press("Enter")  # a new line: one sentence per line
    page.keyboard.type("dog a sees cat the .")
    to_score = tab_to(page, "form[data-question=score] button")
    assert [s["id"] for s in to_score[:-1]] == ["score_mix"]  # the mixture's box, then the button
    stops += to_score
    assert focused(page)["text"] == "Score"
    page.keyboard.press("Enter")
    expect(page.locator("#result-score ol.ranked > li")).to_have_count(2)
    assert focused(page)["text"] == "Score"
    shoot(page, "keyboard-02-playground")
    unringed = [s for s in stops if not s["ring"]]
    assert not unringed, f"focus without a visible ring: {unringed}"


def test_every_control_has_a_name(page, pages, every_page):
    nameless, counted = [], 0
    for name, path in every_page.items():
        visit(page, pages, name, path)
        for control in accessible_names(page):
            if control["ignored"]:
                continue  # hidden (a finished job's cancel button): not announced at all
            counted += 1
            if not control["name"]:
                nameless.append((name, control["role"], control["html"]))
    assert counted >= 35, f"only {counted} controls found: the pages did not load?"
    assert not nameless, "controls without an accessible name:\n" + "\n".join(map(str, nameless))


def test_text_contrast_is_at_least_4_5_to_1(page, pages, every_page):
    poor = []
    for name, path in every_page.items():
        visit(page, pages, name, path)
        texts = page.evaluate(CONTRAST_JS)
        assert len(texts) >= 8, (name, texts)
        poor += [(name, t) for t in texts if t["ratio"] < MIN_CONTRAST]
    assert not poor, "text below 4.5:1:\n" + "\n".join(
        f"{n}: <{t['tag']} class='{t['cls']}'> {t['text']!r} {t['color']} on {t['background']}: "
        f"{t['ratio']:.2f}" for n, t in poor)


def test_a_phone_window_never_scrolls_sideways(pages, every_page):
    page = pages.new(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    too_wide = []
    for name, path in every_page.items():
        visit(page, pages, name, path)
        measured = horizontal_overflow(page)
        assert measured["width"] == PHONE["width"]
        if measured["scrollWidth"] > PHONE["width"]:
            too_wide.append((name, measured))
        shoot(page, f"phone-{name}")
    assert not too_wide, f"wider than the phone: {too_wide}"


def test_the_checks_catch_faint_text_and_a_nameless_control(page):
    """The measures above see what they claim to: grey on white fails, a bare input has no name."""
    page.goto("/")
    page.evaluate("""() => {
      const faint = document.createElement("p");
      faint.textContent = "faint words";
      faint.style.color = "#aaaaaa";
      faint.style.background = "#ffffff";
      const bare = document.createElement("input");
      bare.id = "bare";
      document.querySelector("main").append(faint, bare);
    }""")
    faint = [t for t in page.evaluate(CONTRAST_JS) if t["text"] == "faint words"]
    assert len(faint) == 1 and faint[0]["ratio"] == pytest.approx(2.32, abs=0.01)
    bare = [c for c in accessible_names(page) if 'id="bare"' in c["html"]]
    assert len(bare) == 1 and bare[0]["name"] == "" and bare[0]["role"] == "textbox"
