"""The Celery tasks: an id in, an rnncore call through ``worker.corpora`` / ``worker.training``,
the record out. Names are explicit and equal to their dotted path; the web app sends them by name.

A message can arrive twice (a worker killed mid-run puts it back). The claim in the runner makes
the second delivery harmless; when the first worker may still be alive, the task checks again
after the heartbeat would have gone stale, and takes the job over if it has.
"""
from __future__ import annotations

import logging

from celery import current_app
from celery.signals import worker_ready
from sqlalchemy import select

from webapp.records import Corpus, Job
from worker.celery_app import app
from worker.claims import STALE_AFTER_S
from worker.context import WorkerContext, context_for
from worker.corpora import run_preprocessing
from worker.training import claim_is_stale, run_training_job

log = logging.getLogger(__name__)

RECHECK_RETRIES = 3


def worker_context() -> WorkerContext:
    conf = current_app.conf
    return context_for(conf.rnnlab_database_url, conf.rnnlab_data_dir)


def _running_elsewhere(ctx: WorkerContext, record, row_id: str) -> bool:
    with ctx.session() as session:
        row = session.get(record, row_id)
    return row is not None and row.state in ("preprocessing", "training")


@app.task(name="worker.tasks.preprocess_corpus", bind=True, max_retries=RECHECK_RETRIES)
def preprocess_corpus(self, corpus_id: str) -> str:
    """Preprocess one corpus and store its report."""
    ctx = worker_context()
    outcome = run_preprocessing(ctx, corpus_id)
    if outcome == "skipped" and _running_elsewhere(ctx, Corpus, corpus_id):
        raise self.retry(countdown=STALE_AFTER_S + 5)
    log.info("corpus %s: %s", corpus_id, outcome)
    return outcome


@app.task(name="worker.tasks.train_model", bind=True, max_retries=RECHECK_RETRIES)
def train_model(self, job_id: str) -> str:
    """Train one job to a model (or to failed / cancelled)."""
    ctx = worker_context()
    outcome = run_training_job(ctx, job_id)
    if outcome == "skipped" and _running_elsewhere(ctx, Job, job_id):
        raise self.retry(countdown=STALE_AFTER_S + 5)
    log.info("job %s: %s", job_id, outcome)
    return outcome


def requeue_abandoned(ctx: WorkerContext) -> list[str]:
    """Send again the work of rows left running by a worker that died; return their ids.

    Redis would redeliver those messages only after the visibility timeout (hours); a worker
    that starts takes them over now, and resumes training from the last checkpoint.
    """
    sent = []
    with ctx.session() as session:
        corpora = session.scalars(select(Corpus).where(Corpus.state == "preprocessing")).all()
        jobs = session.scalars(select(Job).where(Job.state.in_(("preprocessing", "training")))).all()
    for corpus in corpora:
        if claim_is_stale(corpus):
            preprocess_corpus.delay(corpus.id)
            sent.append(corpus.id)
    for job in jobs:
        if claim_is_stale(job):
            train_model.delay(job.id)
            sent.append(job.id)
    return sent


@worker_ready.connect
def _requeue_on_start(sender=None, **_kwargs) -> None:
    try:
        sent = requeue_abandoned(worker_context())
    except Exception:
        log.exception("could not look for abandoned work")
        return
    if sent:
        log.info("sent again the work of %d abandoned rows: %s", len(sent), ", ".join(sent))
