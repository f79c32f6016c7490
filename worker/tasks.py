"""The Celery tasks: an id in, an rnncore call through ``worker.corpora`` / ``worker.training``,
the record out. Names are explicit and equal to their dotted path; the web app sends them by name.

A message can arrive twice (a worker killed mid-run puts it back). The claim in the runner makes
the second delivery harmless; when the first worker may still be alive, the task checks again
after the heartbeat would have gone stale, and takes the job over if it has. Every message goes
back to the queue it came from (preprocessing: "preprocess"; a job: the queue the web app chose
and its row names), so a GPU job is never taken by a CPU worker. Each worker also sweeps for work
whose worker vanished without a restart (``worker.sweep``).
"""
from __future__ import annotations

import logging

from celery import current_app
from celery.signals import worker_ready, worker_shutdown
from sqlalchemy import select

from webapp.records import Corpus, Job
from webapp.settings import QUEUE_CPU, QUEUE_PREPROCESS
from worker.celery_app import app
from worker.claims import seconds_until_stale
from worker.context import WorkerContext, context_for
from worker.corpora import run_preprocessing
from worker.sweep import Sweeper
from worker.training import run_training_job

log = logging.getLogger(__name__)

RECHECK_RETRIES = 3
RUNNING_STATES = ("preprocessing", "training")


def worker_context(conf=None) -> WorkerContext:
    """This process's context for the app's settings (``conf``: the current app's)."""
    conf = current_app.conf if conf is None else conf
    return context_for(conf.rnnlab_database_url, conf.rnnlab_data_dir, conf.rnnlab_stale_after_s,
                       conf.rnnlab_artifact_store, conf.rnnlab_s3_endpoint_url)


def queue_of(row) -> str:
    """The queue a row's work goes to: a corpus's to "preprocess"; a job's to the one its row
    names (jobs made before there were two queues went to "cpu")."""
    if isinstance(row, Corpus):
        return QUEUE_PREPROCESS
    return getattr(row, "queue", None) or QUEUE_CPU


def _recheck_in(ctx: WorkerContext, record, row_id: str) -> tuple[float, str] | None:
    """Seconds until a row that another worker holds would count as abandoned, and the queue
    to ask again on; None if not held."""
    with ctx.session() as session:
        row = session.get(record, row_id)
    if row is None or row.state not in RUNNING_STATES:
        return None
    return seconds_until_stale(row, ctx.stale_after_s) + 2, queue_of(row)


@app.task(name="worker.tasks.preprocess_corpus", bind=True, max_retries=RECHECK_RETRIES)
def preprocess_corpus(self, corpus_id: str) -> str:
    """Preprocess one corpus and store its report."""
    ctx = worker_context()
    outcome = run_preprocessing(ctx, corpus_id)
    if outcome == "skipped" and (again := _recheck_in(ctx, Corpus, corpus_id)) is not None:
        # Back to the queue it came from: "preprocess", or "cpu" where no worker serves that.
        arrived = (self.request.delivery_info or {}).get("routing_key") or QUEUE_PREPROCESS
        raise self.retry(countdown=again[0], queue=arrived)
    log.info("corpus %s: %s", corpus_id, outcome)
    return outcome


@app.task(name="worker.tasks.train_model", bind=True, max_retries=RECHECK_RETRIES)
def train_model(self, job_id: str) -> str:
    """Train one job to a model (or to failed / cancelled)."""
    ctx = worker_context()
    outcome = run_training_job(ctx, job_id, worker_host=self.request.hostname)
    if outcome == "skipped" and (again := _recheck_in(ctx, Job, job_id)) is not None:
        raise self.retry(countdown=again[0], queue=again[1])
    log.info("job %s: %s", job_id, outcome)
    return outcome


def requeue_abandoned(ctx: WorkerContext) -> list[str]:
    """Send again the work of every row left running, timed for when its claim goes stale.

    After a crash Redis would redeliver those messages only once the visibility timeout (hours)
    has passed; a worker that starts sends them again now. A row whose worker is in fact alive
    keeps its fresh heartbeat, so the extra message finds it held and ends.
    """
    sent = []
    with ctx.session() as session:
        corpora = session.scalars(select(Corpus).where(Corpus.state == "preprocessing")).all()
        jobs = session.scalars(select(Job).where(Job.state.in_(RUNNING_STATES))).all()
    for task, rows in ((preprocess_corpus, corpora), (train_model, jobs)):
        for row in rows:
            task.apply_async(args=[row.id], queue=queue_of(row),
                             countdown=seconds_until_stale(row, ctx.stale_after_s) + 1)
            sent.append(row.id)
    return sent


@worker_ready.connect
def _requeue_on_start(sender=None, **_kwargs) -> None:
    try:
        sent = requeue_abandoned(worker_context())
    except Exception:
        log.exception("could not look for abandoned work")
        return
    if sent:
        log.info("sent again the work of %d rows left running: %s", len(sent), ", ".join(sent))


def send_again(row) -> None:
    """Send now the task that resumes a corpus or job row, to its queue (the sweep's ``send``)."""
    task = preprocess_corpus if isinstance(row, Corpus) else train_model
    task.apply_async(args=[row.id], queue=queue_of(row))


_sweepers: list[Sweeper] = []


@worker_ready.connect
def _start_sweeping(sender=None, **_kwargs) -> None:
    """Each worker's main process sweeps for abandoned work (worker.sweep), taking the settings
    from this module's app: the thread has no current app of its own."""
    _sweepers.append(Sweeper(lambda: worker_context(app.conf), send_again,
                             app.conf.rnnlab_sweep_interval_s).start())


@worker_shutdown.connect
def _stop_sweeping(sender=None, **_kwargs) -> None:
    while _sweepers:
        _sweepers.pop().stop()
