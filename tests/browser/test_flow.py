"""The walk a person takes, in Chromium against the real stack: upload the reddit sample, read the
preprocessing report, train a small model while the progress bar and the loss chart move, cancel
a second run, then sample continuations and rank two sentences in the playground. What the page
shows is compared with what the JSON API answers for the same question.
"""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from conftest import SHARED_CORPORA, write_corpus

from .checks import DURATION, ESTIMATE, chart, pixels_of
from .conftest import shoot

pytestmark = pytest.mark.browser

# Small enough to finish in 5-45 s on two shared cores (30,000 to 200,000 words a second),
# long enough to watch the page move a few times.
SMALL = {"Vocabulary size": "500", "Hidden size": "16", "Epochs": "30", "Evaluate every": "5",
         "Batch size": "8", "Seed": "1", "Learning rate": "0.005", "Dropout": "0", "Patience": "0"}
SMALL_SELECTS = {"Engine": "numpy", "Precision": "float32", "Cell": "rnn"}
TRAIN_COLOR = (0x1F, 0x5A, 0x99)  # static/js/charts.js: chartColors.train
TERMINAL = ("finished", "failed", "cancelled")


def corpus_file(tmp_path):
    """The reddit sample and its text column, or a generated corpus when ../shared is absent."""
    path = SHARED_CORPORA / "reddit-comments-2015-08-sample.csv"
    if path.exists():
        return path, "body"
    return write_corpus(tmp_path / "comments.csv", rows=1200), "text"


def fill_training_form(page, values: dict, selects: dict) -> None:
    for label, value in values.items():
        page.get_by_label(label, exact=True).fill(value)
    for label, value in selects.items():
        page.get_by_label(label, exact=True).select_option(value)


def job_view(page) -> dict:
    """What the job page shows right now."""
    view = page.evaluate("""() => ({
      state: document.getElementById("job-state").textContent.trim(),
      value: document.getElementById("job-progress").value,
      barWidth: document.getElementById("job-progress").getBoundingClientRect().width,
      percent: document.getElementById("job-percent").textContent.trim(),
      eta: document.getElementById("job-eta").textContent.trim(),
      sameDocument: window.__stillHere === true,
    })""")
    view["chart"] = chart(page, "loss-chart")
    view["time"] = time.monotonic()
    return view


def watch_job(page, timeout: float = 150) -> list[dict]:
    page.wait_for_function("() => window.Chart && Chart.getChart('loss-chart')")
    page.evaluate("window.__stillHere = true")  # gone if the page reloads
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(job_view(page))
        if seen[-1]["state"] in TERMINAL:
            return seen
        page.wait_for_timeout(250)
    raise AssertionError(f"the job page still says {seen[-1]['state']} after {timeout} s")


def upload_and_preprocess(page, stack, tmp_path) -> dict:
    page.goto("/")
    expect(page.get_by_role("heading", name="Train a language model on your own text")).to_be_visible()
    shoot(page, "flow-01-home")
    page.get_by_role("link", name="Upload a CSV or text file").click()
    path, column = corpus_file(tmp_path)
    page.get_by_label("CSV or text file").set_input_files(path)
    page.get_by_label("Name (optional)").fill("Reddit comments")
    shoot(page, "flow-02-upload")
    page.get_by_role("button", name="Upload", exact=True).click()

    expect(page.get_by_role("heading", name="Reddit comments")).to_be_visible()
    corpus_id = page.url.rstrip("/").rsplit("/", 1)[1]
    expect(page.get_by_label("Text column")).to_have_value(column)
    expect(page.locator("table.preview tbody tr").first).to_be_visible()
    page.get_by_label("Vocabulary size").fill("500")
    shoot(page, "flow-03-preview")
    page.get_by_role("button", name="Preprocess in a worker").click()

    expect(page.get_by_role("heading", name="Preprocessing report")).to_be_visible(timeout=60_000)
    return stack.get(f"/api/corpora/{corpus_id}")


def check_report(page, corpus: dict) -> None:
    report = corpus["report"]
    shown = dict(zip(page.locator("dl.report dt").all_inner_texts(),
                     page.locator("dl.report dd").all_inner_texts()))
    assert shown["Sentences parsed"] == f"{report['sentences']:,}"
    assert shown["Words (tokens, with sentence markers)"] == f"{report['tokens']:,}"
    assert shown["Vocabulary"] == "500 words"
    assert shown["After preprocessing"] == " ".join(report["example_tokens"])
    # the SVG histogram: one bar per bin that is drawn (a long tail is said in words instead)
    drawn = [b for b in report["length_histogram"] if not b.get("tail")]
    expect(page.locator("#length-histogram rect.bar")).to_have_count(len(drawn))
    assert len(drawn) > 3
    assert sum(b["count"] for b in report["length_histogram"]) == report["sentences"]
    shoot(page, "flow-04-report")


