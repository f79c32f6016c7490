"""Issue 11 through the web app: a pre-tokenized, one-sentence-per-row corpus, as its author wrote it.

The corpus is written here (tests/written_corpora.py): newswire-style rows with ``<unk>``, N, "inc."
and "co.", split the Treebank way, lowercase. Upload, the suggested choices, preprocessing on its
own queue, the report (markers, splitter, vocabulary candidates, histogram), choosing a smaller
vocabulary by re-indexing, the training form and job that reuse it, the playground that shows the
corpus's ``<unk>``, and an old database that lacks the new columns.
"""
from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from conftest import TINY_TRAINING, dispose, drain_tasks, make_test_app, upload
from rnncore.vocabulary import UNKNOWN_TOKEN
from webapp.corpus_options import WAITING, WAITING_ON_CPU
from written_corpora import newswire_rows, write_csv

AS_WRITTEN = {"one_sentence_per_row": True, "pretokenized": True}
# Under 0.5 MB (a larger upload is spooled to a temporary file), with some 2,800 different words.
ROWS, NAMES = 6_000, 50_000


@pytest.fixture
def newswire(tmp_path):
    return write_csv(tmp_path / "newswire.csv", newswire_rows(ROWS, names=NAMES))


def _checked(page: str, name: str) -> bool:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
    return " checked" in tag


def _preprocess(client, worker_ctx, corpus_id: str, **body) -> dict:
    from worker.corpora import run_preprocessing

    response = client.post(f"/api/corpora/{corpus_id}/preprocess", json=body)
    assert response.status_code == 202, response.get_json()
    assert run_preprocessing(worker_ctx, corpus_id) == "ready"
    return client.get(f"/api/corpora/{corpus_id}").get_json()


def test_upload_suggests_both_choices_and_shows_what_they_do(client, newswire):
    with open(newswire, "rb") as f:
        response = client.post("/corpora/upload", data={"file": (f, "n.csv")},
                               content_type="multipart/form-data")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "This text looks already tokenized" in page and "&lt;unk&gt;" in page
    assert _checked(page, "one_sentence_per_row") and _checked(page, "pretokenized")
    assert _checked(page, "lowercase")
    combos = json.loads(re.search(r'id="tokenized-data">(.*?)</script>', page, re.S).group(1))
    assert len(combos) == 8
    rows = newswire_rows(3, names=NAMES)  # seeded: the file's first rows
    expected = [w if w != "<unk>" else UNKNOWN_TOKEN for w in rows[0].lower().split()]
    assert combos["1-1-1"][0] == [["SENTENCE_START", *expected, "SENTENCE_END"]]
    # read the tutorial's way (NLTK's tokenizer, Punkt), <unk> is still one token
    tokens = [t for row in combos["0-0-1"] for sentence in row for t in sentence]
    assert UNKNOWN_TOKEN in tokens and not {"<", ">", "unk"} & set(tokens)
    corpus_id = response.headers["Location"].rsplit("/", 1)[1]
    corpus = client.get(f"/api/corpora/{corpus_id}").get_json()
    assert corpus["suggested_options"]["pretokenized"] is True
    assert corpus["text_options"] == {"one_sentence_per_row": False, "pretokenized": False,
                                      "lowercase": True}  # nothing chosen yet


def test_ordinary_text_gets_no_suggestion(client, corpus_csv):
    corpus = upload(client, corpus_csv).get_json()
    page = client.get(f"/corpora/{corpus['id']}").get_data(as_text=True)
    assert "looks already tokenized" not in page
    assert not _checked(page, "pretokenized") and _checked(page, "lowercase")


def test_preprocessing_goes_to_its_own_queue_and_says_what_it_waits_for(app, client, newswire):
    corpus = upload(client, newswire).get_json()
    answer = client.post(f"/api/corpora/{corpus['id']}/preprocess", json=AS_WRITTEN).get_json()
    assert answer["message"] == WAITING and "training" in WAITING
    assert answer["text_options"] == {**AS_WRITTEN, "lowercase": True}
    assert drain_tasks(app, queues=("cpu", "gpu")) == []
    page = client.get(f"/corpora/{corpus['id']}").get_data(as_text=True)
    assert WAITING in page and "never waits for training jobs" in page
    assert ">A worker is preprocessing" not in page  # nobody is, yet
    assert drain_tasks(app, queues=("preprocess",)) == [
        ("worker.tasks.preprocess_corpus", [corpus["id"]])]


