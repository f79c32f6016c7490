"""Deployment settings: every environment variable rnnlab reads, with its default, in one place.

Only three places call ``load_settings``: the Flask app factory, the Celery app and the launchers in
``scripts/``; everything else receives a ``Settings`` value. This module imports nothing from Flask
so that the worker may import it (see ``webapp.records`` for why that single crossing is allowed).

| variable | default | meaning |
|---|---|---|
| RNNLAB_DATA_DIR | ./data | database, corpora, models, Redis's files, the generated secret key |
| REDIS_URL | (unset) | use this Redis and start none; unset: a redis-server on RNNLAB_REDIS_PORT |
| RNNLAB_REDIS_PORT | 6390 | loopback port of the Redis that rnnlab starts itself |
| DATABASE_URL | sqlite:///DATA_DIR/rnnlab.sqlite3 | e.g. postgresql://user@host/rnnlab (psycopg 3) |
| SECRET_KEY | (generated) | generated once and kept in DATA_DIR/secret_key when unset |
| MAX_UPLOAD_MB | 50 | largest accepted upload, in megabytes |
| WORKER_CONCURRENCY | 2 | worker processes, so jobs trained at the same time |
| RNNLAB_TRAIN_TIME_LIMIT_S | 21600 | a training run is stopped after this many seconds |
| RNNLAB_HOST / RNNLAB_PORT | 127.0.0.1 / 5000 | where gunicorn listens |
| RNNLAB_WEB_WORKERS | 2 | gunicorn worker processes |
| RNNLAB_MODEL_CACHE_SIZE | 4 | models each web process keeps loaded for the playground |
| RNNLAB_STALE_AFTER_S | 60 | a running job whose worker sent no heartbeat this long is taken over |
| RNNLAB_SWEEP_INTERVAL_S | 15 | how often each worker looks for such jobs (worker.sweep) |
| RNNLAB_MAX_ACTIVE_JOBS_PER_VISITOR | 3 | queued or running jobs one browser session may have |
| RNNLAB_ADMIN_TOKEN | (unset) | sent as X-Admin-Token, may cancel and delete anyone's work |
| RNNLAB_UPLOAD_RATE_LIMIT | 20 per hour | uploads (and sample corpora) per client address; "off" |
| RNNLAB_JOB_RATE_LIMIT | 30 per hour | training jobs started per client address; "off" |
| RNNLAB_PLAYGROUND_RATE_LIMIT | 120 per minute | generate / next words / score per address; "off" |
| RNNLAB_ARTIFACT_STORE | (the data folder) | file:///shared/folder or s3://bucket/prefix for many hosts |
| RNNLAB_S3_ENDPOINT_URL | (AWS) | an S3-compatible server's URL (MinIO, Ceph...) |
| RNNLAB_WORKER_QUEUES | cpu,preprocess | queues a worker takes work from: cpu, gpu, preprocess |
| RNNLAB_TRUSTED_HOSTS | loopback, RNNLAB_HOST | Host names served; ".lan": any under lan; "*": any |
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping


# The Celery queues: CPU engines go to "cpu", the JAX engine to "gpu", and preprocessing to its
# own "preprocess", which a small worker of its own serves so that it never waits behind training.
QUEUE_CPU = "cpu"
QUEUE_GPU = "gpu"
QUEUE_PREPROCESS = "preprocess"
QUEUES = (QUEUE_CPU, QUEUE_GPU, QUEUE_PREPROCESS)


# What a browser on this machine calls it; a page served under any other name could be a DNS
# rebinding attack (a site whose name points at 127.0.0.1).
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_ANY_ADDRESS = ("0.0.0.0", "::", "")


class SettingsError(ValueError):
    """An environment variable holds a value rnnlab cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path  # absolute
    redis_url: str
    manage_redis: bool  # True: rnnlab starts its own redis-server (REDIS_URL was not set)
    redis_port: int
    database_url: str
    secret_key: str | None  # None: generate one into data_dir
    max_upload_mb: int
    worker_concurrency: int
    train_time_limit_s: int
    host: str
    port: int
    web_workers: int
    model_cache_size: int
    stale_after_s: int
    max_active_jobs_per_visitor: int = 3
    admin_token: str | None = None  # None: nobody may act on others' work
    upload_rate_limit: str | None = "20 per hour"  # None: no limit
    job_rate_limit: str | None = "30 per hour"
    playground_rate_limit: str | None = "120 per minute"
    artifact_store: str | None = None  # None: the data folder itself (see webapp.artifacts)
    s3_endpoint_url: str | None = None  # None: AWS's own endpoints
    # What a worker started here listens on: a plain worker preprocesses too, so that one
    # worker alone still serves everything; the Procfile adds one that only preprocesses.
    worker_queues: tuple[str, ...] = (QUEUE_CPU, QUEUE_PREPROCESS)
    # Host names (lowercase, IPv6 without brackets; ".lan": any name under lan) the web app
    # answers to; None: any (RNNLAB_TRUSTED_HOSTS="*"). See webapp.factory.host_is_trusted.
    trusted_hosts: tuple[str, ...] | None = LOOPBACK_NAMES
    # Seconds between a worker's looks for work whose heartbeat stopped (worker.sweep).
    sweep_interval_s: int = 15
    # A training worker compiles the default model's functions in the background when it starts
    # (worker.warmup), so the first job does not wait for PyTensor's compiler.
    warmup: bool = True

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"

    @property
    def train_soft_time_limit_s(self) -> int:
        """Raised inside the task first, so the job is marked failed before the hard kill."""
        return max(1, self.train_time_limit_s - 60)

    @property
    def visibility_timeout_s(self) -> int:
        """Longer than the longest run, or Redis hands a running job to a second worker."""
        return self.train_time_limit_s + 3600


