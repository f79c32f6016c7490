"""Nothing trained is lost: the model a stopped job leaves, and the checkpoint a continued job
starts from.

- Every job's model is written here (``write_model``, ``model_row``): a finished job's by
  ``worker.training``, and a cancelled or failed job's as well, once it got as far as a
  checkpoint (``keep_stopped_model``). That model is the checkpoint's best evaluation (the
  weights under ``best/``), or its last weights when the run has no validation split, saved
  under the model id reserved on the job row, so a second delivery cannot make a second one.
- Checkpoints stay after a job ends, so any job can be continued with more epochs. A job that
  continues another ("continue training", ``Job.continued_from``) starts from a copy of that
  job's checkpoint, made once (``inherit_checkpoint``); a later attempt of the same job resumes
  from its own. The copy forgets an early stop, so the longer run can find a better model.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

from rnncore.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rnncore.config import TrainConfig
from webapp.records import Corpus, Job, TrainedModel
from worker.progress import finite

log = logging.getLogger(__name__)

# What a downloadable model leaves out of the training state: only resuming needs these.
RESUME_ONLY = ("optimizer_state", "rng_state", "best_params")


def write_model(ctx, model_id: str, params: dict, vocabulary, model_config, train_config,
                state: dict) -> Path:
    """The model's .npz (U, V, W, vocabulary, settings), in the store before any row names it."""
    model_path = ctx.paths.model_file(model_id)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v for k, v in state.items() if k not in RESUME_ONLY}
    save_checkpoint(model_path, params, vocabulary, model_config, train_config, state)
    ctx.store.put_file(model_path)
    return model_path


def model_row(job: Job, corpus: Corpus, model_config, train_config, model_path: Path,
              figures: dict, note: str = "") -> TrainedModel:
    """The TrainedModel row of ``job``'s model; ``figures``: train_loss, valid_loss,
    valid_perplexity, best_epoch, baselines, tokens_seen. ``note`` ends the name
    ("cancelled in epoch 3")."""
    name = job.name or (f"{corpus.name} (hidden {model_config.hidden_dim}, "
                        f"{model_config.vocabulary_size} words)")
    name = f"{name}, {note}" if note else name
    return TrainedModel(
        id=job.model_id, job_id=job.id, corpus_id=corpus.id, name=name[:200],
        model_config=model_config.to_dict(), train_config=train_config.to_dict(),
        train_loss=finite(figures.get("train_loss")), valid_loss=finite(figures.get("valid_loss")),
        valid_perplexity=finite(figures.get("valid_perplexity")),
        best_epoch=figures.get("best_epoch"), baselines=figures.get("baselines") or None,
        tokens_seen=int(figures.get("tokens_seen") or 0),
        size_bytes=model_path.stat().st_size, owner=job.owner)


def _figures(state: dict) -> dict | None:
    """The figures of the weights a checkpoint serves (its best evaluation, else its last)."""
    history = state.get("loss_history") or []
    if not history:
        return None
    best = state.get("best")
    entry = next((e for e in history if best and e["epoch"] == best["epoch"]), history[-1])
    valid = entry.get("valid_loss")
    return {"train_loss": entry.get("train_loss"), "valid_loss": valid,
            "valid_perplexity": math.exp(valid) if valid is not None else None,
            "best_epoch": best["epoch"] if best else None,
            "baselines": state.get("baselines"), "tokens_seen": state.get("tokens_seen")}


def keep_stopped_model(ctx, job_id: str, token: str, how: str) -> str:
    """Make the model of a job that stopped (``how``: "cancelled" or "failed") from its
    checkpoint, while this worker still holds it; return a sentence saying so ("" if none)."""
    path = ctx.paths.job_checkpoint(job_id)
    try:
        if ctx.store.refresh(ctx.store.key(path)) is None:
            return ""
        checkpoint = load_checkpoint(path)
        figures = _figures(checkpoint.state)
        with ctx.session() as session:
            job = session.get(Job, job_id)
            corpus = session.get(Corpus, job.corpus_id) if job is not None else None
        if figures is None or corpus is None or job.claim_token != token:
            return ""
        epoch = int(checkpoint.state.get("epoch", 0))
        model_path = write_model(ctx, job.model_id, checkpoint.model_params,
                                 checkpoint.vocabulary, checkpoint.model_config,
                                 checkpoint.train_config, checkpoint.state)
        with ctx.session() as session, session.begin():
            fresh = session.get(Job, job_id)
            if fresh is None or fresh.claim_token != token:
                return ""
            if session.get(TrainedModel, job.model_id) is None:
                session.add(model_row(job, corpus, checkpoint.model_config,
                                      checkpoint.train_config or TrainConfig(), model_path,
                                      figures, note=f"{how} in epoch {epoch}"))
    except (CheckpointError, OSError) as exc:
        log.warning("job %s %s, and its checkpoint could not become a model: %s", job_id, how,
                    exc)
        return ""
    which = (f"the best evaluation's weights (epoch {figures['best_epoch']})"
             if figures["best_epoch"] is not None else "its last weights")
    return f"What it learned is kept: {which} are a model you can play with."


def inherit_checkpoint(ctx, job: Job, checkpoint_path: Path) -> None:
    """Give a job that continues another a copy of that job's checkpoint, with its own settings
    (more epochs), unless it has a checkpoint of its own already."""
    if not job.continued_from or ctx.store.refresh(ctx.store.key(checkpoint_path)) is not None:
        return
    source = ctx.store.refresh(ctx.store.key(ctx.paths.job_checkpoint(job.continued_from)))
    if source is None:
        raise CheckpointError("The job this one continues was deleted, and its checkpoint with "
                              "it; start a new job instead.")
    checkpoint = load_checkpoint(source)
    state = dict(checkpoint.state, stopped_early=False, evaluations_since_best=0)
    save_checkpoint(checkpoint_path, checkpoint.params, checkpoint.vocabulary,
                    checkpoint.model_config, TrainConfig.from_dict(job.train_config), state)
    ctx.store.put_file(checkpoint_path)
    log.info("job %s starts from the checkpoint of job %s", job.id, job.continued_from)


def resume_remark(job: Job, checkpoint) -> str:
    """What the job page says about where the run picked up."""
    where = (f"epoch {checkpoint.state.get('epoch', 0)}, batch "
             f"{checkpoint.state.get('batch_index', 0)}")
    if job.continued_from and job.attempts <= 1:
        return f"continues an earlier job from {where}"
    return f"resumed from {where}, after its worker stopped"
