"""The sweep (worker.sweep) against a real SQLite database: abandoned corpora and jobs are sent
again once per stale spell however many workers sweep, fresh or ended ones never, a send that
failed is tried again, and the thread sweeps on its own. The takeover with real worker processes
is tests/faults/test_fault_sweep.py."""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import update

from conftest import TINY_TRAINING
from webapp.records import Corpus, Job, utcnow
from worker.claims import claim
from worker.sweep import RESEND_AFTER_STALE, Sweeper, sweep


def new_job(client, corpus_id) -> str:
    client.application.config["MAX_ACTIVE_JOBS_PER_VISITOR"] = 10
    response = client.post("/api/jobs", json={"corpus_id": corpus_id, **TINY_TRAINING})
    assert response.status_code == 202
    return response.get_json()["id"]


def quiet_for(ctx, record, row_id: str, seconds: float, **values) -> None:
    """The row's worker last sent a heartbeat ``seconds`` ago."""
    with ctx.session() as session, session.begin():
        session.execute(update(record).where(record.id == row_id).values(
            heartbeat_at=utcnow() - timedelta(seconds=seconds), **values))


class Sent(list):
    def __call__(self, row) -> None:
        self.append((type(row).__name__, row.id))


def test_abandoned_work_is_sent_again_once_per_stale_spell(client, ready_corpus, worker_ctx):
    ctx, stale = worker_ctx, worker_ctx.stale_after_s
    abandoned, fresh, queued, ended = (new_job(client, ready_corpus["id"]) for _ in range(4))
    for job_id in (abandoned, fresh, ended):
        assert claim(ctx.session_factory, Job, job_id, "training", ("training",))
    quiet_for(ctx, Job, abandoned, stale + 1)
    quiet_for(ctx, Job, queued, stale + 1)
    quiet_for(ctx, Job, ended, stale + 1, state="finished")
    quiet_for(ctx, Corpus, ready_corpus["id"], stale + 1, state="preprocessing")

    first, second = Sent(), Sent()  # two workers sweeping at once
    assert sorted(sweep(ctx, first) + sweep(ctx, second)) == sorted(
        [abandoned, ready_corpus["id"]])
    assert sorted(first) == [("Corpus", ready_corpus["id"]), ("Job", abandoned)] and not second
    assert sweep(ctx, Sent()) == []  # sent already; the message is on its way

    # Taken over, then abandoned again: a new spell (its last heartbeat came after the first
    # sweep sent it, here moved back in time), sent again.
    assert claim(ctx.session_factory, Job, abandoned, "training", ("training",),
                 stale_after_s=stale)
    assert sweep(ctx, Sent()) == []
    quiet_for(ctx, Job, abandoned, stale + 1, resent_at=utcnow() - timedelta(seconds=stale + 30))
    again = Sent()
    assert sweep(ctx, again) == [abandoned] and again == [("Job", abandoned)]

    # A message nobody took (every worker busy, or lost) is sent again after a long while.
    with ctx.session() as session, session.begin():
        session.execute(update(Job).where(Job.id == abandoned).values(
            resent_at=utcnow() - timedelta(seconds=stale * RESEND_AFTER_STALE + 1)))
    assert sweep(ctx, Sent()) == [abandoned]


def test_a_send_that_failed_is_tried_again(client, ready_corpus, worker_ctx):
    ctx = worker_ctx
    job_id = new_job(client, ready_corpus["id"])
    assert claim(ctx.session_factory, Job, job_id, "training", ("training",))
    quiet_for(ctx, Job, job_id, ctx.stale_after_s + 1)

    def redis_down(row):
        raise ConnectionError("Redis is down")

    assert sweep(ctx, redis_down) == []
    with ctx.session() as session:
        assert session.get(Job, job_id).resent_at is None
    assert sweep(ctx, Sent()) == [job_id]


def test_the_sweeper_thread_sweeps_every_interval(client, ready_corpus, worker_ctx):
    ctx = worker_ctx
    job_id = new_job(client, ready_corpus["id"])
    assert claim(ctx.session_factory, Job, job_id, "training", ("training",))
    quiet_for(ctx, Job, job_id, ctx.stale_after_s + 1)
    sent = threading.Event()
    sweeper = Sweeper(lambda: ctx, lambda row: sent.set(), interval=0.05).start()
    try:
        assert sent.wait(timeout=30)
    finally:
        sweeper.stop()
