"""Bad uploads through the web app: each is refused with a 4xx a person can act on, the app keeps
answering, and nothing of the upload stays behind (no file in the data folder, no database row).

rnncore.corpus has its own tests for reading these files; here the question is what the upload
path makes of them: the API (JSON) and the upload page (HTML) alike.
"""
from __future__ import annotations

import csv
import gzip
import io
import random

import pytest
from sqlalchemy import func, select

from conftest import dispose, make_test_app
from webapp.extensions import db
from webapp.records import Corpus, Job


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8", newline: str = "\n") -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator=newline).writerows(rows)
    return out.getvalue().encode(encoding)


# About 80 different words: more than the smallest vocabulary (50), far fewer than 8000.
SENTENCES = [[str(i), f"Sentence number {i} says that word{i} is not thing{i} today."]
             for i in range(30)]
FIFTY_NUMBER_COLUMNS = csv_bytes([[f"c{i}" for i in range(50)]]
                                 + [[str(r * 50 + i) for i in range(50)] for r in range(20)])
TEN_MB_FIELD = b'text\n"' + b"word " * (2 * 1_048_576) + b'"\n'

# name, file contents, words the message must contain (case as written)
BAD_FILES = [
    ("empty", b"", ["empty"]),
    ("header only", b"id,text\n", ["header", "no rows"]),
    ("binary", random.Random(1).randbytes(5000), ["binary"]),
    ("gzip", gzip.compress(csv_bytes([["id", "text"], *SENTENCES])), ["gzip", "decompress"]),
    ("html saved as csv", b"<!DOCTYPE html>\n<html><head><title>Comments</title></head>"
     b"<body><table><tr><td>text</td></tr></table></body></html>\n", ["HTML", "raw file"]),
    ("utf-16", csv_bytes([["id", "text"], *SENTENCES], "utf-16"), ["UTF-16", "UTF-8"]),
    ("latin-1", "id,text\n1,Un café crème, s'il vous plaît.\n".encode("latin-1"),
     ["not UTF-8", "Latin-1", "save it as UTF-8"]),
    ("NUL bytes", b"id,text\n1,hello\x00world\n2,more text here\n", ["NUL"]),
    ("single 10 MB field", TEN_MB_FIELD, ["1 MB"]),
    ("unbalanced quotes", b'id,text\n1,"this quote is never closed\n'
     + b"".join(b"%d,more text on row %d\n" % (i, i) for i in range(2, 60)),
     ["never closed", "line 2"]),
    ("semicolon-separated", b"id;text\n1;Hello there, friend.\n2;Another row of text.\n",
     ["semicolon", "comma-separated"]),
    ("50 columns without text", FIFTY_NUMBER_COLUMNS, ["50 columns", "holds text"]),
    ("zip archive", b"PK\x03\x04" + bytes(300), ["zip", "Excel"]),
]


BOUNDARY = b"rnnlab-test-7f3a9c"


def files_under(path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()}


def row_counts(app) -> tuple[int, int]:
    with app.app_context():
        return (db.session.scalar(select(func.count()).select_from(Corpus)),
                db.session.scalar(select(func.count()).select_from(Job)))


def post_file(client, content: bytes, filename: str = "comments.csv", url: str = "/api/corpora"):
    # Built by hand: the test client would spool a large dict body to a file it never closes.
    head = (b'--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
            b"Content-Type: text/csv\r\n\r\n" % (BOUNDARY, filename.encode()))
    return client.post(url, data=head + content + b"\r\n--%s--\r\n" % BOUNDARY,
                       content_type=f"multipart/form-data; boundary={BOUNDARY.decode()}")


@pytest.mark.parametrize("name, content, words", BAD_FILES, ids=[b[0] for b in BAD_FILES])
@pytest.mark.parametrize("url", ["/api/corpora", "/corpora/upload"])
def test_a_bad_file_is_refused_in_words_and_leaves_nothing(app, data_dir, url, name, content,
                                                           words):
    client = app.test_client()
    before = files_under(data_dir)
    response = post_file(client, content, url=url)
    assert response.status_code == 400
    text = response.get_json()["error"] if url.startswith("/api/") else response.get_data(
        as_text=True)
    for word in words:
        assert word in text, (word, text[:500])
    assert files_under(data_dir) == before
    assert row_counts(app) == (0, 0)
    assert client.get("/").status_code == 200  # and the app answers as before


