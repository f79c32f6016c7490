"""Markup in a corpus, its column names, the uploaded file's name, the name typed for it, ids in
URLs and playground prefixes is shown as text on every page, never run: no payload appears
unescaped in any HTML answer, every script tag on a page is one of the app's own, and the
escaped payload does appear (so the test saw the text it meant to). Generated text, which is made
of the corpus's words, is checked the same way. (A real browser checks the same in tests/browser.)
"""
from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from urllib.parse import quote

import pytest
from markupsafe import escape

from conftest import TINY_TRAINING, dispose, make_test_app

CORPUS_PAYLOADS = ['<script>alert("corpus")</script>', "<img src=x onerror=alert(1)>",
                   "</textarea><script>alert(2)</script>"]
COLUMN_PAYLOAD = "<b onmouseover=alert(7)>label</b>"
FILE_NAME = "<img src=x onerror=alert(3)>.csv"
TYPED_NAME = "</textarea><script>alert(4)</script>"
PREFIX = "<script>alert(5)</script> the </textarea><img src=x onerror=alert(6)>"
EVERY_PAYLOAD = CORPUS_PAYLOADS + [COLUMN_PAYLOAD, FILE_NAME, TYPED_NAME, PREFIX]


def payload_csv() -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["id", "text", COLUMN_PAYLOAD])
    for i in range(60):
        payload = CORPUS_PAYLOADS[i % len(CORPUS_PAYLOADS)]
        writer.writerow([i, f"{payload} the words around payload number {i} are plain. "
                            f"{payload} ends the row {i}.", payload])
    return out.getvalue().encode()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Two payload corpora (one named by its file, one by a typed name), a model trained on one."""
    from worker.context import WorkerContext
    from worker.corpora import run_preprocessing
    from worker.training import run_training_job

    data_dir = tmp_path_factory.mktemp("escaping") / "data"
    data_dir.mkdir()
    app = make_test_app(data_dir, PLAYGROUND_RATE_LIMIT=None)
    client = app.test_client()
    by_file = client.post("/api/corpora", content_type="multipart/form-data",
                          data={"file": (io.BytesIO(payload_csv()), FILE_NAME)}).get_json()
    by_name = client.post("/api/corpora", content_type="multipart/form-data",
                          data={"file": (io.BytesIO(payload_csv()), "x.csv"),
                                "name": TYPED_NAME}).get_json()
    ctx = WorkerContext.open(app.config["SQLALCHEMY_DATABASE_URI"], data_dir)
    for corpus in (by_file, by_name):
        client.post(f"/api/corpora/{corpus['id']}/preprocess", json={"vocabulary_size": 50})
        assert run_preprocessing(ctx, corpus["id"]) == "ready"
    job = client.post("/api/jobs", json={"corpus_id": by_file["id"], **TINY_TRAINING,
                                         "vocabulary_size": 50}).get_json()
    assert run_training_job(ctx, job["id"]) == "finished"
    ctx.close()
    model_id = client.get(f"/api/jobs/{job['id']}").get_json()["model_id"]
    yield app, client, {"by_file": by_file["id"], "by_name": by_name["id"], "job": job["id"],
                        "model": model_id}
    dispose(app)


class _Tags(HTMLParser):
    """Every start tag of a page, as the browser's parser would see it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def assert_shown_as_text(page: str, where: str) -> None:
    for payload in EVERY_PAYLOAD:
        assert payload not in page, (where, payload)
    parser = _Tags()
    parser.feed(page)
    for tag, attrs in parser.tags:
        # The corpus page draws its histogram as an SVG of its own making: that one is allowed.
        histogram = tag == "svg" and set(attrs) == {"viewbox", "role", "aria-labelledby"} and \
            attrs["aria-labelledby"] == "length-histogram-title"
        assert histogram or tag not in ("img", "svg", "iframe", "object", "embed"), \
            (where, tag, attrs)
        handlers = [name for name in attrs if name.startswith("on")]
        assert not handlers, (where, tag, handlers)
        if tag == "script":
            assert (attrs.get("src") or "").startswith("/static/") or \
                attrs.get("type") == "application/json", (where, attrs)
    assert page.count("</textarea") == page.count("<textarea"), where


