"""Several people at once on one worker: two uploads at the same moment both arrive whole, jobs
wait their turn in the order they were started and each page says its place in the queue, one
browser may keep only a few jobs waiting (429 in words), and an upload over the size limit is
turned away by the real server with the limit in words and nothing stored.
"""
from __future__ import annotations

import signal
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import write_corpus
from faultkit import (SMALL, Browser, files_under, history, page, preprocessed,
                      reddit_or_generated, start_job, until_final, wait_job)

pytestmark = pytest.mark.integration


def multipart(name: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: text/csv\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_two_uploads_at_once_both_arrive(live_stack, tmp_path):
    stack = live_stack
    files = [reddit_or_generated(tmp_path), write_corpus(tmp_path / "second.csv", rows=400)]
    browsers = [Browser(stack.base_url), Browser(stack.base_url)]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda pair: pair[0].upload(pair[1]), zip(browsers, files)))
    assert [status for status, _ in answers] == [201, 201], answers
    corpora = [corpus for _, corpus in answers]
    assert corpora[0]["id"] != corpora[1]["id"]
    for corpus, path in zip(corpora, files):
        stored = stack.data_dir / "corpora" / corpus["id"] / "source.csv"
        assert stored.read_bytes() == path.read_bytes()
        assert corpus["size_bytes"] == path.stat().st_size


def test_jobs_wait_their_turn_and_each_page_says_where(live_stack, tmp_path):
    stack = live_stack
    corpus = preprocessed(stack, reddit_or_generated(tmp_path))
    first = start_job(stack, corpus["id"], nepoch=200)  # trains until cancelled below
    wait_job(stack, first["id"], lambda j: j["state"] == "training")
    second = start_job(stack, corpus["id"], nepoch=1, seed=2)
    third = start_job(stack, corpus["id"], nepoch=1, seed=3)

    status, answer = stack.request("POST", "/api/jobs", (
        '{"corpus_id": "%s", "engine": "numpy", "vocabulary_size": 500}' % corpus["id"]).encode(),
        {"Content-Type": "application/json"})
    assert status == 429
    assert "You already have 3 training jobs queued or running" in answer["error"]
    other = Browser(stack.base_url)  # another person is not held back by the first one's jobs
    status, fourth = other.request("POST", "/api/jobs", {"corpus_id": corpus["id"], **SMALL,
                                                         "nepoch": 1, "seed": 4})
    assert status == 202, fourth

    positions = [stack.get(f"/api/jobs/{job['id']}")["queue_position"]
                 for job in (first, second, third, fourth)]
    assert positions == [None, 1, 2, 3]
    for job, place in ((second, 1), (third, 2), (fourth, 3)):
        status, html = page(stack, f"/jobs/{job['id']}")
        assert status == 200 and f"number {place} in the queue" in html

    stack.post(f"/api/jobs/{first['id']}/cancel", {}, expect=200)
    finals = [until_final(stack, job["id"]) for job in (first, second, third, fourth)]
    assert [f["state"] for f in finals] == ["cancelled", "finished", "finished", "finished"]
    # Run in the order they were queued: each job's first history point comes after the last
    # one of the job before it.
    histories = [stack.get(f"/api/jobs/{job['id']}?since=0")["history"]
                 for job in (second, third, fourth)]
    for earlier, later in zip(histories, histories[1:]):
        assert earlier[-1]["id"] < later[0]["id"]


def test_an_upload_over_the_limit_is_turned_away_by_the_server(live_stack_factory, tmp_path):
    stack = live_stack_factory(MAX_UPLOAD_MB=1)
    token = stack.get("/api/csrf-token")["csrf_token"]
    before = files_under(stack.data_dir)
    body, content_type = multipart("big.csv", b"id,text\n" + b"1,some words here\n" * 150_000)
    assert len(body) > 2 * 1024 * 1024
    status, answer = stack.request("POST", "/api/corpora", body,
                                   {"Content-Type": content_type, "X-CSRFToken": token})
    assert status == 413
    assert "larger than the 1 MB limit" in answer["error"]
    assert files_under(stack.data_dir) - before <= {"rnnlab.sqlite3-shm", "rnnlab.sqlite3-wal"}
    assert stack.get("/api/corpora") == {"corpora": []}
    small = stack.upload(write_corpus(tmp_path / "small.csv"))  # and the server carries on
    assert small["state"] == "uploaded"


def test_places_in_line_follow_the_order_the_jobs_were_sent(live_stack, tmp_path):
    """Rows made in one order and sent in another (two requests at once) wait, and start, in the
    order they were sent: the place each page shows is the one Redis hands them out in."""
    import sqlite3
    from datetime import datetime, timedelta

    stack = live_stack
    corpus = preprocessed(stack, reddit_or_generated(tmp_path))
    stack.worker.kill(signal.SIGTERM)  # nobody takes them while the rows are reordered
    jobs = [start_job(stack, corpus["id"], nepoch=1, seed=seed) for seed in (1, 2, 3)]
    # The race, made certain: the last job sent has the oldest row.
    with sqlite3.connect(stack.data_dir / "rnnlab.sqlite3") as db:
        for age, job in enumerate(jobs):
            made = datetime(2020, 1, 1) - timedelta(minutes=age)
            db.execute("UPDATE jobs SET created_at = ? WHERE id = ?",
                       (made.strftime("%Y-%m-%d %H:%M:%S.%f"), job["id"]))
    positions = [stack.get(f"/api/jobs/{job['id']}")["queue_position"] for job in jobs]
    assert positions == [1, 2, 3]
    stack.post(f"/api/jobs/{jobs[0]['id']}/cancel", {}, expect=200)
    assert [stack.get(f"/api/jobs/{job['id']}")["queue_position"] for job in jobs] == [None, 1, 2]

    stack.start("worker")
    finals = [until_final(stack, job["id"]) for job in jobs]
    assert [f["state"] for f in finals] == ["cancelled", "finished", "finished"]
    second, third = (history(stack, job["id"]) for job in jobs[1:])
    assert second[-1]["id"] < third[0]["id"]  # the second one sent ran first
