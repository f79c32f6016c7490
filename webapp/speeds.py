"""What an estimate learns from this server: the training speeds its workers measured, and the
jobs training now. ``estimate_run`` hands both, with the machine's matrix-multiply rate, to
``webapp.estimate``, whose docstring says how they are used.
"""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, or_, select

from rnncore.config import ModelConfig, TrainConfig
from webapp import estimate
from webapp.extensions import db
from webapp.queue import queue_for_engine
from webapp.records import JOB_RUNNING_STATES, Job, TrainedModel, utcnow
from webapp.settings import QUEUE_CPU

# Jobs with a measured speed an estimate looks through (webapp.estimate picks its runs of them).
LOOKBACK_JOBS = 200


def estimate_run(corpus_tokens: int, model_config: ModelConfig, train_config: TrainConfig) -> dict:
    """``webapp.estimate.estimate`` with what this server measured and what trains now."""
    return estimate.estimate(corpus_tokens, model_config, train_config,
                             measured_speeds(model_config.engine),
                             jobs_sharing(queue_for_engine(model_config.engine)),
                             estimate.matmul_flops())


def measured_speeds(engine: str) -> list[tuple[ModelConfig, int, float]]:
    """(config, batch size, steady words/s) of the latest jobs on ``engine`` whose worker measured
    their training speed (``Job.steady_tokens_per_second``), newest first.

    The config is the one the model really had (its vocabulary can be smaller than asked): the
    model's, while the job's model exists.
    """
    rows = db.session.execute(select(
        Job.model_config, Job.train_config, Job.steady_tokens_per_second,
        TrainedModel.model_config).outerjoin(TrainedModel, TrainedModel.id == Job.model_id).where(
        Job.steady_tokens_per_second > 0).order_by(
        func.coalesce(Job.finished_at, Job.heartbeat_at).desc()).limit(LOOKBACK_JOBS)).all()
    out = []
    for asked, train_config, rate, used in rows:
        config = used or asked
        if config.get("engine") == engine:
            out.append((ModelConfig.from_dict(config), int(train_config.get("batch_size", 32)),
                        rate))
    return out


def jobs_sharing(queue_name: str) -> int:
    """The jobs that would train at once on the machine a new job of ``queue_name`` goes to, the
    new one included: 1 plus those of the queue training now (heartbeat within
    RNNLAB_STALE_AFTER_S) on the machine that has fewest of them.

    A machine is the part of ``Job.worker_host`` after "@" (Celery's ``name@host``), so the
    Procfile's two workers count as one. Machines with no job running are not known here; on the
    usual single worker host that is exact.
    """
    fresh = utcnow() - timedelta(seconds=float(current_app.config.get("STALE_AFTER_S") or 60))
    hosts = db.session.scalars(select(Job.worker_host).where(
        Job.state.in_(JOB_RUNNING_STATES), Job.heartbeat_at >= fresh,
        in_queue(queue_name))).all()
    per_machine = Counter((host or "").rpartition("@")[2] for host in hosts)
    return 1 + (min(per_machine.values()) if per_machine else 0)


def in_queue(name: str):
    """Jobs of queue ``name`` (those from before there were two queues all went to "cpu")."""
    return Job.queue == name if name != QUEUE_CPU else or_(Job.queue == QUEUE_CPU,
                                                             Job.queue.is_(None))