def in_page_json(text: str) -> str:
    """How Flask's tojson writes ``text`` inside a page (a JSON string, HTML-safe)."""
    encoded = json.dumps(text)[1:-1]
    for char, code in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("'", "\\u0027")):
        encoded = encoded.replace(char, code)
    return encoded


def test_pages_show_corpus_text_names_and_columns_as_text(lab):
    app, client, ids = lab
    pages = {url: client.get(url) for url in (
        "/", "/corpora/upload", f"/corpora/{ids['by_file']}", f"/corpora/{ids['by_name']}",
        f"/jobs/{ids['job']}", "/jobs/new", f"/models/{ids['model']}")}
    for url, response in pages.items():
        assert response.status_code == 200, url
        assert_shown_as_text(response.get_data(as_text=True), url)
    home = pages["/"].get_data(as_text=True)
    assert str(escape(FILE_NAME)) in home and str(escape(TYPED_NAME)) in home
    preview = pages[f"/corpora/{ids['by_file']}"].get_data(as_text=True)
    assert str(escape(CORPUS_PAYLOADS[0])) in preview and str(escape(COLUMN_PAYLOAD)) in preview


def test_generated_samples_are_shown_as_text(lab):
    app, client, ids = lab
    history = client.get(f"/api/jobs/{ids['job']}?since=0").get_json()["history"]
    samples = [s for e in history for s in e["samples"]]
    marked = [s for s in samples if "<" in s or ">" in s]
    assert marked, "the model never produced markup characters; the check would prove nothing"
    page = client.get(f"/jobs/{ids['job']}").get_data(as_text=True)
    for sample in marked:
        assert sample not in page
        # in the list of samples as escaped HTML, and in the page's JSON with \u003c escapes
        assert str(escape(sample)) in page
        assert in_page_json(sample) in page


@pytest.mark.parametrize("question, field", [("generate", "prefix"), ("next-words", "prefix"),
                                             ("score", "sentences")])
def test_playground_answers_show_prefixes_and_generated_text_as_text(lab, question, field):
    app, client, ids = lab
    page = client.post(f"/models/{ids['model']}/{question}", data={field: PREFIX, "seed": "1"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert_shown_as_text(text, question)
    assert "&lt;script&gt;" in text  # the prefix came back, escaped
    if question == "generate":  # the same samples as the API's, each escaped
        api = client.post(f"/api/models/{ids['model']}/generate",
                          json={"prefix": PREFIX, "seed": 1}).get_json()
        # The run a sample shares with the corpus is marked (<mark> is the page's own tag).
        unmarked = text.replace("<mark>", "").replace("</mark>", "")
        assert all(str(escape(sample["text"])) in unmarked for sample in api["samples"])


@pytest.mark.parametrize("url", ["/jobs/{p}", "/corpora/{p}", "/models/{p}", "/api/jobs/{p}"])
def test_ids_in_urls_come_back_escaped(lab, url):
    app, client, _ = lab
    payload = "<img src=x onerror=alert(8)>"
    response = client.get(url.format(p=quote(payload, safe="")))
    assert response.status_code == 404
    if url.startswith("/api/"):
        assert response.mimetype == "application/json"
    else:
        assert payload not in response.get_data(as_text=True)
        assert str(escape(payload)) in response.get_data(as_text=True)


def test_a_refused_column_name_comes_back_escaped(lab):
    app, client, ids = lab
    page = client.post(f"/corpora/{ids['by_file']}/preprocess",
                       data={"column": TYPED_NAME, "vocabulary_size": "50"})
    assert page.status_code == 400
    assert_shown_as_text(page.get_data(as_text=True), "preprocess")


def test_answers_forbid_inline_scripts(lab):
    app, client, ids = lab
    policy = client.get(f"/jobs/{ids['job']}").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
