"""A worker killed whole (main process and pool, as when its host dies) while another worker
is idle, and nobody restarts it: its message stays unacknowledged in Redis for the visibility
timeout (hours), so only the idle worker's sweep (worker.sweep) can take the job over. It does
within about RNNLAB_STALE_AFTER_S plus the sweep interval, resumes from the last checkpoint and
finishes.
"""
from __future__ import annotations

import signal
import sys
import time
import uuid
from pathlib import Path

import pytest

from faultkit import preprocessed, reddit_or_generated, start_job, until_final, wait_job
from integration.stack import Process

pytestmark = pytest.mark.integration

STALE_AFTER_S = 10  # the smallest the settings allow
SWEEP_INTERVAL_S = 2
# The last heartbeat comes up to a second before the kill; a loaded machine answers slowly.
SLACK_S = 20


def node_name(process: Process) -> str:
    """The worker's name before "@" (its -n option), as Job.worker_host starts."""
    return process.command[process.command.index("-n") + 1].partition("@")[0]


def test_an_idle_worker_takes_over_the_job_of_a_worker_that_vanished(live_stack_factory,
                                                                     tmp_path):
    stack = live_stack_factory(RNNLAB_STALE_AFTER_S=STALE_AFTER_S,
                               RNNLAB_SWEEP_INTERVAL_S=SWEEP_INTERVAL_S)
    celery = str(Path(sys.executable).parent / "celery")
    second = Process("second", [celery, "-A", "worker.celery_app", "worker", "--loglevel", "INFO",
                                "--without-mingle", "--without-gossip",
                                "-n", f"second-{uuid.uuid4().hex[:8]}@%h"],
                     stack.env, stack.root / "logs" / "second-worker.log")
    second.start()
    try:
        stack._wait("second worker", lambda: " ready." in second.log(), 90, second)
        corpus = preprocessed(stack, reddit_or_generated(tmp_path))
        job = start_job(stack, corpus["id"], nepoch=6)
        checkpoint = stack.data_dir / "jobs" / job["id"] / "checkpoint.npz"
        running = wait_job(stack, job["id"], lambda j: j["epoch"] >= 1 and checkpoint.exists())
        workers = {node_name(p): p for p in (stack.worker, second)}
        busy_name = running["worker_host"].partition("@")[0]
        busy = workers.pop(busy_name)
        (idle_name, idle), = workers.items()

        busy.kill(signal.SIGKILL)  # the process group: main process and pool, nobody restarts it
        killed = time.monotonic()
        taken = wait_job(stack, job["id"], lambda j: j["attempts"] == 2, timeout=120,
                         interval=0.2)
        took = time.monotonic() - killed
        assert taken["worker_host"].partition("@")[0] == idle_name
        assert took < STALE_AFTER_S + SWEEP_INTERVAL_S + SLACK_S, took
        print(f"taken over {took:.1f} s after the kill (stale after {STALE_AFTER_S} s, "
              f"sweep every {SWEEP_INTERVAL_S} s)")

        final = until_final(stack, job["id"])
        assert final["state"] == "finished", final["error"]
        assert final["attempts"] == 2 and "resumed from epoch" in final["message"]
        assert f"sweep: job {job['id']} sent no heartbeat" in idle.log()
        assert not busy.alive()
    finally:
        second.kill(signal.SIGTERM)
