"""A training job from claim to model: preprocess at the job's vocabulary size, train, save.

The job is claimed first (see ``worker.claims``); a job taken over from a worker that died resumes
from its last checkpoint. The finished model is written under the id reserved on the job row, so a
re-delivered message cannot make a second model. Failures end as a sentence on the job row:
rnncore's own errors (bad corpus, diverged loss) as they are, anything else with its type and a
pointer to the worker's log.

Files are computed in this host's data folder and published to the artifact store: checkpoints
as they are written (``worker.publishing``), the model before its row says it exists. A job
taken over from another host first brings the store's checkpoint here.
"""
from __future__ import annotations

import logging
import socket
from dataclasses import replace

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import delete, select

from rnncore import timeline
from rnncore.checkpoint import load_checkpoint
from rnncore.config import ModelConfig, TrainConfig
from rnncore.errors import Cancelled, RnnCoreError
from rnncore.models import build_model, count_classes, split_corpus
from rnncore.train import train_with_sgd
from webapp.artifacts import ArtifactMissing
from webapp.records import Corpus, Job, JobEvent, TrainedModel, storage_problem, utcnow
from worker.claims import Heartbeat, claim, guarded_update, seconds_until_stale
from worker.context import WorkerContext
from worker.corpora import MISSING_UPLOAD, ensure_preprocessed
from worker.kept import (inherit_checkpoint, keep_stopped_model, model_row, resume_remark,
                         write_model)
from worker.probes import GradientProbe
from worker.progress import JobProgress
from worker.publishing import CheckpointPublisher

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


def run_training_job(ctx: WorkerContext, job_id: str, worker_host: str | None = None) -> str:
    """Train a queued job; return "finished", "failed", "cancelled", "skipped" or "lost".

    ``worker_host`` (the Celery worker's name, e.g. ``gpu1@host``) is stored on the job row.
    """
    token = claim(ctx.session_factory, Job, job_id, "preprocessing", ("preprocessing", "training"),
                  extra={"attempts": Job.attempts + 1, "message": "Preparing the corpus",
                         "fraction_done": 0.0, "started_at": utcnow(),
                         "worker_host": (worker_host or socket.gethostname())[:200]},
                  max_attempts=MAX_ATTEMPTS, stale_after_s=ctx.stale_after_s)
    if token is None:
        _give_up_if_exhausted(ctx, job_id)
        return "skipped"
    progress = JobProgress(ctx.session_factory, job_id, token)
    with Heartbeat(ctx.session_factory, Job, job_id, token):
        try:
            outcome = _train(ctx, job_id, token, progress)
        except Cancelled:
            outcome = "lost" if progress.claim_lost else "cancelled"
        except ArtifactMissing as exc:
            log.error("training job %s: %s", job_id, exc)
            outcome = _fail(ctx, job_id, token, MISSING_UPLOAD)
        except (RnnCoreError, ValueError) as exc:
            outcome = _fail(ctx, job_id, token, str(exc))
        except OSError as exc:  # disk full, data folder not writable: the last checkpoint stays
            log.error("training job %s could not write its files: %s", job_id, exc)
            outcome = _fail(ctx, job_id, token, storage_problem(exc, "the training's files") +
                            " The last checkpoint is kept.")
        except SoftTimeLimitExceeded:
            outcome = _fail(ctx, job_id, token, "Training ran past the server's time limit and was "
                            "stopped. Choose fewer epochs or a smaller model.")
        except Exception as exc:
            log.exception("training job %s failed", job_id)
            outcome = _fail(ctx, job_id, token, f"Training stopped on an unexpected error "
                            f"({type(exc).__name__}: {exc}). The worker's log has the details.")
    if outcome == "cancelled":
        kept = keep_stopped_model(ctx, job_id, token, "cancelled")  # before the page stops polling
        guarded_update(ctx.session_factory, Job, job_id, token, state="cancelled",
                       message=f"Cancelled. {kept}".strip(), eta_seconds=None,
                       finished_at=utcnow())
    return outcome


