"""Rows as JSON-able dicts: what the API returns and what the pages' scripts read."""
from __future__ import annotations

from datetime import datetime

from flask import url_for
from sqlalchemy import select

from webapp import actions, deletion, workers
from webapp import corpus_options
from webapp.estimate import describe_seconds
from webapp.extensions import db
from webapp.records import Corpus, Job, JobEvent, TrainedModel

JOB_PROGRESS = ("fraction_done", "epoch", "examples_seen", "tokens_seen", "train_loss",
                "valid_loss", "valid_perplexity", "learning_rate", "tokens_per_second",
                "eta_seconds")


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") + "Z" if moment else None


def corpus_dict(corpus: Corpus) -> dict:
    return {
        "id": corpus.id,
        "name": corpus.name,
        "source": corpus.source,
        "state": corpus.state,
        "size_bytes": corpus.size_bytes,
        "columns": corpus.columns or [],
        "text_column": corpus.text_column,
        "vocabulary_size": corpus.vocabulary_size,
        "text_options": corpus_options.chosen(corpus).to_dict(),
        "suggested_options": ((corpus.preview or {}).get("suggestions") or {}).get(
            corpus.text_column),
        "fraction_done": corpus.fraction_done,
        "message": corpus.message,
        "error": corpus.error,
        "report": corpus.report,
        "created_at": iso(corpus.created_at),
        "url": url_for("corpora.detail", corpus_id=corpus.id),
    }


def event_dict(event: JobEvent) -> dict:
    return {
        "id": event.id,
        "event": event.event,
        "epoch": event.epoch,
        "examples_seen": event.examples_seen,
        "tokens_seen": event.tokens_seen,
        "fraction_done": event.fraction_done,
        "train_loss": event.train_loss,
        "valid_loss": event.valid_loss,
        "valid_perplexity": event.valid_perplexity,
        "learning_rate": event.learning_rate,
        "samples": event.samples or [],
        "gradient_norms": event.gradient_norms,
    }


def comparison(best: dict | None, baselines: dict | None) -> str:
    """How the model compares with the trigram counter, in one sentence for the pages."""
    trigram = (baselines or {}).get("trigram_perplexity")
    counter = f"trigram counter: {trigram:,.1f}" if trigram else ""
    if not best:
        return f"The {counter} validation perplexity." if trigram else ""
    model = best["valid_perplexity"]
    text = f"This model: {model:,.1f} validation perplexity (best evaluation, epoch {best['epoch']})"
    if not trigram:
        return text + "."
    verdict = (f"{100 * (1 - model / trigram):.0f}% lower, better" if model < trigram
               else "the counter is still better")
    mixture = (baselines or {}).get("mixture")
    mixed = (f"; the two mixed ({100 * mixture['rnn_weight']:.0f}% network): "
             f"{mixture['perplexity']:,.1f}") if mixture else ""
    return f"{text}; {counter} ({verdict}){mixed}."


def job_dict(job: Job, history_since: int | None = None) -> dict:
    """A job; with ``history_since`` (an event id, 0 for all) its loss history after that event."""
    total_epochs = int(job.train_config.get("nepoch", 0))
    out = {
        "id": job.id,
        "name": job.name,
        "corpus_id": job.corpus_id,
        "continued_from": job.continued_from,
        "state": job.state,
        "message": workers.job_message(job),  # what the workers' absence means, if it does
        "worker_lost": workers.worker_lost(job),
        "error": job.error,
        "cancel_requested": job.cancel_requested,
        "attempts": job.attempts,
        "queue": job.queue,
        "worker_host": job.worker_host,
        "queue_position": actions.queue_position(job),
        "model_config": job.model_config,
        "train_config": job.train_config,
        "nepoch": total_epochs,
        "estimated_epoch_seconds": job.estimated_epoch_seconds,
        "eta_text": describe_seconds(job.eta_seconds) if job.eta_seconds is not None else None,
        # None once the model is deleted, so no page links to a model that is gone.
        "model_id": job.model_id if deletion.live_model(job) is not None else None,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "url": url_for("jobs.detail", job_id=job.id),
        "continue_url": url_for("api.continue_job", job_id=job.id),
        "best": job.best,
        "baselines": job.baselines or {},
        "comparison": comparison(job.best, job.baselines),
        # The learning timeline's prompts, {"prefixes": [...]}; None for jobs from before it.
        "timeline": job.timeline,
        **{k: getattr(job, k) for k in JOB_PROGRESS},
    }
    if history_since is not None:
        events = db.session.scalars(select(JobEvent).where(
            JobEvent.job_id == job.id, JobEvent.id > history_since).order_by(JobEvent.id)).all()
        out["history"] = [event_dict(e) for e in events]
    return out


def model_dict(model: TrainedModel) -> dict:
    return {
        "id": model.id,
        "name": model.name,
        "job_id": model.job_id,
        "corpus_id": model.corpus_id,
        "model_config": model.model_config,
        "train_config": model.train_config,
        "train_loss": model.train_loss,
        "valid_loss": model.valid_loss,
        "valid_perplexity": model.valid_perplexity,
        "best_epoch": model.best_epoch,
        "baselines": model.baselines or {},
        "comparison": comparison({"epoch": model.best_epoch, "valid_perplexity":
                                  model.valid_perplexity} if model.best_epoch is not None
                                 and model.valid_perplexity else None, model.baselines),
        "tokens_seen": model.tokens_seen,
        "size_bytes": model.size_bytes,
        "created_at": iso(model.created_at),
        "url": url_for("models.playground_page", model_id=model.id),
        "download_url": url_for("models.download", model_id=model.id),
    }
