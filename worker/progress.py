"""rnncore's callbacks for a claimed job: progress into the database, cancellation out of it.

``JobProgress`` is what ``train_with_sgd`` gets as ``callback`` and ``should_stop``. Batch reports
arrive many times a second; they reach the database about once a second (the job row's figures
plus one history point), while evaluations, learning-rate halvings and the end are always written
because the loss curve and its markers are made of them. ``should_stop`` reads the job's cancel
flag at most once a second and also answers True when the claim is lost. The job's
steady-state speed (``worker.speed``) goes onto the row with the figures.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Callable

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from webapp.records import JOB_RUNNING_STATES, Job, JobEvent, utcnow
from worker.claims import HEARTBEAT_INTERVAL_S, guarded_update
from worker.speed import SteadySpeed

log = logging.getLogger(__name__)

ALWAYS_WRITTEN = ("evaluation", "lr_halved", "rolled_back", "finished")
# Written on the job row only, as they are: the best evaluation and the counting baselines.
JOB_DOCUMENTS = ("best", "baselines")
JOB_FIELDS = ("epoch", "examples_seen", "tokens_seen", "train_loss", "valid_loss",
              "valid_perplexity", "learning_rate", "tokens_per_second", "eta_seconds",
              "fraction_done")
# How often the jobs sharing this job's machine are counted, and how fresh their heartbeat must be.
SHARING_CHECK_S = 10.0
SHARING_FRESH_S = 3 * HEARTBEAT_INTERVAL_S


def finite(value):
    """Numbers as JSON and SQL can hold them: NaN and infinities become None."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) or hasattr(value, "item"):
        value = float(value) if not isinstance(value, int) else value
        return value if not isinstance(value, float) or math.isfinite(value) else None
    return value


class JobProgress:
    """Throttled progress writer and cancel check for one claimed job."""

    def __init__(self, session_factory: sessionmaker, job_id: str, token: str,
                 interval: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.session_factory = session_factory
        self.job_id = job_id
        self.token = token
        self.interval = interval
        self.clock = clock
        self.claim_lost = False
        self._last_write = -math.inf
        self._last_check = -math.inf
        self._cancelled = False
        self.speed = SteadySpeed(self._jobs_sharing)
        self._sharing = (-math.inf, 1)  # (when counted, jobs training on this machine)

    def __call__(self, progress: dict) -> None:
        """rnncore's ``callback(progress)``."""
        event = progress.get("event", "batch")
        now = self.clock()
        self.speed.observe(progress, now)
        if event not in ALWAYS_WRITTEN and now - self._last_write < self.interval:
            return
        self._last_write = now
        values = {k: finite(progress[k]) for k in JOB_FIELDS if k in progress}
        if event == "finished":
            values["eta_seconds"] = 0.0
        # The best evaluation and the baselines change only at evaluations and at the end.
        documents = {} if event == "batch" else {
            k: progress[k] for k in JOB_DOCUMENTS if progress.get(k) is not None}
        if self.speed.tokens_per_second is not None:
            documents["steady_tokens_per_second"] = finite(self.speed.tokens_per_second)
        if not guarded_update(self.session_factory, Job, self.job_id, self.token,
                              heartbeat_at=utcnow(), **values, **documents):
            self.claim_lost = True
            return
        self._record_event(event, progress, values)

    def _record_event(self, event: str, progress: dict, values: dict) -> None:
        samples = progress.get("samples") if event == "evaluation" else None
        row = JobEvent(job_id=self.job_id, event=event,
                       samples=[_sample_text(s) for s in samples] if samples else None,
                       gradient_norms=progress.get("gradient_norms") if event == "evaluation"
                       else None,
                       **{k: v for k, v in values.items()
                          if k not in ("tokens_per_second", "eta_seconds")})
        with self.session_factory() as session, session.begin():
            session.add(row)

    def _jobs_sharing(self) -> int:
        """Jobs training on this job's machine (the part of ``worker_host`` after "@"), this one
        included; counted at most every SHARING_CHECK_S."""
        counted, jobs = self._sharing
        now = self.clock()
        if now - counted < SHARING_CHECK_S:
            return jobs
        fresh = utcnow() - timedelta(seconds=SHARING_FRESH_S)
        try:
            with self.session_factory() as session:
                mine = session.scalar(select(Job.worker_host).where(Job.id == self.job_id))
                hosts = session.scalars(select(Job.worker_host).where(
                    Job.state.in_(JOB_RUNNING_STATES), Job.heartbeat_at >= fresh,
                    Job.id != self.job_id)).all()
        except SQLAlchemyError:  # a busy database: the last count will do
            log.warning("could not count the jobs sharing job %s's machine", self.job_id,
                        exc_info=True)
            return jobs
        machine = (mine or "").rpartition("@")[2]
        jobs = 1 + sum(1 for host in hosts if (host or "").rpartition("@")[2] == machine)
        self._sharing = (now, jobs)
        return jobs

    def phase(self, state: str, message: str, **figures) -> None:
        """Move the job to another running state (preprocessing -> training), with its figures."""
        if not guarded_update(self.session_factory, Job, self.job_id, self.token, state=state,
                              message=message, heartbeat_at=utcnow(), **figures):
            self.claim_lost = True

    def preprocessing_progress(self, fraction_done: float, message: str) -> None:
        """rnncore.preprocess's ``progress(fraction_done, message)``, throttled the same way."""
        now = self.clock()
        if now - self._last_write < self.interval and fraction_done < 1.0:
            return
        self._last_write = now
        if not guarded_update(self.session_factory, Job, self.job_id, self.token,
                              fraction_done=finite(fraction_done), message=message,
                              heartbeat_at=utcnow()):
            self.claim_lost = True

    def should_stop(self) -> bool:
        """rnncore's ``should_stop()``: the cancel flag, read at most once per interval."""
        if self.claim_lost or self._cancelled:
            return True
        now = self.clock()
        if now - self._last_check < self.interval:
            return False
        self._last_check = now
        with self.session_factory() as session:
            row = session.execute(select(Job.cancel_requested, Job.claim_token).where(
                Job.id == self.job_id)).one_or_none()
        if row is None or row.claim_token != self.token:
            self.claim_lost = True
        elif row.cancel_requested:
            self._cancelled = True
        return self.claim_lost or self._cancelled


def _sample_text(sample) -> str:
    """A generated sample as text, whether rnncore gives a string, a word list or a dict."""
    if isinstance(sample, str):
        return sample
    if isinstance(sample, dict):
        return str(sample.get("text") or " ".join(sample.get("words", [])))
    return " ".join(str(w) for w in sample)