def train_and_watch(page, pages, stack, corpus: dict) -> dict:
    page.get_by_role("link", name="Train a model on this corpus").click()
    expect(page.get_by_label("Corpus", exact=True)).to_have_value(corpus["id"])
    fill_training_form(page, SMALL, SMALL_SELECTS)
    estimate = page.locator("#estimate")
    expect(estimate).to_have_text(re.compile(
        rf"^About [\d,]+ words per second \(.+\): {ESTIMATE} per epoch, {DURATION} in all\.$"))
    shoot(page, "flow-05-train-form")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_role("heading", name="Training job")).to_be_visible()
    job_id = page.url.rstrip("/").rsplit("/", 1)[1]
    home = pages.new()  # the home page, open beside the job page, follows the job too
    home.goto("/")
    row = home.locator(f"tr[data-job-id='{job_id}']")
    expect(row.locator(".state")).not_to_have_text(re.compile("finished|failed|cancelled"))
    home.evaluate("window.__stillHere = true")

    seen = watch_job(page)
    final = seen[-1]
    shoot(page, "flow-06-job-finished")
    assert final["state"] == "finished", page.locator("#job-error").inner_text()
    assert all(v["sameDocument"] for v in seen[1:]), "the job page reloaded itself"

    values = [v["value"] for v in seen]
    assert values == sorted(values) and final["value"] == 1 and final["percent"] == "100.0%"
    assert len({v for v in values if 0 < v < 1}) >= 2, f"the bar barely moved: {values}"
    bar = page.locator("#job-progress")
    assert bar.evaluate("b => b.position") == 1.0  # what the bar draws: the whole track full

    totals = [sum(len(d["values"]) for d in v["chart"]) for v in seen]
    assert totals == sorted(totals) and len(set(totals)) >= 3, f"the chart did not grow: {totals}"
    etas = [v["eta"] for v in seen if v["state"] == "training" and v["eta"]]
    assert etas and all(re.fullmatch(rf"{ESTIMATE} left", e) for e in etas), etas

    history = stack.get(f"/api/jobs/{job_id}?since=0")["history"]
    evaluations = [e for e in history if e["event"] == "evaluation"]
    datasets = {d["label"]: d for d in final["chart"]}
    assert datasets["validation"]["values"] == pytest.approx([e["valid_loss"] for e in evaluations])
    assert datasets["validation"]["drawn"] == len(evaluations) == 30 // 5 + 1
    assert datasets["training"]["drawn"] == len(evaluations)
    assert pixels_of(page, "loss-chart", TRAIN_COLOR) > 200, "no training line on the canvas"
    samples = page.locator("#samples > li")
    expect(samples).to_have_count(len(evaluations))
    expect(samples.first).to_contain_text(f"epoch {SMALL['Epochs']}")

    expect(row.locator(".state")).to_have_text("finished")
    assert row.locator("progress").evaluate("b => b.value") == 1
    assert home.evaluate("window.__stillHere") is True, "the home page reloaded itself"
    final_job = stack.get(f"/api/jobs/{job_id}")
    assert row.locator(".loss").inner_text() == (
        f"{final_job['train_loss']:.3f} / {final_job['valid_loss']:.3f}")
    home.close()
    return final_job


def cancel_a_second_job(page, stack, corpus: dict) -> None:
    page.get_by_role("link", name="Train a model", exact=True).click()
    page.get_by_label("Corpus", exact=True).select_option(corpus["id"])
    fill_training_form(page, {**SMALL, "Epochs": "200", "Evaluate every": "5"}, SMALL_SELECTS)
    page.get_by_role("button", name="Start training").click()
    expect(page.locator("#job-state")).to_have_text("training", timeout=60_000)
    page.wait_for_function("() => document.getElementById('job-progress').value > 0")
    shoot(page, "flow-07-second-job-training")
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#job-state")).to_have_text("cancelled", timeout=15_000)
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    job_id = page.url.rstrip("/").rsplit("/", 1)[1]
    answer = stack.get(f"/api/jobs/{job_id}")
    assert answer["state"] == "cancelled" and answer["fraction_done"] < 1
    assert page.locator("#job-progress").evaluate("b => b.value") == pytest.approx(
        answer["fraction_done"], abs=0.02)
    shoot(page, "flow-08-second-job-cancelled")


def play(page, stack, job: dict) -> None:
    page.goto(job["url"])
    page.get_by_role("link", name="Play with the model").click()
    expect(page.get_by_role("heading", name="Continue a sentence")).to_be_visible()
    model_api = f"/api/models/{job['model_id']}"

    form = page.locator("form[data-question=generate]")
    form.get_by_label("Prefix").fill("I think")
    form.get_by_label("Seed").fill("4")
    form.get_by_role("button", name="Sample").click()
    result = page.locator("#result-generate")
    expect(result.locator("ol.samples li")).to_have_count(3)
    expected = stack.post(f"{model_api}/generate", {"prefix": "I think", "seed": 4,
                                                    "num_samples": 3, "max_length": 20,
                                                    "temperature": 1.0}, expect=200)
    shown = result.locator("ol.samples li").all_inner_texts()
    assert len(shown) == len(expected["samples"]) > 0
    for text, sample in zip(shown, expected["samples"], strict=True):
        assert text.startswith(sample["text"]) and sample["text"].startswith("i think ")
    expect(result).to_have_attribute("aria-busy", "false")

    sentences = ["i think it is a good idea .", "idea good a is it think i ."]
    page.get_by_label("Sentences, one per line").fill("\n".join(sentences))
    page.get_by_role("button", name="Score").click()
    ranked = page.locator("#result-score ol.ranked > li")
    expect(ranked).to_have_count(2)
    expected = stack.post(f"{model_api}/score", {"sentences": sentences}, expect=200)["ranked"]
    assert [r.locator("p").first.inner_text() for r in ranked.all()] == [r["text"] for r in expected]
    shown_bits = [float(re.search(r"([\d.]+) bits in all", r.inner_text()).group(1))
                  for r in ranked.all()]
    assert shown_bits == sorted(shown_bits)  # most probable (fewest bits) first
    assert shown_bits == pytest.approx([r["bits"] for r in expected], abs=0.006)
    shoot(page, "flow-09-playground")


def test_upload_train_cancel_and_play(page, pages, stack, tmp_path):
    corpus = upload_and_preprocess(page, stack, tmp_path)
    check_report(page, corpus)
    job = train_and_watch(page, pages, stack, corpus)
    cancel_a_second_job(page, stack, corpus)
    play(page, stack, job)
