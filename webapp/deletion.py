"""Deleting corpora, jobs and models: what goes with each, and in which order.

- A model takes its file (and this process's loaded copy). The job that trained it stays, and
  its page no longer offers the model.
- A job takes its history and its checkpoint; the model it trained stays (it has its own page).
- A corpus takes everything made from it: the uploaded file, its preprocessed files, every job
  trained on it and every model those jobs made, whichever browser started them (the uploaded
  text is the corpus owner's; a model's vocabulary and samples come from it).

Only the owner or the administrator may delete (``webapp.visitors``). Work still running is
cancelled first, as Cancel does, and the request waits up to DELETE_WAIT_S for its worker to
stop, so no worker writes to a row or a file after they are gone; a job whose worker has vanished
(no heartbeat for STALE_AFTER_S) is marked cancelled at once. Rows go before files, in one
transaction, so a failure in between leaves unreachable files, never a row without its files.
A corpus that a worker is preprocessing cannot be deleted until it is done (nothing can stop it).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from webapp import files
from webapp.actions import get_or_404
from webapp.errors import UserError
from webapp.extensions import db
from webapp.records import (JOB_FINAL_STATES, JOB_RUNNING_STATES, Corpus, Job, JobEvent,
                            TrainedModel, utcnow)
from webapp.visitors import current_owner, require_owner

DELETE_WAIT_S = 10.0  # how long a deletion waits for the workers of its running jobs to stop
POLL_S = 0.2


@dataclass
class CorpusContents:
    """What deleting a corpus takes with it (for the confirmation page and the answer)."""

    jobs: list[Job] = field(default_factory=list)
    models: list[TrainedModel] = field(default_factory=list)

    @property
    def unfinished(self) -> list[Job]:
        return [j for j in self.jobs if j.state not in JOB_FINAL_STATES]

    def not_mine(self) -> int:
        """How many of the jobs and models another browser made."""
        owner = current_owner()
        return sum(1 for row in (*self.jobs, *self.models) if row.owner != owner)


def corpus_contents(corpus: Corpus) -> CorpusContents:
    jobs = db.session.scalars(select(Job).where(Job.corpus_id == corpus.id).order_by(
        Job.created_at)).all()
    models = db.session.scalars(select(TrainedModel).where(or_(
        TrainedModel.corpus_id == corpus.id,
        TrainedModel.job_id.in_([j.id for j in jobs]))).order_by(TrainedModel.created_at)).all()
    return CorpusContents(list(jobs), list(models))


def live_model(job: Job) -> TrainedModel | None:
    """The model a job made (finished, or cancelled or failed after its first checkpoint),
    unless it has been deleted since."""
    return db.session.get(TrainedModel, job.model_id) if job.state in JOB_FINAL_STATES else None


def delete_model(model_id: str) -> None:
    """Delete a model's row, its file and its cached copy."""
    model = get_or_404(TrainedModel, model_id, "model")
    require_owner(model, "model", "delete")
    db.session.delete(model)
    db.session.commit()
    _remove_model_files(model.id)


def delete_job(job_id: str) -> None:
    """Delete a job (cancelling it first if it runs), its history and its checkpoint."""
    job = get_or_404(Job, job_id, "job")
    require_owner(job, "job", "delete")
    _stop_jobs([job.id])
    db.session.execute(update(TrainedModel).where(TrainedModel.job_id == job.id).values(
        job_id=None))
    db.session.execute(delete(JobEvent).where(JobEvent.job_id == job.id))
    gone = db.session.execute(delete(Job).where(Job.id == job.id,
                                                Job.state.in_(JOB_FINAL_STATES)))
    if gone.rowcount != 1:  # a worker took it over again in between: try once more later
        db.session.rollback()
        raise _still_running(1)
    db.session.commit()
    files.delete_folder(files.paths().job_dir(job.id))


