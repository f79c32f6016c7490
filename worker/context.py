"""What a task needs besides its id: the database session factory, the data-folder paths and the
artifact store.

One ``WorkerContext`` per process, built lazily in the process that runs tasks (never inherited
across a fork: a SQLite connection must not be shared between processes). The data folder is
where this host computes; the artifact store is where the results go for every other host (the
same folder unless RNNLAB_ARTIFACT_STORE says otherwise).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from webapp.artifacts import ArtifactStore
from webapp.records import DataPaths, create_schema, make_engine
from worker.claims import STALE_AFTER_S


@dataclass
class WorkerContext:
    paths: DataPaths
    session_factory: sessionmaker
    stale_after_s: float = STALE_AFTER_S  # a claim without heartbeat this long is abandoned
    store: ArtifactStore | None = field(default=None)  # None: the data folder itself

    def __post_init__(self):
        if self.store is None:
            self.store = ArtifactStore(self.paths.root)

    @classmethod
    def open(cls, database_url: str, data_dir, stale_after_s: float = STALE_AFTER_S,
             artifact_store: str | None = None,
             s3_endpoint_url: str | None = None) -> "WorkerContext":
        """Connect to the database (creating missing tables) for work under ``data_dir``."""
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(database_url)
        create_schema(engine, data_dir)
        return cls(DataPaths(data_dir), sessionmaker(engine, expire_on_commit=False),
                   stale_after_s, ArtifactStore(data_dir, artifact_store, s3_endpoint_url))

    def session(self) -> Session:
        return self.session_factory()

    def close(self) -> None:
        self.session_factory.kw["bind"].dispose()


_contexts: dict[tuple, WorkerContext] = {}


def context_for(database_url: str, data_dir: str, stale_after_s: float = STALE_AFTER_S,
                artifact_store: str | None = None,
                s3_endpoint_url: str | None = None) -> WorkerContext:
    """The context of this process for these settings, opened on first use."""
    key = (os.getpid(), database_url, str(data_dir), artifact_store, s3_endpoint_url)
    if key not in _contexts:
        _contexts[key] = WorkerContext.open(database_url, data_dir, stale_after_s,
                                            artifact_store, s3_endpoint_url)
    return _contexts[key]
