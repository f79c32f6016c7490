"""What a task needs besides its id: the database session factory and the data-folder paths.

One ``WorkerContext`` per process, built lazily in the process that runs tasks (never inherited
across a fork: a SQLite connection must not be shared between processes).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from webapp.records import DataPaths, create_schema, make_engine
from worker.claims import STALE_AFTER_S


@dataclass
class WorkerContext:
    paths: DataPaths
    session_factory: sessionmaker
    stale_after_s: float = STALE_AFTER_S  # a claim without heartbeat this long is abandoned

    @classmethod
    def open(cls, database_url: str, data_dir,
             stale_after_s: float = STALE_AFTER_S) -> "WorkerContext":
        """Connect to the database (creating missing tables) for work under ``data_dir``."""
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(database_url)
        create_schema(engine, data_dir)
        return cls(DataPaths(data_dir), sessionmaker(engine, expire_on_commit=False),
                   stale_after_s)

    def session(self) -> Session:
        return self.session_factory()

    def close(self) -> None:
        self.session_factory.kw["bind"].dispose()


_contexts: dict[tuple[int, str, str], WorkerContext] = {}


def context_for(database_url: str, data_dir: str,
                stale_after_s: float = STALE_AFTER_S) -> WorkerContext:
    """The context of this process for these settings, opened on first use."""
    key = (os.getpid(), database_url, str(data_dir))
    if key not in _contexts:
        _contexts[key] = WorkerContext.open(database_url, data_dir, stale_after_s)
    return _contexts[key]
