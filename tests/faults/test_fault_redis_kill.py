"""Redis killed (SIGKILL) while a job trains, and started again ten seconds later, with the worker
run as the Procfile runs it (two processes, under scripts.supervise).

The Celery worker may then die on kombu's reconnection bug ("Unrecoverable error:
AttributeError('NoneType' object has no attribute 'hostname')", celery/celery#9250): it lets the
running job finish and exits. Its supervisor starts it again, so the job sent after the outage is
taken and finishes; before, it waited "queued, number 1" for good.
"""
from __future__ import annotations

import logging
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from faultkit import preprocessed, reddit_or_generated, start_job, until_final, wait_job
from integration.stack import REPO, LiveStack

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

OUTAGE_S = 10
SHOWN = re.compile(r"Connection to broker lost|Restoring \d+ unacknowledged|Unrecoverable error|"
                   r"supervise: |Connected to redis|job \S+: (finished|skipped)| ready\.$")


def procfile_command(name: str) -> list[str]:
    """The Procfile's line for ``name``, run as honcho runs it (a shell, the virtualenv first)."""
    lines = dict(line.split(":", 1) for line in (REPO / "Procfile").read_text().splitlines()
                 if ":" in line and not line.startswith("#"))
    return ["/bin/sh", "-c", f'PATH="{Path(sys.executable).parent}:$PATH"; exec {lines[name]}']


@pytest.fixture
def procfile_stack(tmp_path):
    stack = LiveStack(tmp_path / "stack", WORKER_CONCURRENCY=2)  # the default concurrency
    stack.worker.command = procfile_command("worker")
    stack.start()
    yield stack
    stack.stop()


def test_a_job_sent_after_redis_was_killed_is_taken(procfile_stack, tmp_path):
    stack = procfile_stack
    corpus = preprocessed(stack, reddit_or_generated(tmp_path))
    first = start_job(stack, corpus["id"], nepoch=6)
    wait_job(stack, first["id"], lambda j: j["epoch"] >= 1)
    stack.redis.kill(signal.SIGKILL)
    time.sleep(OUTAGE_S)
    stack.start("redis")
    finished = until_final(stack, first["id"])
    assert (finished["state"], finished["attempts"]) == ("finished", 1), finished["error"]

    second = start_job(stack, corpus["id"], nepoch=1, seed=2)
    try:
        done = until_final(stack, second["id"], timeout=180)
    finally:
        lines = [line for line in stack.worker.log().splitlines() if SHOWN.search(line)]
        log.warning("the worker's log, abridged:\n%s", "\n".join(lines))
    assert done["state"] == "finished", done["error"]
    assert stack.worker.alive()  # the supervisor: still there, whatever its worker did
    if any("Unrecoverable error" in line for line in lines):
        assert any("starting it again" in line for line in lines)
