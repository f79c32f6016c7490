"""What people expect while they wait: a bar and the time left for preprocessing, a spinner on
the playground that never freezes the page, and numbers and durations written for people by the
one formatting module every page script uses.
"""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from conftest import REPO, SHARED_CORPORA, write_corpus

from .checks import ESTIMATE
from .conftest import shoot

pytestmark = pytest.mark.browser



@pytest.mark.parametrize("call, expected", [
    ("formatDuration(0.4)", "under 1 s"),
    ("formatDuration(45)", "45 s"),
    ("formatDuration(59.6)", "1 min"),
    ("formatDuration(200)", "3 min 20 s"),
    ("formatDuration(1234)", "21 min"),
    ("formatDuration(3900)", "1 h 5 min"),
    ("formatDuration(2 * 86400 + 4 * 3600)", "2 d 4 h"),
    ("formatDuration(null)", ""),
    ("formatAbout(200)", "about 3 min 20 s"),
    ("formatAbout(0.2)", "under 1 s"),
    ("formatNumber(1234567)", "1,234,567"),
    ("formatNumber(3.14159, 2)", "3.14"),
    ("formatNumber(null)", "–"),
    ("formatPercent(0.375)", "37.5%"),
    ("formatBytes(112714)", "113 kB"),
    ("formatBytes(1161098)", "1.2 MB"),
])
def test_the_formatting_module(page, call, expected):
    page.goto("/corpora/upload")
    answer = page.evaluate(f"""async () => {{
      const {{ formatAbout, formatBytes, formatDuration, formatNumber, formatPercent }} =
        await import("/static/js/format.js");
      return {call};
    }}""")
    assert answer == expected


def test_page_scripts_format_only_through_the_module():
    scripts = sorted((REPO / "static" / "js").glob("*.js"))
    assert len(scripts) >= 8
    for script in scripts:
        if script.name == "format.js":
            continue
        text = script.read_text()
        for raw in ("toFixed(", "toLocaleString(", "innerHTML", "insertAdjacentHTML", "outerHTML"):
            assert raw not in text, f"{script.name} uses {raw}"


def big_corpus(tmp_path):
    """A few megabytes: preprocessing takes several seconds, long enough to watch."""
    source = SHARED_CORPORA / "tinyshakespeare-speeches.csv"
    if not source.exists():
        return write_corpus(tmp_path / "long.csv", rows=30_000)
    header, rows = source.read_text(encoding="utf-8").split("\n", 1)
    path = tmp_path / "speeches-three-times.csv"
    path.write_text(header + "\n" + rows.rstrip("\n") + "\n" + rows.rstrip("\n") + "\n" + rows,
                    encoding="utf-8")
    return path


def test_preprocessing_shows_a_moving_bar_and_the_time_left(page, tmp_path):
    page.goto("/corpora/upload")
    page.get_by_label("CSV or text file").set_input_files(big_corpus(tmp_path))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_label("Vocabulary size").fill("2000")
    page.get_by_role("button", name="Preprocess in a worker").click()
    expect(page.locator("#corpus-progress")).to_be_visible()

    seen, deadline = [], time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            view = page.evaluate("""() => {
              const bar = document.getElementById("corpus-progress");
              return bar && { value: bar.value, percent: document.getElementById("corpus-percent").textContent,
                              eta: document.getElementById("corpus-eta").textContent,
                              message: document.getElementById("corpus-message").textContent };
            }""")
        except PlaywrightError as error:  # the page reloaded while it was being read
            if "Execution context was destroyed" not in str(error):
                raise
            break
        if view is None:  # reloaded to show the report
            break
        seen.append(view)
        if view["eta"] and len(seen) % 4 == 0:
            shoot(page, "feedback-preprocessing")
        page.wait_for_timeout(200)
    expect(page.get_by_role("heading", name="Preprocessing report")).to_be_visible()
    moving = sorted({v["value"] for v in seen if 0 < v["value"] < 1})
    assert len(moving) >= 2, f"the bar barely moved: {seen}"
    assert [v["value"] for v in seen] == sorted(v["value"] for v in seen)
    etas = [v["eta"] for v in seen if v["eta"]]
    assert etas and all(re.fullmatch(rf"{ESTIMATE} left", e) for e in etas), seen
    assert any(re.fullmatch(r"\d+(\.\d)?%", v["percent"]) and v["percent"] != "0.0%" for v in seen)
    assert any(re.search(r"tokenized [\d,]+ sentences", v["message"]) for v in seen)


def test_the_playground_shows_a_spinner_and_stays_usable(page, visitor):
    page.goto(visitor["model"]["url"])
    held = []
    page.route("**/generate", lambda route: held.append(route))  # held until the test says
    form = page.locator("form[data-question=generate]")
    form.get_by_label("Prefix").fill("the dog")
    form.get_by_role("button", name="Sample").click()

    result = page.locator("#result-generate")
    expect(result).to_have_attribute("aria-busy", "true")
    spinner = form.get_by_role("status")
    expect(spinner).to_be_visible()
    expect(spinner).to_have_text("Working…")
    shoot(page, "feedback-playground-waiting")
    # Meanwhile the page answers: typing elsewhere works and frames keep coming.
    nexts = page.locator("form[data-question=next-words]").get_by_label("Prefix")
    nexts.press_sequentially("the small")
    expect(nexts).to_have_value("the small")
    frames = page.evaluate("""() => new Promise((done) => {
      let n = 0; const start = performance.now();
      const tick = () => (++n < 10 ? requestAnimationFrame(tick) : done(performance.now() - start));
      requestAnimationFrame(tick);
    })""")
    assert frames < 1000, f"ten frames took {frames:.0f} ms"
    form.get_by_role("button", name="Sample").click(force=True)  # pressed again: ignored
    assert len(held) == 1

    held[0].continue_()
    expect(result).to_have_attribute("aria-busy", "false")
    expect(spinner).to_have_count(0)
    expect(result.locator("ol.samples li")).to_have_count(3)
    for text in result.locator("ol.samples li").all_inner_texts():
        assert text.startswith("the dog")
