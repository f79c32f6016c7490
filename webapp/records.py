"""The database records (corpora, jobs, models, loss history) and how to open the database.

Plain SQLAlchemy 2.0 declarative models that import nothing from Flask. The web app uses them
through Flask-SQLAlchemy's session; the Celery worker uses them through a plain SQLAlchemy session.
This module and ``webapp.settings`` are the only parts of ``webapp`` the worker imports (importing
``webapp`` itself loads no Flask either: ``webapp.create_app`` imports the factory lazily). The
alternatives were worse: a third top-level package is outside the project layout, rnncore must
not know SQLAlchemy, and a second copy of the tables in ``worker/`` would drift from this one. So
the schema is written once, here, and a test holds the worker free of Flask and of every other
``webapp`` module.

SQLite (the default) runs in WAL mode with a busy timeout because the web process and the workers
write at the same time; ``DATABASE_URL`` switches to PostgreSQL, which needs neither.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import re
import secrets
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text,
                        create_engine, event, inspect, text)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SQLITE_BUSY_TIMEOUT_S = 30

CORPUS_STATES = ("uploaded", "queued", "preprocessing", "ready", "failed")
JOB_STATES = ("queued", "preprocessing", "training", "finished", "failed", "cancelled")
JOB_RUNNING_STATES = ("preprocessing", "training")
JOB_FINAL_STATES = ("finished", "failed", "cancelled")


def new_id() -> str:
    """An unguessable id (128 random bits), safe in URLs and file names."""
    return secrets.token_urlsafe(16)


_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def check_id(value: str) -> str:
    """Refuse anything but an id, so no path built from one can leave the data folder."""
    if not isinstance(value, str) or not _ID.match(value):
        raise ValueError(f"not an id: {value!r}")
    return value


def _reading_tag(column: str | None, text_options: dict | None) -> str:
    """A short name for how a corpus's text was read (its column and text options)."""
    key = (column or "") + (json.dumps(text_options, sort_keys=True) if text_options else "")
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]


