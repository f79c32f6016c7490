"""Claiming a row before working on it, and keeping the claim alive.

A task owns a corpus or job only after a guarded UPDATE moved it out of ``queued`` (or took it over
from a worker whose heartbeat stopped) and stored a fresh ``claim_token``. Every later write is
guarded by that token, so a message delivered twice runs once, and a worker that lost its claim
can no longer overwrite the row. ``Heartbeat`` refreshes ``heartbeat_at`` from a thread, which
covers the quiet stretches (reading a large CSV, compiling the PyTensor graph) between progress
reports.
"""
from __future__ import annotations

import logging
import secrets
import threading
from datetime import timedelta

from sqlalchemy import and_, or_, update
from sqlalchemy.orm import sessionmaker

from webapp.records import utcnow

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 5.0
# A running row whose heartbeat is older than this belongs to a worker that died.
STALE_AFTER_S = 60.0


def seconds_until_stale(row, stale_after_s: float = STALE_AFTER_S) -> float:
    """How long until this row's claim counts as abandoned; 0 when it already does."""
    if row.heartbeat_at is None:
        return 0.0
    return max(0.0, stale_after_s - (utcnow() - row.heartbeat_at).total_seconds())


def claim(session_factory: sessionmaker, record, row_id: str, running_state: str,
          running_states: tuple[str, ...], extra: dict | None = None,
          max_attempts: int | None = None, stale_after_s: float = STALE_AFTER_S) -> str | None:
    """Move a queued (or abandoned) row to ``running_state``; return the new token, or None."""
    now = utcnow()
    stale = now - timedelta(seconds=stale_after_s)
    abandoned = and_(record.state.in_(running_states),
                     or_(record.heartbeat_at.is_(None), record.heartbeat_at < stale))
    conditions = [record.id == row_id, or_(record.state == "queued", abandoned)]
    if max_attempts is not None:
        conditions.append(record.attempts < max_attempts)
    token = secrets.token_hex(16)
    values = {"state": running_state, "claim_token": token, "heartbeat_at": now}
    values.update(extra or {})
    with session_factory() as session, session.begin():
        result = session.execute(update(record).where(*conditions).values(**values))
    return token if result.rowcount == 1 else None


def guarded_update(session_factory: sessionmaker, record, row_id: str, token: str,
                   **values) -> bool:
    """Update the row only while ``token`` still holds the claim; False when the claim is lost."""
    with session_factory() as session, session.begin():
        result = session.execute(update(record).where(
            record.id == row_id, record.claim_token == token).values(**values))
    return result.rowcount == 1


class Heartbeat:
    """A daemon thread that stamps ``heartbeat_at`` every few seconds while the claim is held."""

    def __init__(self, session_factory: sessionmaker, record, row_id: str, token: str,
                 interval: float = HEARTBEAT_INTERVAL_S):
        self._args = (session_factory, record, row_id, token)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{row_id}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                if not guarded_update(*self._args, heartbeat_at=utcnow()):
                    return
            except Exception:  # a locked database now and then must not end the run
                log.warning("heartbeat write failed", exc_info=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval + 5)
