"""The whole worker killed (its main process and its pool) while a job trains: the job page says
"Worker lost, will resume" within seconds instead of "Training" for a minute, and the form says
that no worker is connected. A worker started again takes the job over from its checkpoint.
"""
from __future__ import annotations

import signal
import time

import pytest

from faultkit import page, preprocessed, reddit_or_generated, start_job, until_final, wait_job

pytestmark = pytest.mark.integration

STALE_AFTER_S = 10  # the smallest the settings allow
SAID_WITHIN_S = 30  # the grace of two heartbeats, a look at the workers, and a loaded machine


def form_says(stack, check, timeout: float = SAID_WITHIN_S) -> None:
    """The form answers from the last look at the workers and asks again behind the page."""
    deadline = time.monotonic() + timeout
    while not check(page(stack, "/jobs/new")[1]):
        assert time.monotonic() < deadline, "the training form never said it"
        time.sleep(0.5)


def test_a_vanished_worker_is_said_at_once_and_its_job_resumes(live_stack_factory, tmp_path):
    stack = live_stack_factory(RNNLAB_STALE_AFTER_S=STALE_AFTER_S)
    corpus = preprocessed(stack, reddit_or_generated(tmp_path))
    # Enough epochs that the job is still training when the test has seen its first checkpoint
    # (on a quiet machine this small model runs an epoch of the reddit sample in well under a
    # second) and short enough to finish soon once resumed.
    job = start_job(stack, corpus["id"], nepoch=40)
    checkpoint = stack.data_dir / "jobs" / job["id"] / "checkpoint.npz"
    wait_job(stack, job["id"], lambda j: j["epoch"] >= 1 and checkpoint.exists())
    form_says(stack, lambda html: "No worker is connected" not in html)

    stack.worker.kill(signal.SIGKILL)  # the process group: main process and pool
    killed = time.monotonic()
    lost = wait_job(stack, job["id"], lambda j: j["worker_lost"], timeout=SAID_WITHIN_S,
                    interval=0.5)
    assert time.monotonic() - killed < SAID_WITHIN_S
    assert lost["state"] == "training"
    assert lost["message"].startswith("Worker lost, will resume")
    assert "Worker lost, will resume" in page(stack, f"/jobs/{job['id']}")[1]
    form_says(stack, lambda html: "No worker is connected to the cpu queue now" in html)

    stack.start("worker")
    final = until_final(stack, job["id"])
    assert final["state"] == "finished", final["error"]
    assert final["attempts"] == 2 and "resumed from epoch" in final["message"]
    assert not final["worker_lost"]
