"""What the pages and the JSON API do, written once: upload, preprocess, start, cancel (deleting
is ``webapp.deletion``).

Views parse the request and render; these functions check the rules, write rows and files, and
send work by task name. Files are named by ids, never by what was uploaded, and written under a
temporary name then renamed. Each function raises ``UserError`` (or ``NotFound``) with a sentence
a person can act on, and leaves nothing half made behind it: a refused upload leaves no file and
no row, and work the queue could not take is taken back (see ``send``). What a browser made
only that browser (or the administrator) may change: see ``webapp.visitors``.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil

from flask import current_app, g
from sqlalchemy import delete, func, select, update
from werkzeug.datastructures import FileStorage

from rnncore.corpus import SAMPLE_ROWS, preview_csv
from rnncore.plain_text import plain_text_to_csv, reads_as_plain_text
from rnncore.errors import CorpusError
from webapp import corpus_options, estimate, files, hyperparameters, queue, speeds
from webapp.engines import check_engine
from webapp.errors import NotFound, UserError
from webapp.extensions import db
from webapp.hyperparameters import InvalidInput
from webapp.records import (JOB_RUNNING_STATES, Corpus, DataPaths, Job, new_id,
                            storage_is_full, storage_problem, utcnow)
from webapp.settings import QUEUE_CPU
from webapp.visitors import current_owner, is_admin, require_owner

log = logging.getLogger(__name__)

REPREPROCESSABLE = ("uploaded", "ready", "failed")
ACTIVE_JOB_STATES = ("queued", *JOB_RUNNING_STATES)
# Fewer sentences than this cannot teach a language model anything worth sampling.
MIN_TRAINING_SENTENCES = 10
_WORD = re.compile(r"[^\W\d_]{2,}")


def paths() -> DataPaths:
    return DataPaths(current_app.config["DATA_DIR"])


def send(task_name: str, row, undo, to: str = QUEUE_CPU) -> None:
    """Send the task for a committed row to queue ``to``; if Redis is down, ``undo()``, answer 503.

    ``undo`` deletes the row just made, or puts an existing one back as it was, so a Redis outage
    leaves no record that waits for a message that was never sent.
    """
    try:
        current_app.extensions["rnnlab_queue"].send(task_name, row.id, to)
    except queue.QueueUnavailable as exc:
        db.session.rollback()
        undo()
        db.session.commit()
        raise UserError(f"{exc} Nothing was changed.", status=503) from None


def delete_row(row):
    record = type(row)
    return lambda: db.session.execute(delete(record).where(record.id == row.id))


def get_or_404(record, row_id: str, what: str):
    row = db.session.get(record, row_id) if isinstance(row_id, str) and len(row_id) <= 32 else None
    if row is None:
        raise NotFound(f"There is no {what} with the id {row_id!r}; it may have been deleted.")
    return row


def display_name(filename: str | None, fallback: str) -> str:
    """A short label from the uploaded file's name; only ever shown (escaped), never a path."""
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    name = "".join(ch for ch in name if ch.isprintable())[:120]
    return name if name.strip(". ") else fallback


def save_upload(upload: FileStorage | None, name: str | None = None) -> Corpus:
    """Store an uploaded CSV (or a .txt, as the CSV of its paragraphs) under a new id and read its
    preview; refuse what cannot be a corpus."""
    if upload is None or not upload.filename:
        raise UserError("Choose a CSV or text file to upload.",
                        errors={"file": "no file was sent"})
    corpus_id = new_id()
    directory = paths().corpus_dir(corpus_id)
    try:
        preview, size = _store_upload(upload, directory, paths().corpus_source(corpus_id))
        files.publish_upload(paths().corpus_source(corpus_id))
        corpus = Corpus(id=corpus_id, name=(name or "").strip()[:120] or display_name(
            upload.filename, "uploaded corpus"), source="upload", state="uploaded",
            size_bytes=size, columns=list(preview.columns), text_column=preview.text_column,
            preview=corpus_options.upload_preview(preview), owner=current_owner(create=True))
        db.session.add(corpus)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        shutil.rmtree(directory, ignore_errors=True)
        files.forget_upload(corpus_id)
        raise
    return corpus


def _store_upload(upload: FileStorage, directory, source):
    """Write the file into its own folder and read its preview; UserError for what is wrong."""
    try:
        directory.mkdir(parents=True)
        tmp = directory / ".upload.tmp"
        upload.save(tmp)
        plain_text = reads_as_plain_text(tmp, upload.filename)
        if plain_text:  # its paragraphs become a one-column CSV
            plain_text_to_csv(tmp, source)
            tmp.unlink()
        else:
            os.replace(tmp, source)
        size = source.stat().st_size
        if size == 0:
            raise UserError("The file is empty; upload a CSV with a header row and text rows, "
                            "or a plain-text file.",
                            errors={"file": "the file is empty"})
        preview = preview_csv(source, rows=SAMPLE_ROWS)
        if plain_text:
            preview = dataclasses.replace(preview, plain_text=True)
    except CorpusError as exc:
        raise UserError(str(exc), errors={"file": str(exc)}) from None
    except OSError as exc:
        log.error("could not store an upload in %s: %s", directory, exc)
        message = storage_problem(exc, "the upload")
        raise UserError(message, status=507 if storage_is_full(exc) else 500) from None
    if preview.text_column is None and not any(
            _WORD.search(cell) for row in preview.rows for cell in row):
        message = (f"None of the file's {len(preview.columns)} columns holds text: its first rows "
                   f"hold only numbers or symbols. Upload a CSV with a column of sentences.")
        raise UserError(message, errors={"file": message})
    return preview, size