class DataPaths:
    """Where files live under the data folder; names are ids, never what a person uploaded."""

    def __init__(self, data_dir):
        self.root = Path(data_dir)

    def corpus_dir(self, corpus_id: str) -> Path:
        return self.root / "corpora" / check_id(corpus_id)

    def corpus_source(self, corpus_id: str) -> Path:
        return self.corpus_dir(corpus_id) / "source.csv"

    def corpus_preprocessed(self, corpus_id: str, vocabulary_size: int, column: str | None,
                            text_options: dict | None = None) -> Path:
        """One preprocessed file per (vocabulary size, column, text options other than the
        tutorial's, as ``Corpus.text_options`` holds them)."""
        tag = _reading_tag(column, text_options)
        return self.corpus_dir(corpus_id) / f"vocab-{int(vocabulary_size)}-{tag}.npz"

    def corpus_ngrams(self, corpus_id: str, column: str | None,
                      text_options: dict | None = None) -> Path:
        """The memorisation check's index of the corpus's runs of words (rnncore.memorisation),
        one per (column, text options), made with the base file at preprocessing."""
        return self.corpus_dir(corpus_id) / f"ngrams-{_reading_tag(column, text_options)}.npz"

    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / check_id(job_id)

    def job_checkpoint(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "checkpoint.npz"

    def model_file(self, model_id: str) -> Path:
        return self.root / "models" / f"{check_id(model_id)}.npz"


_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_FORBIDDEN = (errno.EACCES, errno.EPERM, errno.EROFS)
_IN_THE_WAY = (errno.ENOTDIR, errno.EEXIST, errno.EISDIR)


def storage_problem(exc: OSError, what: str) -> str:
    """Why ``what`` could not be written, in words for the person who asked (no server paths)."""
    if exc.errno in _FULL:
        return (f"The server's disk is full, so {what} could not be saved. Free some space (or "
                f"ask the administrator to) and try again.")
    if exc.errno in _FORBIDDEN:
        return (f"The server may not write to its data folder, so {what} could not be saved. "
                f"The administrator should check the folder's permissions.")
    if exc.errno in _IN_THE_WAY:
        return (f"The server's data folder is damaged (a file stands where a folder should be), "
                f"so {what} could not be saved. The administrator should check the data folder.")
    return f"The server could not save {what} ({exc.strerror or type(exc).__name__})."


def storage_is_full(exc: OSError) -> bool:
    return exc.errno in _FULL


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Corpus(Base):
    """An uploaded (or sample) CSV and, once a worker has preprocessed it, its report."""

    __tablename__ = "corpora"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))  # shown to people, never used in a path
    source: Mapped[str] = mapped_column(String(16), default="upload")  # "upload" or "sample"
    state: Mapped[str] = mapped_column(String(16), default="uploaded", index=True)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    columns: Mapped[list | None] = mapped_column(JSON, nullable=True)
    text_column: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Asked for while queued; once ready, the vocabulary the corpus really has (report too).
    vocabulary_size: Mapped[int] = mapped_column(Integer, default=8000)
    # How the texts become sentences of words: rnncore.text.TextOptions.to_dict() when they are
    # not the tutorial's defaults (one sentence per row, pre-tokenized, case kept); None: defaults.
    text_options: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # Read once at upload: {"columns", "rows" (the first few), "text_column", "message",
    # "suggestions": {column: rnncore.text.suggest_options(...)}}; None for older corpora.
    preview: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    fraction_done: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    report: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # When a worker's sweep last sent its task again because the heartbeat had stopped
    # (worker.sweep); None: never.
    resent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)  # see webapp.visitors
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Job(Base):
    """A training run: its hyperparameters, where it is, and its latest progress figures."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    corpus_id: Mapped[str] = mapped_column(ForeignKey("corpora.id"), index=True)
    # Reserved when the job is made so a re-delivered task writes the same model file.
    model_id: Mapped[str] = mapped_column(String(32), default=new_id, unique=True)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    model_config: Mapped[dict] = mapped_column(JSON)  # rnncore.config.ModelConfig.to_dict()
    train_config: Mapped[dict] = mapped_column(JSON)  # rnncore.config.TrainConfig.to_dict()
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    estimated_epoch_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The Celery queue it was sent to ("cpu" or "gpu") and the worker that claimed it last.
    queue: Mapped[str | None] = mapped_column(String(16), nullable=True)
    worker_host: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The browser session that started the job (a hash; see webapp.visitors); None: admin only.
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # How the run compares (rnncore.train progress): the best evaluation so far, {"epoch",
    # "valid_loss", "valid_perplexity", ...}, and the counting models' validation perplexities,
    # {"trigram_perplexity", "unigram_perplexity"}; None for jobs made before they were kept.
    best: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    baselines: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # What its owner calls the run (shown on cards and in comparisons); None: unnamed.
    name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    # The job whose checkpoint this one continues ("continue training"); None: a fresh run.
    continued_from: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The learning timeline's fixed prompts, {"prefixes": [...]} ("" is an unprompted
    # sentence): each evaluation's samples continue them in this order. None: older jobs.
    timeline: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # Latest progress, overwritten about once a second by the worker.
    fraction_done: Mapped[float] = mapped_column(Float, default=0.0)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    examples_seen: Mapped[int] = mapped_column(Integer, default=0)
    tokens_seen: Mapped[int] = mapped_column(Integer, default=0)
    train_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    valid_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    valid_perplexity: Mapped[float | None] = mapped_column(Float, nullable=True)
    learning_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    tokens_per_second: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Words per second of training steps alone (start-up, evaluations and checkpoints left out),
    # as if the job had had its machine to itself (worker.speed); what estimates learn from.
    steady_tokens_per_second: Mapped[float | None] = mapped_column(Float, nullable=True)
    eta_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    resent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # as Corpus's


class JobEvent(Base):
    """One point of a job's history: a throttled batch report, an evaluation or a rate halving."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    # "batch", "evaluation", "lr_halved", "rolled_back", "resumed", "finished"
    event: Mapped[str] = mapped_column(String(16))
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    examples_seen: Mapped[int] = mapped_column(Integer, default=0)
    tokens_seen: Mapped[int] = mapped_column(Integer, default=0)
    fraction_done: Mapped[float] = mapped_column(Float, default=0.0)
    train_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    valid_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    valid_perplexity: Mapped[float | None] = mapped_column(Float, nullable=True)
    learning_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    samples: Mapped[list | None] = mapped_column(JSON, nullable=True)
    # At evaluations: rnncore.gradients.gradient_norms (the gradient's fading through time);
    # None for other events and for jobs from before it was measured.
    gradient_norms: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class TrainedModel(Base):
    """A finished model; its file is models/<id>.npz in the artifact store (webapp.artifacts)."""

    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"),
                                               nullable=True, unique=True)
    corpus_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    model_config: Mapped[dict] = mapped_column(JSON)
    train_config: Mapped[dict] = mapped_column(JSON)
    train_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    valid_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    valid_perplexity: Mapped[float | None] = mapped_column(Float, nullable=True)
    tokens_seen: Mapped[int] = mapped_column(Integer, default=0)
    # The evaluation whose weights these are (the best on validation) and the counting models'
    # perplexities on the same split; None for models made before they were kept.
    best_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    baselines: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the job's owner
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


def engine_options(database_url: str) -> dict:
    """Keyword arguments for ``create_engine`` (also SQLALCHEMY_ENGINE_OPTIONS in Flask)."""
    if database_url.startswith("sqlite"):
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    return {"pool_pre_ping": True}


def configure_engine(engine: Engine) -> Engine:
    """Turn on WAL, a busy timeout and foreign keys on every new SQLite connection."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web process read while a worker writes progress; NORMAL is durable with WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(database_url: str) -> Engine:
    """A configured engine for code outside Flask (the worker, tests, scripts)."""
    return configure_engine(create_engine(database_url, **engine_options(database_url)))


@contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# Any fixed number: PostgreSQL's advisory lock that web processes and workers on every host take
# while they create the tables.
SCHEMA_LOCK_KEY = 7_468_510


def create_schema(engine: Engine, data_dir: Path) -> None:
    """Create missing tables and columns; processes starting at once take turns.

    On one host a lock file in the data folder orders them; hosts with their own data folders share
    only the database (PostgreSQL), where an advisory lock held for the transaction does.
    """
    with _file_lock(Path(data_dir) / ".schema.lock"), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": SCHEMA_LOCK_KEY})
        Base.metadata.create_all(connection)
        _add_missing_columns(connection)


def _add_missing_columns(connection) -> None:
    """Add the nullable columns a newer version defines to tables an older one created.

    The only schema changes so far are such additions (``owner``), so this stands in for a
    migration tool: existing rows get NULL, which every reader accepts.
    """
    inspector = inspect(connection)
    for table in Base.metadata.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable:
                raise RuntimeError(f"cannot add the required column {table.name}.{column.name}"
                                   f" to an existing database; migrate it by hand")
            kind = column.type.compile(dialect=connection.dialect)
            connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" '
                                    f'{kind}'))
        for index in table.indexes:
            index.create(connection, checkfirst=True)