def delete_corpus(corpus_id: str) -> dict:
    """Delete a corpus with its files, jobs and models; the ids of what went."""
    corpus = get_or_404(Corpus, corpus_id, "corpus")
    require_owner(corpus, "corpus", "delete")
    if corpus.state == "preprocessing":
        raise _preprocessing()
    _stop_jobs([j.id for j in corpus_contents(corpus).jobs])
    contents = corpus_contents(corpus)  # again: a job may have finished (with a model) meanwhile
    job_ids = [j.id for j in contents.jobs]
    model_ids = [m.id for m in contents.models]
    try:
        db.session.execute(delete(TrainedModel).where(TrainedModel.id.in_(model_ids)))
        db.session.execute(delete(JobEvent).where(JobEvent.job_id.in_(job_ids)))
        gone = db.session.execute(delete(Job).where(Job.id.in_(job_ids),
                                                    Job.state.in_(JOB_FINAL_STATES)))
        if gone.rowcount != len(job_ids):
            raise _still_running(len(job_ids) - gone.rowcount)
        if db.session.execute(delete(Corpus).where(
                Corpus.id == corpus.id, Corpus.state != "preprocessing")).rowcount != 1:
            raise _preprocessing()
        db.session.commit()
    except IntegrityError:  # a job was started on it in between
        db.session.rollback()
        raise UserError("A training job was just started on this corpus; delete it again to "
                        "take that one too.", status=409) from None
    except UserError:
        db.session.rollback()
        raise
    files.delete_folder(files.paths().corpus_dir(corpus.id))
    for job_id in job_ids:
        files.delete_folder(files.paths().job_dir(job_id))
    for model_id in model_ids:
        _remove_model_files(model_id)
    return {"deleted": corpus.id, "jobs": job_ids, "models": model_ids}


def _remove_model_files(model_id: str) -> None:
    files.delete_model_file(model_id)
    current_app.extensions["rnnlab_models"].evict(model_id)


def _stop_jobs(job_ids: list[str]) -> None:
    """Cancel the queued jobs among ``job_ids``, ask the workers of the running ones to stop,
    and wait until none runs; UserError 409 when a worker has not stopped in time."""
    if not job_ids:
        return
    now = utcnow()
    db.session.execute(update(Job).where(Job.id.in_(job_ids), Job.state == "queued").values(
        state="cancelled", cancel_requested=True, finished_at=now,
        message="Cancelled before it started"))
    db.session.execute(update(Job).where(Job.id.in_(job_ids), Job.state.in_(
        JOB_RUNNING_STATES)).values(cancel_requested=True, message="Stopping..."))
    db.session.commit()
    wait_s = float(current_app.config.get("DELETE_WAIT_S", DELETE_WAIT_S))
    deadline = time.monotonic() + wait_s
    while True:
        _cancel_abandoned(job_ids)
        running = db.session.scalar(select(func.count()).select_from(Job).where(
            Job.id.in_(job_ids), Job.state.in_(JOB_RUNNING_STATES)))
        db.session.commit()  # ends the read, so that the next one sees the workers' writes
        if not running:
            return
        if time.monotonic() >= deadline:
            raise _still_running(running)
        time.sleep(POLL_S)


def _cancel_abandoned(job_ids: list[str]) -> None:
    """Running jobs whose worker sends no heartbeat have nobody to stop them: cancel them here.
    The same condition a worker's claim uses, so exactly one of the two wins."""
    stale = utcnow() - timedelta(seconds=current_app.config["STALE_AFTER_S"])
    db.session.execute(update(Job).where(
        Job.id.in_(job_ids), Job.state.in_(JOB_RUNNING_STATES),
        or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale)).values(
        state="cancelled", finished_at=utcnow(), message="Cancelled (its worker had stopped)"))


def _still_running(count: int) -> UserError:
    what = "job is" if count == 1 else f"{count} jobs are"
    return UserError(f"The training {what} being cancelled, but the worker has not stopped yet "
                     f"(it stops at its next batch or after an evaluation). Delete again in a "
                     f"few seconds.", status=409)


def _preprocessing() -> UserError:
    return UserError("A worker is preprocessing this corpus right now; delete it once the "
                     "report is shown (or preprocessing has failed).", status=409)
