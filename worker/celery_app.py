"""The Celery app: `celery -A worker.celery_app worker` runs it.

Settings come from the environment (``webapp.settings.load_settings``), read here and nowhere else
in the worker. The configuration is the one long tasks need: JSON only, late acknowledgement, one
message prefetched per process, soft and hard time limits, and a Redis visibility timeout longer
than the hard limit so that Redis never hands a running job to a second worker. Job state lives
in the database, so there is no result backend.

A worker listens on the queues RNNLAB_WORKER_QUEUES names ("cpu,preprocess" by default; "gpu" on
a machine with a GPU, which takes the JAX engine's jobs; ``-Q`` on the command line overrides it).
Preprocessing has a queue of its own, "preprocess": the Procfile runs a one-process worker that
listens only there, so a corpus is preprocessed at once even while every training slot is busy.
Files reach other hosts through the artifact store (``webapp.artifacts``).
"""
from __future__ import annotations

import logging

from celery import Celery
from kombu import Exchange, Queue

from webapp.settings import QUEUE_CPU, QUEUE_PREPROCESS, Settings, load_settings

TASK_NAMES = ("worker.tasks.preprocess_corpus", "worker.tasks.train_model")
# The worker logs at INFO (worker_hijack_root_logger), and PyTensor reports its own set-up at
# INFO when a task first imports it: "Suppressed KeyError in PyTensorConfigParser.add" six times
# and g++'s 2,000-character list of -march=native flags. Nothing there is for the person reading
# the log; PyTensor's warnings and errors still come through.
logging.getLogger("pytensor").setLevel(logging.WARNING)


def make_celery(settings: Settings) -> Celery:
    """Build the worker's Celery app for ``settings``."""
    app = Celery("rnnlab", broker=settings.redis_url, include=["worker.tasks", "worker.warmup"])
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        # A child killed mid-run (out of memory, say) puts its message back; the task's claim
        # then resumes the job from its checkpoint or gives up after a few attempts.
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # When Redis goes away mid-run, keep training: the job's state and progress live in the
        # database, and the message Redis hands out again later finds the job held or done.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_concurrency=settings.worker_concurrency,
        task_time_limit=settings.train_time_limit_s,
        task_soft_time_limit=settings.train_soft_time_limit_s,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=True,
        task_default_queue=QUEUE_CPU,
        # Preprocessing sent without a queue named (a retry, a re-sent message) goes to its own.
        task_routes={"worker.tasks.preprocess_corpus": {"queue": QUEUE_PREPROCESS}},
        # Each queue on its own exchange and key: left to Celery's defaults, a "gpu" queue would
        # also be bound to the "cpu" exchange and key, and could be handed CPU work.
        task_queues=[Queue(name, Exchange(name, type="direct"), routing_key=name)
                     for name in settings.worker_queues],
        rnnlab_data_dir=str(settings.data_dir),
        rnnlab_artifact_store=settings.artifact_store,
        rnnlab_s3_endpoint_url=settings.s3_endpoint_url,
        rnnlab_database_url=settings.database_url,
        rnnlab_stale_after_s=settings.stale_after_s,
        rnnlab_warmup=settings.warmup,
        rnnlab_sweep_interval_s=settings.sweep_interval_s,
    )
    return app


app = make_celery(load_settings())