def _int(environ: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}, not {value}")
    return value


def _rate_limit(environ: Mapping[str, str], name: str, default: str) -> str | None:
    """A Flask-Limiter rate such as "20 per hour" or "5/minute; 100/day"; None for "off"."""
    raw = environ.get(name, "").strip() or default
    if raw.lower() in ("off", "none", "0"):
        return None
    from limits import parse_many  # Flask-free; imported here so the worker never loads it

    try:
        parse_many(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a rate such as '20 per hour' or '5/minute', or "
                            f"'off'; not {raw!r}") from None
    return raw


def _admin_token(environ: Mapping[str, str]) -> str | None:
    token = environ.get("RNNLAB_ADMIN_TOKEN", "").strip()
    if token and len(token) < 16:
        raise SettingsError("RNNLAB_ADMIN_TOKEN must be at least 16 characters long (a short "
                            "token can be guessed); e.g. the output of `openssl rand -hex 16`")
    return token or None


def _artifact_store(environ: Mapping[str, str]) -> str | None:
    """None (the data folder), an absolute file:// folder, or an s3:// bucket (s3fs installed)."""
    raw = environ.get("RNNLAB_ARTIFACT_STORE", "").strip()
    if not raw:
        return None
    if raw.startswith("file:///"):
        return "file://" + (raw[len("file://"):].rstrip("/") or "/")
    if raw.startswith("s3://") and len(raw) > len("s3://") and not raw.startswith("s3:///"):
        if importlib.util.find_spec("s3fs") is None:
            raise SettingsError("RNNLAB_ARTIFACT_STORE is an S3 bucket, but s3fs is not "
                                "installed: pip install -r requirements-s3.txt")
        return raw.rstrip("/")
    raise SettingsError(f"RNNLAB_ARTIFACT_STORE must be file:///an/absolute/folder or "
                        f"s3://bucket/prefix, not {raw!r}")


def _database_url(raw: str) -> str:
    """PostgreSQL URLs as commonly written (postgresql://, postgres://) use psycopg 3, which
    requirements.txt installs; SQLAlchemy would otherwise look for psycopg2."""
    for scheme in ("postgresql://", "postgres://"):
        if raw.startswith(scheme):
            return "postgresql+psycopg://" + raw[len(scheme):]
    return raw


def _worker_queues(environ: Mapping[str, str]) -> tuple[str, ...]:
    raw = environ.get("RNNLAB_WORKER_QUEUES", "").strip() or f"{QUEUE_CPU},{QUEUE_PREPROCESS}"
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    unknown = [n for n in names if n not in QUEUES]
    if unknown or not names:
        raise SettingsError(f"RNNLAB_WORKER_QUEUES must name {' and/or '.join(QUEUES)} "
                            f"(comma-separated), not {raw!r}")
    return names


