"""Continue training: a new job that starts from an ended job's checkpoint, with more epochs.

The new job copies the settings of the job it continues with ``nepoch`` raised (the one setting
a resumed run may change, as ``rnncore.cli.RESUME_MAY_CHANGE`` says), and its name, figures,
comparison and history, so its page draws the whole curve from epoch 0. The worker copies the
checkpoint (``worker.kept.inherit_checkpoint``) and resumes it bit for bit, so the longer run is
the run that a larger ``nepoch`` would have made. The job it continues stays as it was, model
included. Anyone may continue any run (anyone may train on any corpus); the new job is theirs.
Every job's checkpoint is kept until the job is deleted, finished ones included; jobs that
finished before that have none and cannot be continued (the page does not offer it).
"""
from __future__ import annotations

from dataclasses import replace

from flask import current_app
from sqlalchemy import insert, literal, select

from rnncore.config import ModelConfig, TrainConfig
from webapp import actions, estimate, files, queue, speeds
from webapp.engines import check_engine
from webapp.errors import UserError
from webapp.extensions import db
from webapp.hyperparameters import FIELDS_BY_NAME, coerce
from webapp.records import JOB_FINAL_STATES, Corpus, Job, JobEvent
from webapp.visitors import current_owner

# Figures the new job starts with, as the job it continues ended.
CARRIED = ("epoch", "examples_seen", "tokens_seen", "train_loss", "valid_loss",
           "valid_perplexity", "learning_rate", "best", "baselines", "name", "timeline")


def checkpoint_kept(job: Job) -> bool:
    """Whether ``job`` has ended and left a checkpoint to continue from."""
    if job.state not in JOB_FINAL_STATES:
        return False
    store = files.store()
    try:
        return store.exists(store.key(files.paths().job_checkpoint(job.id)))
    except OSError:  # the store cannot be asked now: the page just does not offer it
        return False


def _more_epochs(value) -> int:
    try:
        return coerce(FIELDS_BY_NAME["nepoch"], value)
    except ValueError as exc:
        raise UserError(f"epochs {exc}.", errors={"epochs": str(exc)}) from None


def continue_job(job_id: str, epochs) -> Job:
    """Queue a job that trains ``job_id``'s run for ``epochs`` more epochs."""
    source = actions.get_or_404(Job, job_id, "job")
    if source.state not in JOB_FINAL_STATES:
        raise UserError("This job is still running; continue it once it has ended.", status=409)
    more = _more_epochs(epochs)
    if not checkpoint_kept(source):
        raise UserError("This job left no checkpoint to continue from (it stopped before its "
                        "first evaluation, or it ended before rnnlab kept them); start a new "
                        "job instead.", status=409)
    corpus = actions.get_or_404(Corpus, source.corpus_id, "corpus")
    if corpus.state != "ready":
        raise UserError("The corpus is being preprocessed again; continue once it is ready.",
                        status=409)
    model_config = ModelConfig.from_dict(source.model_config)
    old = TrainConfig.from_dict(source.train_config)
    nepoch = source.epoch + more  # the checkpoint is at this epoch or before it
    train_config = replace(old, nepoch=nepoch).validate()
    _check_time(corpus, model_config, replace(train_config, nepoch=more,
                                              evaluate_loss_after=min(
                                                  more, old.evaluate_loss_after)))
    check_engine(model_config.engine)
    owner = current_owner(create=True)
    to = queue.queue_for_engine(model_config.engine)
    job = Job(corpus_id=corpus.id, state="queued", model_config=source.model_config,
              train_config=train_config.to_dict(), continued_from=source.id, owner=owner,
              queue=to, estimated_epoch_seconds=source.estimated_epoch_seconds,
              fraction_done=source.fraction_done * old.nepoch / nepoch,
              message=f"Waiting for a worker (continues from epoch {source.epoch} to epoch "
                      f"{nepoch})", **{k: getattr(source, k) for k in CARRIED})
    db.session.add(job)
    db.session.flush()
    actions.check_active_limit(owner)
    _copy_history(source, job, old.nepoch / nepoch)
    db.session.commit()
    actions.send(queue.TRAIN_MODEL, job, actions.delete_row(job), to)
    return job


def _check_time(corpus: Corpus, model_config: ModelConfig, remaining: TrainConfig) -> None:
    """Refuse more epochs than the server's time limit allows for one run."""
    tokens = int((corpus.report or {}).get("tokens") or 0)
    guess = speeds.estimate_run(tokens, model_config, remaining)
    limit = current_app.config["TRAIN_TIME_LIMIT_S"]
    if guess["alone_total_seconds"] > limit:
        message = (f"{remaining.nepoch} more epochs would take "
                   f"{estimate.describe_seconds(guess['alone_total_seconds'])}, more than the "
                   f"server's limit of {estimate.describe_seconds(limit)}; choose fewer")
        raise UserError(message[0].upper() + message[1:] + ".", errors={"epochs": message})


def _copy_history(source: Job, job: Job, scale: float) -> None:
    """The source's history becomes the start of the new job's (its progress fractions
    rescaled to the longer run, so the chart puts every point at its epoch)."""
    names = [c.name for c in JobEvent.__table__.columns
             if c.name not in ("id", "job_id", "fraction_done")]
    rows = select(literal(job.id), JobEvent.fraction_done * scale,
                  *(getattr(JobEvent, n) for n in names)).where(
        JobEvent.job_id == source.id).order_by(JobEvent.id)
    db.session.execute(insert(JobEvent).from_select(["job_id", "fraction_done", *names], rows))