def create_sample_corpus(vocabulary_size: int = 8000) -> Corpus:
    """A corpus the worker builds from rnncore's sample text, then preprocesses."""
    vocabulary_size = _vocabulary_size(vocabulary_size)
    to, waiting = corpus_options.preprocess_queue()
    corpus = Corpus(name="Sample corpus (Python documentation)", source="sample", state="queued",
                    columns=["text"], text_column="text", vocabulary_size=vocabulary_size,
                    message=waiting, owner=current_owner(create=True))
    db.session.add(corpus)
    db.session.commit()
    send(queue.PREPROCESS_CORPUS, corpus, delete_row(corpus), to)
    return corpus


def _vocabulary_size(value) -> int:
    field = hyperparameters.FIELDS_BY_NAME["vocabulary_size"]
    try:
        return hyperparameters.coerce(field, value)
    except ValueError as exc:
        raise UserError(f"Vocabulary size {exc}.", errors={"vocabulary_size": str(exc)}) from None


def request_preprocessing(corpus_id: str, column: str | None, vocabulary_size,
                          options: dict | None = None) -> Corpus:
    """Queue (again) the preprocessing of a corpus with this column and vocabulary size.

    ``options``: the preprocessing choices (``webapp.corpus_options.OPTION_NAMES``); those left
    out (all, when None) stay as the corpus has them.
    """
    corpus = get_or_404(Corpus, corpus_id, "corpus")
    require_owner(corpus, "corpus", "preprocess")
    vocabulary_size = _vocabulary_size(vocabulary_size)
    text_options = corpus_options.parse_options(
        {**corpus_options.chosen(corpus).to_dict(), **(options or {})})
    column = column or corpus.text_column
    if column not in (corpus.columns or []):
        choices = ", ".join(repr(c) for c in corpus.columns or [])
        message = (f"Choose which column holds the text; the file's columns are: {choices}."
                   if not column else f"The file has no column {column!r}; choose one of: "
                   f"{choices}.")
        raise UserError(message, errors={"column": message})
    before = {k: getattr(corpus, k) for k in ("state", "text_column", "vocabulary_size", "report",
                                              "error", "fraction_done", "message",
                                              "text_options")}
    to, waiting = corpus_options.preprocess_queue()
    result = db.session.execute(update(Corpus).where(
        Corpus.id == corpus.id, Corpus.state.in_(REPREPROCESSABLE)).values(
        state="queued", text_column=column, vocabulary_size=vocabulary_size, report=None,
        error=None, fraction_done=0.0, message=waiting, text_options=text_options,
        updated_at=utcnow()))
    db.session.commit()
    if result.rowcount != 1:
        raise UserError("This corpus is being preprocessed already; wait for it to finish.",
                        status=409)
    db.session.refresh(corpus)
    send(queue.PREPROCESS_CORPUS, corpus, lambda: db.session.execute(update(Corpus).where(
        Corpus.id == corpus.id, Corpus.state == "queued").values(**before)), to)
    return corpus


def plan_job(corpus: Corpus, values: dict):
    """Check the settings for this corpus; return (model_config, train_config, estimate).

    The estimate counts the jobs training now; the time limit is held against the time the run
    would take with the machine to itself, so a busy moment refuses nothing.
    """
    model_config, train_config = hyperparameters.parse(values)
    hyperparameters.check_memory(model_config, train_config)
    tokens = int((corpus.report or {}).get("tokens") or 0)
    # The vocabulary the model will really have, as the worker measured its runs.
    fitted, _ = corpus_options.fit_vocabulary(model_config, corpus.report or {})
    guess = speeds.estimate_run(tokens, fitted, train_config)
    limit = current_app.config["TRAIN_TIME_LIMIT_S"]
    if guess["alone_total_seconds"] > limit:
        raise InvalidInput({"nepoch": (
            f"this run would take {estimate.describe_seconds(guess['alone_total_seconds'])}, "
            f"more than the server's limit of {estimate.describe_seconds(limit)}; choose fewer "
            f"epochs or a smaller model")})
    return model_config, train_config, guess


