"""Whether a worker is there for a job, in words for the training form and the job pages.

The web app learns which workers are connected the way the form learns of GPU workers: it asks
them through Redis in the background (``TaskQueue.workers``), so no page waits for the answer.
From the last look:

- No worker listens on a job's queue: a job sent there waits until one starts. The form says so
  before a job is started, and a queued job's page says so instead of only "Waiting".
- A running job's worker (``Job.worker_host``) did not answer, and the job has sent no heartbeat
  for a while before the look: its worker is gone. The page says "Worker lost, will resume" at
  once rather than "Training" until RNNLAB_STALE_AFTER_S has passed, after which another worker
  takes the job over from its last checkpoint (``worker.claims``).

When Redis cannot be reached nothing is said here: the engine note and the 503 answers say that.
"""
from __future__ import annotations

from flask import current_app

from webapp.queue import WorkersLook
from webapp.records import JOB_RUNNING_STATES, Job
from webapp.settings import QUEUE_CPU

# A worker's heartbeat comes every 5 s (worker.claims.HEARTBEAT_INTERVAL_S); silence for more than
# two of them before a look that did not hear from the worker means it is gone, not busy.
HEARTBEAT_GRACE_S = 12.0


def _look() -> WorkersLook:
    return current_app.extensions["rnnlab_queue"].workers(wait=False)


def _nobody_listens(queue: str) -> bool:
    queues = _look().queues
    return queues is not None and queue not in queues


def missing_worker_note(queue: str = QUEUE_CPU) -> str | None:
    """A sentence when no connected worker listens on ``queue``; None when one does (or when
    Redis cannot be reached, which is said elsewhere)."""
    if not _nobody_listens(queue):
        return None
    return (f"No worker is connected to the {queue} queue now, so a job started now waits until "
            f"one starts (the Procfile's worker, or `celery -A worker.celery_app worker`).")


def worker_lost(job: Job) -> bool:
    """The running job's worker did not answer the last look and has gone quiet."""
    if job.state not in JOB_RUNNING_STATES or not job.worker_host:
        return False
    look = _look()
    if look.hosts is None or job.worker_host in look.hosts:
        return False
    if job.heartbeat_at is None:
        return True
    return (look.asked_at - job.heartbeat_at).total_seconds() > HEARTBEAT_GRACE_S


def job_message(job: Job) -> str | None:
    """The job's message, or what the workers' absence means for it."""
    if worker_lost(job):
        return (f"Worker lost, will resume: {job.worker_host} stopped answering. The job goes on "
                f"from its last checkpoint when a worker takes it over.")
    queue = job.queue or QUEUE_CPU
    if job.state == "queued" and _nobody_listens(queue):
        # Keep what the job's own message adds in brackets (such as its real vocabulary).
        remark = (job.message or "").partition("(")[2].rstrip(")")
        return f"Waiting for a worker: none is connected to the {queue} queue." + (
            f" ({remark})" if remark else "")
    return job.message
