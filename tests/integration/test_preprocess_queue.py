"""Preprocessing never waits behind training: the Procfile's two workers, as separate processes.

The training worker has two slots, both busy with jobs; a 1 MB pre-tokenized corpus uploaded then
is preprocessed by the small worker that listens only on the "preprocess" queue, and is ready
within 10 s while both jobs still train. Its waiting message says what it waits for.
"""
from __future__ import annotations

import logging
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import LONG_TRAINING, write_corpus
from integration.stack import LiveStack, Process
from written_corpora import csv_text, newswire_rows, write_csv

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

READY_WITHIN_S = 10.0


class ProcfileStack(LiveStack):
    """LiveStack with the Procfile's second worker: one process, the "preprocess" queue only."""

    def __init__(self, root: Path, **env):
        super().__init__(root, **env)
        celery = str(Path(sys.executable).parent / "celery")
        self.processes["preprocess"] = Process(
            "preprocess", [celery, "-A", "worker.celery_app", "worker", "--loglevel", "INFO",
                           "-Q", "preprocess", "--concurrency", "1", "--without-mingle",
                           "--without-gossip", "-n", f"preprocess-{uuid.uuid4().hex[:8]}@%h"],
            self.env, self.root / "logs" / "preprocess.log")

    def start(self, *names: str, timeout: float = 90) -> "ProcfileStack":
        super().start(*(names or ("redis", "web", "worker")), timeout=timeout)
        if not names:
            process = self.processes["preprocess"]
            process.start()
            self._wait("preprocessing worker", lambda: " ready." in process.log(), timeout,
                       process)
        return self

    def stop(self) -> None:
        self.processes["preprocess"].kill(signal.SIGTERM)
        super().stop()


@pytest.fixture
def stack(tmp_path):
    made = ProcfileStack(tmp_path / "stack", WORKER_CONCURRENCY=2).start()
    yield made
    made.stop()


def _ready(stack, path, body: dict) -> tuple[dict, float, list[str]]:
    """Upload and preprocess ``path``; the corpus once ready, the seconds it took, its messages."""
    corpus = stack.upload(path)
    start = time.monotonic()
    queued = stack.post(f"/api/corpora/{corpus['id']}/preprocess", body, expect=202)
    messages = [queued["message"]]
    while True:
        corpus = stack.get(f"/api/corpora/{corpus['id']}")
        messages.append(corpus["message"])
        if corpus["state"] in ("ready", "failed"):
            return corpus, time.monotonic() - start, messages
        assert time.monotonic() - start < 120, corpus
        time.sleep(0.1)


def test_a_1mb_corpus_is_ready_within_10s_while_two_jobs_train(stack, tmp_path):
    small, _, _ = _ready(stack, write_corpus(tmp_path / "small.csv", rows=300),
                         {"vocabulary_size": 60})
    # patience 0: never stop early, so both keep training through the measurement
    jobs = [stack.post("/api/jobs", {"corpus_id": small["id"], **LONG_TRAINING, "seed": seed,
                                     "patience": 0}, expect=202)["id"] for seed in (1, 2)]
    deadline = time.monotonic() + 60
    while not all(stack.get(f"/api/jobs/{j}")["state"] == "training" for j in jobs):
        assert time.monotonic() < deadline, [stack.get(f"/api/jobs/{j}") for j in jobs]
        time.sleep(0.2)

    rows = newswire_rows(20_000, seed=5)
    while len(csv_text(rows[:-100])) >= 1_000_000:
        rows = rows[:-100]
    path = write_csv(tmp_path / "newswire-1mb.csv", rows)
    assert path.stat().st_size >= 1_000_000
    corpus, seconds, messages = _ready(stack, path, {
        "vocabulary_size": 8000, "one_sentence_per_row": True, "pretokenized": True})
    log.info("1 MB pre-tokenized corpus ready in %.1f s while two jobs trained", seconds)
    print(f"\n1 MB pre-tokenized corpus ready in {seconds:.1f} s while two jobs trained")
    assert corpus["state"] == "ready", corpus["error"]
    assert corpus["report"]["sentences"] == len(rows)
    assert "preprocessing worker" in messages[0] and "training" in messages[0]
    assert seconds < READY_WITHIN_S
    assert all(stack.get(f"/api/jobs/{j}")["state"] == "training" for j in jobs)
    assert "] Task worker.tasks.preprocess_corpus[" in stack.processes["preprocess"].log()

    # The same text read the tutorial's way (NLTK's tokenizer, English Punkt) is also not held up.
    again, seconds, _ = _ready(stack, path, {"vocabulary_size": 8000})
    print(f"the same corpus with NLTK's tokenizer and Punkt: ready in {seconds:.1f} s")
    assert again["state"] == "ready" and again["report"]["sentence_splitter"] == "punkt_tab"
    assert seconds < 3 * READY_WITHIN_S  # about 6 s on a busy 2-core machine: 5x the CPU work
    assert all(stack.get(f"/api/jobs/{j}")["state"] == "training" for j in jobs)
    for job in jobs:
        stack.post(f"/api/jobs/{job}/cancel", expect=200)