def test_without_a_preprocessing_worker_it_goes_to_cpu_and_says_so(app, client, newswire,
                                                                     monkeypatch):
    queue = app.extensions["rnnlab_queue"]
    monkeypatch.setattr(queue, "worker_queues", lambda wait=True: {"cpu"})
    corpus = upload(client, newswire).get_json()
    answer = client.post(f"/api/corpora/{corpus['id']}/preprocess", json={}).get_json()
    assert answer["message"] == WAITING_ON_CPU
    assert drain_tasks(app, queues=("cpu",)) == [("worker.tasks.preprocess_corpus", [corpus["id"]])]


def test_bad_choices_are_refused_in_words(client, newswire):
    corpus = upload(client, newswire).get_json()
    answer = client.post(f"/api/corpora/{corpus['id']}/preprocess", json={"pretokenized": "maybe"})
    assert answer.status_code == 400 and "true or false" in answer.get_json()["error"]


def test_the_report_of_the_corpus_as_written(client, worker_ctx, newswire):
    corpus = upload(client, newswire).get_json()
    ready = _preprocess(client, worker_ctx, corpus["id"], vocabulary_size=8000, **AS_WRITTEN)
    report = ready["report"]
    rows = newswire_rows(ROWS, names=NAMES)
    assert report["sentences"] == len(rows)
    assert report["sentence_splitter"] == "rows" and report["unknown_spelling"] == "<unk>"
    marked = sum(r.split().count("<unk>") for r in rows) / report["tokens"]
    assert report["marked_unknown_share"] == pytest.approx(marked)
    assert report["unknown_share"] >= marked > 0
    # the vocabulary the corpus really has, on the row and in the report
    assert ready["vocabulary_size"] == report["vocabulary_size"] == report["max_vocabulary_size"]
    assert report["vocabulary_size"] < 8000
    page = client.get(f"/corpora/{corpus['id']}").get_data(as_text=True)
    assert "none: each row is one sentence" in page
    assert "One sentence per row" in page and "words split on spaces" in page
    assert "the corpus itself wrote as <code>&lt;unk&gt;</code>" in page
    assert 'id="vocabulary-candidates"' in page and "Use 2,000 words" in page
    home = client.get("/").get_data(as_text=True)
    assert f">{report['vocabulary_size']:,}</td>" in home and ">8,000</td>" not in home


def test_histogram_bars_are_as_wide_as_their_bins(client, worker_ctx, newswire):
    from webapp.views.corpora import histogram_bars

    corpus = upload(client, newswire).get_json()
    report = _preprocess(client, worker_ctx, corpus["id"], **AS_WRITTEN)["report"]
    page = client.get(f"/corpora/{corpus['id']}").get_data(as_text=True)
    rects = re.findall(r'<rect class="bar" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" '
                       r'height="([\d.]+)"', page)
    drawn = [b for b in report["length_histogram"] if not b.get("tail")]
    assert len(rects) == len(drawn) > 3
    assert len({w for _, _, w, _ in rects}) == 1  # one width: the bins are equal
    tallest = max(b["count"] for b in drawn)
    for (_, _, _, height), b in zip(rects, drawn):
        assert float(height) == pytest.approx(180 * b["count"] / tallest, abs=0.01)
    # an old report's unequal bins: widths follow the bins, areas the counts
    old = histogram_bars([{"lo": 1, "hi": 5, "count": 50}, {"lo": 6, "hi": 10, "count": 50},
                          {"lo": 11, "hi": 30, "count": 100}])
    widths = [b["w"] for b in old["bars"]]
    assert widths[2] == pytest.approx(4 * widths[0], abs=0.02)  # (rounded to 0.01 px)
    areas = [b["w"] * b["h"] for b in old["bars"]]
    assert areas[2] == pytest.approx(2 * areas[0], rel=1e-3) and not old["equal"]


def test_a_smaller_vocabulary_is_a_re_indexing_and_the_training_form_reuses_it(
        client, worker_ctx, newswire, data_dir):
    corpus = upload(client, newswire).get_json()
    first = _preprocess(client, worker_ctx, corpus["id"], vocabulary_size=8000, **AS_WRITTEN)
    # The text is not read again: a broken upload does not matter to a re-indexing.
    (data_dir / "corpora" / corpus["id"] / "source.csv").write_bytes(b"\x00broken")
    chosen = _preprocess(client, worker_ctx, corpus["id"], vocabulary_size=2000)
    report = chosen["report"]
    assert chosen["vocabulary_size"] == report["vocabulary_size"] == 2000
    assert chosen["text_options"] == {**AS_WRITTEN, "lowercase": True}  # kept from before
    candidate = {c["size"]: c for c in first["report"]["vocabulary_candidates"]}[2000]
    assert report["unknown_share"] == pytest.approx(candidate["unknown_share"])
    form = client.get(f"/jobs/new?corpus={corpus['id']}").get_data(as_text=True)
    assert re.search(r'name="vocabulary_size"[^>]*value="2000"', form)


