"""Runs side by side: names people give their jobs, and every job of a corpus with its settings
and validation curve, for the corpus page's comparison (chart and table) and its JSON.

A run's curve is its evaluations' validation perplexities by epoch (a continued job's begins
with the history it copied). The trigram counter is fitted on each run's own training split, so
runs that split the corpus alike (the same vocabulary, validation fraction and seed) share one
trigram line, and the comparison draws one line per such split.
"""
from __future__ import annotations

import math

from flask import url_for
from sqlalchemy import select

from webapp import actions
from webapp.errors import UserError
from webapp.extensions import db
from webapp.records import Job, JobEvent
from webapp.visitors import require_owner

MAX_NAME_CHARS = 120
MAX_RUNS = 100  # the newest runs of a corpus that the comparison shows


def clean_name(value) -> str | None:
    """A run's name as kept: printable, trimmed, at most MAX_NAME_CHARS; None when empty."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise UserError("name must be text.", errors={"name": "must be text"})
    name = " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())
    if len(name) > MAX_NAME_CHARS:
        raise UserError(f"A run's name has at most {MAX_NAME_CHARS} characters.",
                        errors={"name": f"at most {MAX_NAME_CHARS} characters"})
    return name or None


def rename_job(job_id: str, name) -> Job:
    """Give a job (a run) a name, or take it away with an empty one; its owner only."""
    job = actions.get_or_404(Job, job_id, "job")
    require_owner(job, "job", "rename")
    job.name = clean_name(name)
    db.session.commit()
    return job


def describe(job: Job) -> str:
    """What a run is called where it has no name: its cell, size, optimizer and rate."""
    model, train = job.model_config, job.train_config
    return (f"{model.get('cell', 'rnn').upper()} {model.get('hidden_dim')} · "
            f"{train.get('optimizer', 'sgd')} · lr {train.get('learning_rate', 0):g}")


def _split_key(job: Job) -> tuple:
    return (job.model_config.get("vocabulary_size"), job.train_config.get("validation_fraction"),
            job.train_config.get("seed"), job.train_config.get("max_sentence_length"))


def run_dict(job: Job, curve: list[dict], gradient_norms: dict | None = None) -> dict:
    model, train = job.model_config, job.train_config
    best = job.best or {}
    return {
        "job_id": job.id, "name": job.name, "label": job.name or describe(job),
        "state": job.state, "continued_from": job.continued_from,
        "cell": model.get("cell", "rnn"), "hidden_dim": model.get("hidden_dim"),
        "vocabulary_size": model.get("vocabulary_size"), "optimizer": train.get("optimizer", "sgd"),
        "learning_rate": train.get("learning_rate"), "dropout": model.get("dropout", 0.0),
        "nepoch": train.get("nepoch"), "epoch": job.epoch,
        "best_perplexity": best.get("valid_perplexity"), "best_epoch": best.get("epoch"),
        "trigram_perplexity": (job.baselines or {}).get("trigram_perplexity"),
        "created_at": job.created_at.isoformat(timespec="seconds") + "Z",
        "url": url_for("jobs.detail", job_id=job.id), "curve": curve,
        "gradient_norms": gradient_norms,  # the latest evaluation's, with its "epoch"
    }


def corpus_runs(corpus_id: str) -> dict:
    """Every run on the corpus (newest MAX_RUNS, oldest first), and the trigram lines."""
    jobs = db.session.scalars(select(Job).where(Job.corpus_id == corpus_id).order_by(
        Job.created_at.desc()).limit(MAX_RUNS)).all()[::-1]
    curves: dict[str, list[dict]] = {job.id: [] for job in jobs}
    gradients: dict[str, dict] = {}  # each run's latest measurement of the gradients' fading
    rows = db.session.execute(select(
        JobEvent.job_id, JobEvent.epoch, JobEvent.valid_loss, JobEvent.gradient_norms).where(
        JobEvent.job_id.in_(list(curves)), JobEvent.event == "evaluation").order_by(JobEvent.id))
    for job_id, epoch, valid_loss, norms in rows:
        if valid_loss is not None and math.isfinite(valid_loss):
            curves[job_id].append({"epoch": epoch, "valid_perplexity": math.exp(valid_loss)})
        if norms:
            gradients[job_id] = {"epoch": epoch, **norms}
    lines: dict[tuple, dict] = {}
    for job in jobs:
        trigram = (job.baselines or {}).get("trigram_perplexity")
        if trigram:
            line = lines.setdefault(_split_key(job), {"perplexity": trigram, "jobs": []})
            line["jobs"].append(job.id)
    many = len(lines) > 1
    for (vocabulary, fraction, seed, _), line in lines.items():
        line["label"] = (f"trigram counter (vocabulary {vocabulary}, {fraction:.0%} validation, "
                         f"seed {seed})" if many else "trigram counter (validation)")
    return {"corpus_id": corpus_id,
            "runs": [run_dict(j, curves[j.id], gradients.get(j.id)) for j in jobs],
            "trigram_lines": list(lines.values())}
