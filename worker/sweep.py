"""The sweep: work whose worker vanished is taken over even when no worker restarts.

A worker killed whole (its main process too), a host that lost power or froze, leaves its
message unacknowledged in Redis, which hands it out again only after the visibility timeout
(hours); a worker that starts sends such work again (``worker.tasks.requeue_abandoned``), but
none may start. So every worker runs a ``Sweeper``: a thread in its main process that every
RNNLAB_SWEEP_INTERVAL_S looks for corpora and jobs still preprocessing or training whose
heartbeat is older than RNNLAB_STALE_AFTER_S, and sends their task again. The task's claim
(``worker.claims.claim``) takes the row over and resumes it from its last checkpoint.

Every worker sweeps, so the sending is claimed too: a guarded UPDATE stamps the row's
``resent_at``, and only the worker whose stamp landed sends. A row is sent again once per
stale spell (a new claim's heartbeat is newer than the stamp), or after RESEND_AFTER_STALE
times RNNLAB_STALE_AFTER_S when the message sent is still not taken (every worker busy, or the
message lost). A thread rather than Celery beat: beat must run exactly once across all hosts,
while this needs nothing but the workers.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import and_, or_, select, update

from webapp.records import JOB_RUNNING_STATES, Corpus, Job, utcnow
from worker.context import WorkerContext

log = logging.getLogger(__name__)

RESEND_AFTER_STALE = 10
# What is swept: each record with the states its worker holds it in.
SWEPT = ((Corpus, ("preprocessing",)), (Job, JOB_RUNNING_STATES))

# send(row) puts the task that resumes a corpus or job row on the row's queue
Send = Callable[[object], None]


def sweep(ctx: WorkerContext, send: Send) -> list[str]:
    """Send again the task of every abandoned row no other worker has just sent; their ids."""
    now = utcnow()
    stale = now - timedelta(seconds=ctx.stale_after_s)
    sent = []
    for record, states in SWEPT:
        with ctx.session() as session:
            rows = session.scalars(select(record).where(
                record.state.in_(states),
                or_(record.heartbeat_at.is_(None), record.heartbeat_at < stale))).all()
        for row in rows:
            if not _stamp(ctx, record, row, states, stale, now):
                continue  # another worker's sweep sent it, or its worker came back
            what = f"{record.__name__.lower()} {row.id}"
            try:
                send(row)
            except Exception:  # Redis down: unstamp, so the next sweep tries again
                log.warning("sweep could not send %s again", what, exc_info=True)
                _unstamp(ctx, record, row.id, now, row.resent_at)
                continue
            log.info("sweep: %s sent no heartbeat for %d s or more; sent again to be taken over",
                     what, ctx.stale_after_s)
            sent.append(row.id)
    return sent


def _stamp(ctx: WorkerContext, record, row, states, stale: datetime, now: datetime) -> bool:
    """Stamp ``resent_at`` if the row is still abandoned and not sent in this stale spell."""
    resend = now - timedelta(seconds=ctx.stale_after_s * RESEND_AFTER_STALE)
    not_sent_yet = or_(record.resent_at.is_(None), record.resent_at < resend,
                       and_(record.heartbeat_at.is_not(None),
                            record.resent_at < record.heartbeat_at))
    with ctx.session() as session, session.begin():
        result = session.execute(update(record).where(
            record.id == row.id, record.state.in_(states),
            or_(record.heartbeat_at.is_(None), record.heartbeat_at < stale),
            not_sent_yet).values(resent_at=now))
    return result.rowcount == 1


def _unstamp(ctx: WorkerContext, record, row_id: str, now: datetime, before) -> None:
    with ctx.session() as session, session.begin():
        session.execute(update(record).where(record.id == row_id, record.resent_at == now)
                        .values(resent_at=before))


class Sweeper:
    """A daemon thread that runs ``sweep`` every ``interval`` seconds until ``stop()``."""

    def __init__(self, context: Callable[[], WorkerContext], send: Send, interval: float):
        self._context, self._send, self._interval = context, send, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rnnlab-sweep", daemon=True)

    def start(self) -> "Sweeper":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                sweep(self._context(), self._send)
            except Exception:  # a locked or unreachable database: try again next time
                log.warning("the sweep for abandoned work failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