def _host_name(raw: str) -> str:
    """"[::1]:5000" -> "::1", "Lab.Example:80" -> "lab.example": the name a Host header holds."""
    raw = raw.strip().lower()
    if raw.startswith("["):
        return raw[1:].partition("]")[0]
    return raw.partition(":")[0] if raw.count(":") == 1 else raw


def _trusted_hosts(environ: Mapping[str, str], host: str) -> tuple[str, ...] | None:
    """RNNLAB_TRUSTED_HOSTS (comma-separated; "*" for any), or loopback plus RNNLAB_HOST."""
    raw = environ.get("RNNLAB_TRUSTED_HOSTS", "").strip()
    if raw == "*":
        return None
    if raw:
        names = tuple(dict.fromkeys(_host_name(n) for n in raw.split(",") if n.strip()))
        bad = [n for n in names if not n.strip(".") or " " in n or "/" in n]
        if bad or not names:
            raise SettingsError(f"RNNLAB_TRUSTED_HOSTS must be host names separated by commas "
                                f"(e.g. 'rnnlab.example.org,.lan'), or '*'; not {raw!r}")
        return names
    listening = _host_name(host)
    extra = () if listening in _ANY_ADDRESS or listening in LOOPBACK_NAMES else (listening,)
    return LOOPBACK_NAMES + extra


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``environ`` (``os.environ`` when None); relative paths use the cwd."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("RNNLAB_DATA_DIR") or "data").expanduser().resolve()
    host = env.get("RNNLAB_HOST") or "127.0.0.1"
    redis_port = _int(env, "RNNLAB_REDIS_PORT", 6390, 1, 65535)
    redis_url = env.get("REDIS_URL", "").strip()
    database_url = _database_url(env.get("DATABASE_URL", "").strip())
    return Settings(
        data_dir=data_dir,
        redis_url=redis_url or f"redis://127.0.0.1:{redis_port}/0",
        manage_redis=not redis_url,
        redis_port=redis_port,
        database_url=database_url or f"sqlite:///{data_dir / 'rnnlab.sqlite3'}",
        secret_key=env.get("SECRET_KEY") or None,
        max_upload_mb=_int(env, "MAX_UPLOAD_MB", 50, 1, 10_000),
        worker_concurrency=_int(env, "WORKER_CONCURRENCY", 2, 1, 256),
        train_time_limit_s=_int(env, "RNNLAB_TRAIN_TIME_LIMIT_S", 21600, 60, 30 * 86400),
        host=host,
        port=_int(env, "RNNLAB_PORT", 5000, 1, 65535),
        web_workers=_int(env, "RNNLAB_WEB_WORKERS", 2, 1, 64),
        model_cache_size=_int(env, "RNNLAB_MODEL_CACHE_SIZE", 4, 1, 1000),
        # Above the worker's heartbeat interval (5 s) with room for a busy database.
        stale_after_s=_int(env, "RNNLAB_STALE_AFTER_S", 60, 10, 86400),
        sweep_interval_s=_int(env, "RNNLAB_SWEEP_INTERVAL_S", 15, 1, 3600),
        max_active_jobs_per_visitor=_int(env, "RNNLAB_MAX_ACTIVE_JOBS_PER_VISITOR", 3, 1, 1000),
        admin_token=_admin_token(env),
        upload_rate_limit=_rate_limit(env, "RNNLAB_UPLOAD_RATE_LIMIT", "20 per hour"),
        job_rate_limit=_rate_limit(env, "RNNLAB_JOB_RATE_LIMIT", "30 per hour"),
        playground_rate_limit=_rate_limit(env, "RNNLAB_PLAYGROUND_RATE_LIMIT", "120 per minute"),
        artifact_store=_artifact_store(env),
        s3_endpoint_url=env.get("RNNLAB_S3_ENDPOINT_URL", "").strip() or None,
        worker_queues=_worker_queues(env),
        trusted_hosts=_trusted_hosts(env, host),
        warmup=env.get("RNNLAB_WARMUP", "on").strip().lower() not in ("off", "0", "no", "false"),
    )
