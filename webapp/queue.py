"""Sending work to the workers: a Celery client that knows the tasks only by name.

The web app never imports ``worker``; the task names below and the database rows are the whole
contract (a test checks the names against the worker's registered tasks). Rows are committed
before their task is sent, so a worker always finds what it was sent for.

Work goes to one of two queues: training on the JAX engine to "gpu", everything else (other
engines, preprocessing) to "cpu"; each worker listens on the queues its RNNLAB_WORKER_QUEUES
names. ``worker_queues`` asks the connected workers which queues they listen on, so the training
form offers the GPU engine only while a GPU worker is there; the answer is kept for half a
minute because asking takes up to a second.

``waiting`` reads a queue as Redis holds it, so a job's place in line is the order in which
workers will take the messages, which is the order they were sent (kombu LPUSHes each message
and workers BRPOP from the other end; one handed back by a lost worker goes to the front). Two
requests can commit their rows in one order and send in the other, so the rows' times are not it.
"""
from __future__ import annotations

import base64
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

# Imported here, before any background thread asks the workers: a module half-imported by one
# thread looks incomplete to another (Flask-Limiter then misreads redis's version).
import redis  # noqa: F401
from celery import Celery

from rnncore.config import JAX_ENGINE
from webapp.records import utcnow
from webapp.settings import QUEUE_CPU, QUEUE_GPU

log = logging.getLogger(__name__)

PREPROCESS_CORPUS = "worker.tasks.preprocess_corpus"
TRAIN_MODEL = "worker.tasks.train_model"
# How long an answer about the connected workers is kept; a failed question, only briefly.
WORKERS_CACHE_S = 30.0
WORKERS_DOWN_CACHE_S = 5.0
WORKERS_REPLY_TIMEOUT_S = 1.0
# Pages answer from a look at most this old (plus one question) and never wait for the workers.
PAGE_STALE_S = 2.0
# When Redis cannot be reached, places in line come from the rows for this long before Redis is
# asked again (a page that polls must not wait for a connection timeout each time).
WAITING_DOWN_CACHE_S = 5.0


def queue_for_engine(engine: str | None) -> str:
    """The queue a training job on ``engine`` goes to."""
    return QUEUE_GPU if engine == JAX_ENGINE else QUEUE_CPU


@dataclass(frozen=True)
class WorkersLook:
    """What a question to the connected workers found; ``hosts`` and ``queues`` are None when
    Redis could not be reached (so nothing is known about the workers)."""

    asked_at: datetime  # when the question was sent (UTC, as the rows' times)
    hosts: set[str] | None  # the workers' names (e.g. "celery@host"), as on Job.worker_host
    queues: set[str] | None  # the queues they listen on


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
        self._workers: tuple[float, WorkersLook] | None = None  # (when asked, answer)
        self._down_since: float | None = None  # when reading a queue last failed
        self._redis = (redis.Redis.from_url(broker_url, socket_connect_timeout=1, socket_timeout=2)
                       if broker_url.startswith(("redis://", "rediss://", "unix://")) else None)
        self._lock = threading.Lock()
        self._refreshing: threading.Thread | None = None

    def send(self, task_name: str, row_id: str, queue: str = QUEUE_CPU) -> None:
        """Send ``task_name(row_id)`` to ``queue``; QueueUnavailable when the broker is down."""
        try:
            self.celery.send_task(task_name, args=[row_id], queue=queue)
        except Exception as exc:  # kombu raises several connection error types
            log.warning("could not send %s(%s): %s", task_name, row_id, exc)
            raise QueueUnavailable(
                "The task queue (Redis) cannot be reached, so no worker can start this. "
                "Check that Redis is running and try again.") from exc

    def waiting(self, queue: str) -> list[tuple[str, str]] | None:
        """(task name, row id) of the messages waiting in ``queue``, the next to be taken first;
        None when that cannot be known (Redis unreachable, or a broker other than Redis)."""
        down_since = self._down_since
        if self._redis is None or (
                down_since is not None and time.monotonic() - down_since < WAITING_DOWN_CACHE_S):
            return None
        try:
            # Messages without a priority (all of rnnlab's) sit in the list named after the queue.
            raw = self._redis.lrange(queue, 0, -1)
        except redis.RedisError as exc:
            log.warning("could not read the %s queue: %s", queue, exc)
            self._down_since = time.monotonic()
            return None
        self._down_since = None
        return [m for m in map(_task_and_row, reversed(raw)) if m is not None]

    def worker_queues(self, wait: bool = True) -> set[str] | None:
        """The queues connected workers listen on (cached); None when Redis cannot be reached."""
        return self.workers(wait).queues

    def workers(self, wait: bool = True) -> WorkersLook:
        """Which workers answered, and on which queues they listen (cached).

        Asking the workers blocks for WORKERS_REPLY_TIMEOUT_S, so pages (``wait=False``) get the
        last answer at once and, when it is more than PAGE_STALE_S old, a fresh one is asked for
        in the background; only the first question a web process asks waits.
        """
        with self._lock:
            cached = self._workers
            if cached is not None and not wait:
                if time.monotonic() - cached[0] > PAGE_STALE_S:
                    self._refresh_in_background()
                return cached[1]
            if cached is not None and self._is_fresh(cached):
                return cached[1]
        return self._refresh()

    def forget_workers(self) -> None:
        """Drop the cached answer, so the next question asks the workers again."""
        with self._lock:
            self._workers = None

    def warm_up(self) -> None:
        """Ask the workers once in the background, so the first page need not wait."""
        with self._lock:
            self._refresh_in_background()

    def _is_fresh(self, cached: tuple[float, WorkersLook]) -> bool:
        asked, answer = cached
        keep = WORKERS_CACHE_S if answer.hosts is not None else WORKERS_DOWN_CACHE_S
        return time.monotonic() - asked < keep

    def _refresh_in_background(self) -> None:
        # Called with the lock held.
        if self._refreshing is None or not self._refreshing.is_alive():
            self._refreshing = threading.Thread(target=self._refresh, daemon=True,
                                                name="rnnlab-worker-queues")
            self._refreshing.start()

    def _refresh(self) -> WorkersLook:
        asked_at = utcnow()
        replies = self._ask_workers()
        answer = WorkersLook(asked_at, None, None) if replies is None else WorkersLook(
            asked_at, set(replies), {q for queues in replies.values() for q in queues})
        with self._lock:
            self._workers = (time.monotonic(), answer)
        return answer

    def _ask_workers(self) -> dict[str, set[str]] | None:
        """Worker name -> the queues it listens on; None when Redis cannot be reached."""
        if self.broker_url.startswith("memory://"):
            return {}  # a broker in this process's memory: no worker can be listening
        try:
            with self.celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=0)  # down: say so at once
                replies = self.celery.control.inspect(
                    timeout=WORKERS_REPLY_TIMEOUT_S, connection=connection).active_queues()
        except Exception as exc:  # kombu raises several connection error types
            log.warning("could not ask the workers for their queues: %s", exc)
            return None
        return {host: {q["name"] for q in queues or ()} for host, queues in (replies or {}).items()}


def _task_and_row(raw: bytes) -> tuple[str, str] | None:
    """(task name, first argument) of a Celery message as kombu stores it in Redis."""
    try:
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        return message["headers"]["task"], args[0]
    except (ValueError, KeyError, IndexError, TypeError):
        return None  # not one of ours (the web app sends JSON only)