def test_crlf_with_a_byte_order_mark_works(app, data_dir, worker_ctx):
    from worker.corpora import run_preprocessing

    client = app.test_client()
    content = b"\xef\xbb\xbf" + csv_bytes([["id", "text"], *SENTENCES], newline="\r\n")
    corpus = post_file(client, content).get_json()
    assert (corpus["columns"], corpus["text_column"]) == (["id", "text"], "text")
    assert client.post(f"/api/corpora/{corpus['id']}/preprocess",
                       json={"vocabulary_size": 50}).status_code == 202
    assert run_preprocessing(worker_ctx, corpus["id"]) == "ready"
    report = client.get(f"/api/corpora/{corpus['id']}").get_json()["report"]
    assert report["sentences"] == len(SENTENCES)
    assert "\ufeff" not in report["example_sentence"] and "\r" not in report["example_sentence"]


def ready(client, worker_ctx, rows: list[list[str]], vocabulary_size: int = 8000) -> dict:
    from worker.corpora import run_preprocessing

    corpus = post_file(client, csv_bytes([["id", "text"], *rows])).get_json()
    client.post(f"/api/corpora/{corpus['id']}/preprocess",
                json={"vocabulary_size": vocabulary_size})
    assert run_preprocessing(worker_ctx, corpus["id"]) == "ready"
    return client.get(f"/api/corpora/{corpus['id']}").get_json()


def test_a_corpus_smaller_than_the_vocabulary_trains_on_all_its_words_and_says_so(
        app, worker_ctx, data_dir):
    from rnncore.checkpoint import load_checkpoint
    from worker.training import run_training_job

    client = app.test_client()
    corpus = ready(client, worker_ctx, SENTENCES)
    most = corpus["report"]["unique_words"] + 1  # every word, both markers, UNKNOWN_TOKEN
    assert most == corpus["report"]["max_vocabulary_size"] == corpus["vocabulary_size"]
    job = client.post("/api/jobs", json={"corpus_id": corpus["id"], "engine": "numpy",
                                         "vocabulary_size": 8000, "hidden_dim": 4, "nepoch": 1})
    assert job.status_code == 202, job.get_json()
    # the job has the vocabulary it will really have from the start, and says why
    queued = job.get_json()
    assert queued["model_config"]["vocabulary_size"] == most
    assert f"the corpus has only {most} different words" in queued["message"]
    assert "not 8,000" in queued["message"]
    assert run_training_job(worker_ctx, job.get_json()["id"]) == "finished"
    done = client.get(f"/api/jobs/{job.get_json()['id']}").get_json()
    model = client.get(f"/api/models/{done['model_id']}").get_json()
    assert model["model_config"]["vocabulary_size"] == most
    saved = load_checkpoint(data_dir / "models" / f"{done['model_id']}.npz")
    assert saved.params["V"].shape[0] == len(saved.vocabulary) == most


def test_one_sentence_is_not_a_corpus_to_train_on(app, worker_ctx):
    client = app.test_client()
    corpus = ready(client, worker_ctx, [["1", "Only one sentence lives in this file."]])
    assert corpus["report"]["sentences"] == 1
    refused = client.post("/api/jobs", json={"corpus_id": corpus["id"], "vocabulary_size": 50})
    assert refused.status_code == 400
    assert "only 1 sentence" in refused.get_json()["errors"]["corpus_id"]
    assert row_counts(app) == (1, 0)


def test_columns_with_a_few_words_are_kept_and_the_column_is_asked_for(app, data_dir):
    client = app.test_client()
    rows = [[f"c{i}" for i in range(50)]] + [["ab"] * 50 for _ in range(5)]
    corpus = post_file(client, csv_bytes(rows)).get_json()
    assert corpus["text_column"] is None and len(corpus["columns"]) == 50
    refused = client.post(f"/api/corpora/{corpus['id']}/preprocess", json={})
    assert refused.status_code == 400
    assert "Choose which column holds the text" in refused.get_json()["error"]
    assert client.get(f"/api/corpora/{corpus['id']}").get_json()["state"] == "uploaded"


@pytest.mark.parametrize("url", ["/api/corpora", "/corpora/upload"])
def test_an_upload_over_the_limit_is_413_with_the_limit_and_stores_nothing(tmp_path, url):
    data_dir = tmp_path / "small"
    data_dir.mkdir()
    app = make_test_app(data_dir, MAX_CONTENT_LENGTH=1024 * 1024)
    try:
        before = files_under(data_dir)
        response = post_file(app.test_client(), b"id,text\n" + b"1,word word word\n" * 100_000,
                             url=url)
        assert response.status_code == 413
        text = response.get_data(as_text=True)
        assert "larger than the 1 MB limit" in text and "MAX_UPLOAD_MB" in text
        assert files_under(data_dir) == before
        assert row_counts(app) == (0, 0)
    finally:
        dispose(app)