def _check_corpus_fits(report: dict) -> None:
    """Refuse a corpus too small to train on.

    A corpus with fewer different words than the vocabulary size asked for is not refused: the
    worker trains on all its words, and the job says so.
    """
    sentences = int(report.get("sentences") or 0)
    if report and sentences < MIN_TRAINING_SENTENCES:
        raise InvalidInput({"corpus_id": (
            f"this corpus has only {sentences} sentence{'s' if sentences != 1 else ''}; a "
            f"language model needs at least {MIN_TRAINING_SENTENCES} to learn anything. Upload "
            f"more text")})


def create_job(corpus_id: str, values: dict, name: str | None = None) -> Job:
    """Queue a training job on a preprocessed corpus; ``name``: what the run is called."""
    corpus = get_or_404(Corpus, corpus_id, "corpus")
    if corpus.state != "ready":
        raise UserError("This corpus is not preprocessed yet; wait until its report is shown.",
                        status=409, errors={"corpus_id": "not preprocessed yet"})
    try:
        model_config, train_config, guess = plan_job(corpus, values)
        _check_corpus_fits(corpus.report or {})
        # The vocabulary the model will really have, so every page shows that number.
        model_config, remark = corpus_options.fit_vocabulary(model_config, corpus.report or {})
    except InvalidInput as exc:
        raise UserError("Some settings are out of range: " + str(exc), errors=exc.errors) from None
    check_engine(model_config.engine)
    owner = current_owner(create=True)
    to = queue.queue_for_engine(model_config.engine)
    job = Job(corpus_id=corpus.id, name=name, state="queued", model_config=model_config.to_dict(),
              train_config=train_config.to_dict(),
              message="Waiting for a worker" + (f" ({remark})" if remark else ""),
              estimated_epoch_seconds=guess["epoch_seconds"], owner=owner, queue=to)
    db.session.add(job)
    # Counted after the insert, inside its transaction: two requests at once cannot both slip
    # under the limit (the second insert waits for the first to commit).
    db.session.flush()
    check_active_limit(owner)
    db.session.commit()
    send(queue.TRAIN_MODEL, job, delete_row(job), to)
    return job


def check_active_limit(owner: str) -> None:
    limit = int(current_app.config.get("MAX_ACTIVE_JOBS_PER_VISITOR") or 0)
    if not limit or is_admin():
        return
    active = db.session.scalar(select(func.count()).select_from(Job).where(
        Job.owner == owner, Job.state.in_(ACTIVE_JOB_STATES)))
    if active > limit:
        db.session.rollback()
        raise UserError(
            f"You already have {active - 1} training jobs queued or running, and one browser may "
            f"have at most {limit} at once. Wait for one to finish, or cancel one, then start "
            f"this one.",
            status=429, errors={"corpus_id": f"at most {limit} jobs at once"})


def cancel_job(job_id: str) -> Job:
    """Cancel a queued job at once, or ask the worker running it to stop."""
    job = get_or_404(Job, job_id, "job")
    require_owner(job, "job", "cancel")
    now = utcnow()
    queued = db.session.execute(update(Job).where(Job.id == job.id, Job.state == "queued").values(
        state="cancelled", cancel_requested=True, finished_at=now, message="Cancelled before it "
        "started"))
    if queued.rowcount == 0:
        running = db.session.execute(update(Job).where(
            Job.id == job.id, Job.state.in_(("preprocessing", "training"))).values(
            cancel_requested=True, message="Stopping..."))
        if running.rowcount == 0:
            db.session.rollback()
            raise UserError(f"This job has already {job.state}; there is nothing to cancel.",
                            status=409)
    db.session.commit()
    db.session.refresh(job)
    return job


def queue_position(job: Job) -> int | None:
    """1 for the next job a worker of its queue will take; None unless queued."""
    if job.state != "queued":
        return None
    name = job.queue or QUEUE_CPU  # jobs from before there were two queues all went to "cpu"
    places = g.setdefault("rnnlab_queue_places", {})  # one look per queue and request
    if name not in places:
        places[name] = _queue_places(name)
    return places[name].get(job.id)


def _queue_places(name: str) -> dict[str, int]:
    """Job id -> place in line of every queued job of queue ``name``.

    The order is the broker's (see ``webapp.queue.TaskQueue.waiting``). A queued job whose message
    is no longer waiting has been handed to a worker that is about to claim it: it goes first.
    Without the broker's answer (Redis down), the order the rows were made in.
    """
    ids = db.session.scalars(select(Job.id).where(
        Job.state == "queued", speeds.in_queue(name)).order_by(Job.created_at)).all()
    waiting = current_app.extensions["rnnlab_queue"].waiting(name)
    if waiting is not None:
        sent = {}
        for task, row_id in waiting:
            if task == queue.TRAIN_MODEL:
                sent.setdefault(row_id, len(sent))
        ids = sorted(ids, key=lambda row_id: sent.get(row_id, -1))  # stable: by age otherwise
    return {row_id: place for place, row_id in enumerate(ids, start=1)}