def test_a_job_has_the_vocabulary_the_corpus_can_give_and_the_playground_writes_unk(
        client, worker_ctx, tmp_path):
    from worker.training import run_training_job

    path = write_csv(tmp_path / "small.csv", newswire_rows(400))
    corpus = upload(client, path).get_json()
    ready = _preprocess(client, worker_ctx, corpus["id"], vocabulary_size=60, **AS_WRITTEN)
    most = ready["report"]["max_vocabulary_size"]
    job = client.post("/api/jobs", json={"corpus_id": corpus["id"], **TINY_TRAINING,
                                         "vocabulary_size": 8000}).get_json()
    assert job["model_config"]["vocabulary_size"] == most  # the home page and title say this
    assert "not 8,000" in job["message"]
    home = client.get("/").get_data(as_text=True)
    assert f"V{most} ·" in home and "V8000" not in home
    assert run_training_job(worker_ctx, job["id"]) == "finished"
    model_id = client.get(f"/api/jobs/{job['id']}").get_json()["model_id"]
    url = f"/api/models/{model_id}"
    nexts = client.post(f"{url}/next-words", json={"prefix": "the company said",
                                                    "k": min(50, most)}).get_json()
    words = [c["word"] for c in nexts["candidates"]]
    assert "<unk>" in words and UNKNOWN_TOKEN not in words and "<" not in words
    scored = client.post(f"{url}/score", json={"sentences": ["the <unk> plan rose ."]}).get_json()
    ranked = scored["ranked"][0]
    assert ranked["unknown_words"] == [] and ranked["tokens"][1] == "<unk>"
    generated = client.post(f"{url}/generate", json={"prefix": "the <unk>", "seed": 1}).get_json()
    assert all(s["text"].startswith("the <unk>") for s in generated["samples"])
    assert generated["unknown_words"] == []


def test_an_old_database_gains_the_new_columns(tmp_path):
    """A database made before the choices existed: its corpora table lacks the two columns."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    app = make_test_app(data_dir)
    dispose(app)
    database = data_dir / "rnnlab.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute("ALTER TABLE corpora DROP COLUMN text_options")
        connection.execute("ALTER TABLE corpora DROP COLUMN preview")
        connection.execute(
            "INSERT INTO corpora (id, name, source, state, size_bytes, columns, text_column, "
            "vocabulary_size, fraction_done, created_at, updated_at) VALUES ('old1', 'old', "
            "'upload', 'uploaded', 10, '[\"text\"]', 'text', 8000, 0, '2025-01-01', '2025-01-01')")
    app = make_test_app(data_dir)
    try:
        client = app.test_client()
        assert client.get("/corpora/old1").status_code == 200
        assert client.get("/api/corpora/old1").get_json()["text_options"]["lowercase"] is True
        assert client.get("/").status_code == 200
    finally:
        dispose(app)
    with sqlite3.connect(database) as connection:
        names = {row[1] for row in connection.execute("PRAGMA table_info(corpora)")}
    assert {"text_options", "preview"} <= names


def test_the_worker_routes_preprocessing_to_its_own_queue():
    from webapp.settings import load_settings
    from worker.celery_app import make_celery
    from worker.corpora import BASE_VOCABULARY_SIZE
    from webapp.hyperparameters import FIELDS_BY_NAME

    app = make_celery(load_settings({}))
    assert app.conf.task_routes["worker.tasks.preprocess_corpus"] == {"queue": "preprocess"}
    assert BASE_VOCABULARY_SIZE == FIELDS_BY_NAME["vocabulary_size"].hi
    procfile = (Path(__file__).resolve().parents[1] / "Procfile").read_text()
    assert re.search(r"^preprocess: .*celery .* -Q preprocess --concurrency 1", procfile, re.M)


def test_a_file_preprocessed_by_an_older_version_is_made_again(client, worker_ctx, corpus_csv,
                                                                 data_dir):
    """Files from before markers stayed whole have no candidates in their report: read again."""
    from rnncore.preprocess import PreprocessedCorpus

    corpus = upload(client, corpus_csv).get_json()
    _preprocess(client, worker_ctx, corpus["id"], vocabulary_size=60)
    folder = data_dir / "corpora" / corpus["id"]
    (own,) = folder.glob("vocab-60-*.npz")
    old = PreprocessedCorpus.load(own)
    old.report = {k: v for k, v in old.report.items() if k != "vocabulary_candidates"}
    old.save(own)
    for base in folder.glob("vocab-20000-*.npz"):
        base.unlink()
    again = _preprocess(client, worker_ctx, corpus["id"], vocabulary_size=60)
    assert "vocabulary_candidates" in again["report"]
    assert "vocabulary_candidates" in PreprocessedCorpus.load(own).report