def _train(ctx: WorkerContext, job_id: str, token: str, progress: JobProgress) -> str:
    with ctx.session() as session:
        job = session.get(Job, job_id)
        corpus = session.get(Corpus, job.corpus_id)
    model_config = ModelConfig.from_dict(job.model_config).validate()
    train_config = TrainConfig.from_dict(job.train_config).validate()
    data = ensure_preprocessed(ctx.paths, corpus.id, model_config.vocabulary_size,
                               corpus.text_column, progress.preprocessing_progress,
                               progress.should_stop, store=ctx.store,
                               text_options=corpus.text_options)
    remarks = []  # said on the job while it trains and once it has finished
    if len(data.vocabulary) < model_config.vocabulary_size:
        # A corpus with fewer distinct words than asked for trains on all of them.
        remarks.append(f"the corpus has only {len(data.vocabulary):,} different words with the "
                       f"markers and UNKNOWN_TOKEN, so that is the vocabulary, not "
                       f"{model_config.vocabulary_size:,}")
        model_config = replace(model_config, vocabulary_size=len(data.vocabulary))
    checkpoint_path = ctx.paths.job_checkpoint(job_id)
    checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
    inherit_checkpoint(ctx, job, checkpoint_path)  # "continue training": the source's, once
    checkpoint, figures = _resume_point(ctx, job_id, checkpoint_path)
    if checkpoint is not None:
        remarks.insert(0, resume_remark(job, checkpoint))
    resumed = f" ({'; '.join(remarks)})" if remarks else ""
    progress.phase("training", "Resuming from the last checkpoint" if checkpoint else
                   "Building the model", **figures)
    model = build_model(model_config, train_config)
    train, valid, _ = split_corpus(data.sentences, train_config)
    if checkpoint is not None:
        model.set_params(checkpoint.params)
    else:
        count_classes(model, data.sentences, train_config)
    held_out = valid or [s[:-1] for s in train]  # what the timeline and the gradients read
    progress.phase("training", "Training" + resumed, timeline={
        "prefixes": timeline.shown_prompts(held_out, data.vocabulary, timeline.PROMPTS)})
    publisher = CheckpointPublisher(ctx.store, checkpoint_path, progress)
    probe = GradientProbe(model, data.vocabulary, held_out, publisher)
    try:
        result = train_with_sgd(model, data, train_config, callback=probe,
                                should_stop=progress.should_stop,
                                checkpoint_path=checkpoint_path,
                                resume_state=checkpoint.state if checkpoint else None,
                                num_samples=timeline.PROMPTS)
    except (RnnCoreError, OSError):
        publisher.publish_quietly()  # the checkpoint written as it stopped, for whoever resumes
        raise
    ending = "Finished"
    if result.stopped_early:
        ending = (f"Stopped early: no better validation perplexity in the {train_config.patience} "
                  f"evaluations after epoch {result.best_epoch}")
    return _finish(ctx, job, corpus, token, data.vocabulary, model_config, train_config, result,
                   message=ending + resumed)


def _resume_point(ctx: WorkerContext, job_id: str, checkpoint_path):
    """The checkpoint an earlier attempt left, and the job's figures as they were then.

    History written after that checkpoint is dropped, and the job's figures go back to the last
    point kept, so progress never runs backwards when the run picks up again.
    """
    start = {"fraction_done": 0.0, "epoch": 0, "examples_seen": 0, "tokens_seen": 0}
    # From the store: another host may have written a newer one than a copy left here.
    if ctx.store.refresh(ctx.store.key(checkpoint_path)) is None:
        return None, start
    checkpoint = load_checkpoint(checkpoint_path)
    seen = int(checkpoint.state.get("examples_seen", 0))
    with ctx.session() as session, session.begin():
        session.execute(delete(JobEvent).where(JobEvent.job_id == job_id,
                                               JobEvent.examples_seen > seen))
        last = session.scalars(select(JobEvent).where(JobEvent.job_id == job_id).order_by(
            JobEvent.id.desc()).limit(1)).first()
        if last is not None:
            start = {k: getattr(last, k) for k in start}
        # The history says where the run picked up again (the job page and API show it).
        session.add(JobEvent(job_id=job_id, event="resumed", epoch=int(checkpoint.state.get(
            "epoch", 0)), examples_seen=seen, tokens_seen=int(checkpoint.state.get(
            "tokens_seen", 0)), fraction_done=start["fraction_done"],
            learning_rate=checkpoint.state.get("learning_rate")))
    log.info("job %s resumes from its checkpoint after %d examples", job_id, seen)
    return checkpoint, start


def _finish(ctx, job, corpus, token, vocabulary, model_config, train_config, result,
            message: str = "Finished") -> str:
    # The downloadable model: U, V, W, vocabulary and settings; no optimizer or RNG state.
    model_path = write_model(ctx, job.model_id, result.params, vocabulary, model_config,
                             train_config, result.state)
    with ctx.session() as session, session.begin():
        fresh = session.get(Job, job.id)
        if fresh is None or fresh.claim_token != token:
            return "lost"
        if session.get(TrainedModel, job.model_id) is None:
            session.add(model_row(fresh, corpus, model_config, train_config, model_path, {
                "train_loss": result.train_loss, "valid_loss": result.valid_loss,
                "valid_perplexity": result.valid_perplexity, "best_epoch": result.best_epoch,
                "baselines": result.baselines, "tokens_seen": result.state.get("tokens_seen")}))
        fresh.state, fresh.message, fresh.finished_at = "finished", message, utcnow()
        fresh.fraction_done, fresh.eta_seconds = 1.0, 0.0
    # The checkpoint stays (deleted with the job), so the run can be continued with more epochs.
    return "finished"


def _fail(ctx: WorkerContext, job_id: str, token: str, message: str) -> str:
    kept = keep_stopped_model(ctx, job_id, token, "failed")
    guarded_update(ctx.session_factory, Job, job_id, token, state="failed",
                   error=f"{message} {kept}".strip(), message=None, eta_seconds=None,
                   finished_at=utcnow())
    return "failed"


def _give_up_if_exhausted(ctx: WorkerContext, job_id: str) -> None:
    """A job abandoned MAX_ATTEMPTS times (its worker killed each time) is marked failed."""
    with ctx.session() as session, session.begin():
        job = session.get(Job, job_id)
        if job is None or job.state not in ("preprocessing", "training"):
            return
        if job.attempts >= MAX_ATTEMPTS and seconds_until_stale(job, ctx.stale_after_s) == 0:
            job.state, job.finished_at = "failed", utcnow()
            job.error = (f"The worker stopped {job.attempts} times while running this job (out of "
                         f"memory, or killed). Try a smaller model or batch size.")

