"""Sending work to the workers: a Celery client that knows the tasks only by name.

The web app never imports ``worker``; the task names below and the database rows are the whole
contract (a test checks the names against the worker's registered tasks). Rows are committed
before their task is sent, so a worker always finds what it was sent for.
"""
from __future__ import annotations

import logging

from celery import Celery

log = logging.getLogger(__name__)

PREPROCESS_CORPUS = "worker.tasks.preprocess_corpus"
TRAIN_MODEL = "worker.tasks.train_model"


class QueueUnavailable(RuntimeError):
    """The broker (Redis) could not be reached."""


class TaskQueue:
    """A thin, JSON-only Celery producer."""

    def __init__(self, broker_url: str, visibility_timeout_s: int):
        self.broker_url = broker_url
        self.celery = Celery("rnnlab-web", broker=broker_url, set_as_current=False)
        self.celery.conf.update(
            task_serializer="json",
            accept_content=["json"],
            broker_transport_options={"visibility_timeout": visibility_timeout_s},
            broker_connection_retry_on_startup=True,
            broker_connection_timeout=3,
            # Give up within a few seconds rather than hang the request when Redis is down.
            task_publish_retry_policy={"max_retries": 2, "interval_start": 0,
                                       "interval_step": 0.5, "interval_max": 1},
        )

    def send(self, task_name: str, row_id: str) -> None:
        """Send ``task_name(row_id)``; QueueUnavailable when the broker cannot be reached."""
        try:
            self.celery.send_task(task_name, args=[row_id])
        except Exception as exc:  # kombu raises several connection error types
            log.warning("could not send %s(%s): %s", task_name, row_id, exc)
            raise QueueUnavailable(
                "The task queue (Redis) cannot be reached, so no worker can start this. "
                "Check that Redis is running and try again.") from exc
