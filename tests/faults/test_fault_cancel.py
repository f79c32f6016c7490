"""Cancelling a job while it waits in the queue, while it preprocesses, while it trains and while
it measures the loss over the whole corpus: each ends as cancelled within a few seconds, a
training job keeps its last checkpoint, and the worker is free for the next job at once.
"""
from __future__ import annotations

import logging
import time

import pytest

from conftest import SHARED_CORPORA
from faultkit import preprocessed, reddit_or_generated, start_job, timed, until_final, wait_job
from rnncore.checkpoint import load_checkpoint

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

# The worker reads the cancel flag at most once a second, rnncore polls it before each batch and
# about every 0.5 s inside an evaluation; the rest is the page's polling and a loaded machine.
CANCEL_WITHIN_S = 5.0
SHAKESPEARE = SHARED_CORPORA / "tinyshakespeare-speeches.csv"


def cancel_and_time(stack, job_id: str) -> tuple[dict, float]:
    started = time.monotonic()
    stack.post(f"/api/jobs/{job_id}/cancel", {}, expect=200)
    final = until_final(stack, job_id, timeout=60)
    return final, time.monotonic() - started


def test_cancel_while_queued_and_while_training(live_stack, tmp_path):
    stack = live_stack
    corpus = preprocessed(stack, reddit_or_generated(tmp_path))
    running = start_job(stack, corpus["id"], nepoch=200)
    checkpoint = stack.data_dir / "jobs" / running["id"] / "checkpoint.npz"
    wait_job(stack, running["id"], lambda j: j["epoch"] >= 1 and checkpoint.exists())
    waiting = start_job(stack, corpus["id"], nepoch=1, seed=2)
    assert stack.get(f"/api/jobs/{waiting['id']}")["queue_position"] == 1

    answer, took = timed(lambda: stack.post(f"/api/jobs/{waiting['id']}/cancel", {}, expect=200))
    assert answer["state"] == "cancelled" and took < 2.0

    reported = stack.get(f"/api/jobs/{running['id']}")["examples_seen"]
    final, latency = cancel_and_time(stack, running["id"])
    log.info("cancel while training took %.2f s", latency)
    assert final["state"] == "cancelled" and latency < CANCEL_WITHIN_S
    kept = load_checkpoint(checkpoint).state  # written when the run stopped
    assert kept["examples_seen"] >= reported > 0 and kept["epoch"] >= 1

    following = start_job(stack, corpus["id"], nepoch=1, seed=3)
    assert until_final(stack, following["id"])["state"] == "finished"
    never = stack.get(f"/api/jobs/{waiting['id']}")
    assert (never["state"], never["started_at"], never["attempts"]) == ("cancelled", None, 0)


def test_cancel_while_preprocessing_and_while_evaluating(live_stack):
    if not SHAKESPEARE.exists():
        pytest.skip(f"{SHAKESPEARE} is absent; it makes preprocessing and evaluation long enough")
    stack = live_stack
    corpus = preprocessed(stack, SHAKESPEARE, vocabulary_size=8000, timeout=180)
    big = {"vocabulary_size": 8000, "hidden_dim": 100, "nepoch": 1, "engine": "numpy"}

    # The corpus's own vocabulary size: no preprocessing, so the job starts by measuring the loss
    # over all ~11,000 training sentences (seconds on the numpy engine).
    evaluating = start_job(stack, corpus["id"], **big)
    wait_job(stack, evaluating["id"], lambda j: j["message"] == "Training", timeout=60)
    final, latency = cancel_and_time(stack, evaluating["id"])
    log.info("cancel during the first evaluation took %.2f s", latency)
    assert final["state"] == "cancelled" and latency < CANCEL_WITHIN_S
    assert final["epoch"] == 0 and final["examples_seen"] == 0
    kept = load_checkpoint(stack.data_dir / "jobs" / evaluating["id"] / "checkpoint.npz")
    assert (kept.state["epoch"], kept.state["batch_index"], kept.state["loss_history"]) == \
        (0, 0, [])  # the state before the evaluation began, so a resume would redo it exactly

    # Another vocabulary size: the job preprocesses the corpus first.
    preprocessing = start_job(stack, corpus["id"], **{**big, "vocabulary_size": 7000})
    wait_job(stack, preprocessing["id"], lambda j: j["state"] == "preprocessing", timeout=60,
             interval=0.02)
    final, latency = cancel_and_time(stack, preprocessing["id"])
    log.info("cancel while preprocessing took %.2f s", latency)
    assert final["state"] == "cancelled" and latency < CANCEL_WITHIN_S
    assert not list((stack.data_dir / "corpora" / corpus["id"]).glob("vocab-7000-*"))

    following = start_job(stack, corpus["id"], **{**big, "hidden_dim": 4})
    wait_job(stack, following["id"], lambda j: j["state"] == "training", timeout=30)
    assert cancel_and_time(stack, following["id"])[0]["state"] == "cancelled"
