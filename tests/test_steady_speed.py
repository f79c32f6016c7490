"""A job's steady-state speed as the worker measures it from rnncore's progress reports: stretches
of training only, evaluations and start-up left out, scaled to the machine alone; and on the
job row, where estimates read it."""
from __future__ import annotations

import pytest
from sqlalchemy import update

from conftest import TINY_TRAINING
from webapp.records import Job, utcnow
from worker.claims import claim
from worker.progress import JobProgress
from worker.speed import SteadySpeed


def feed(speed: SteadySpeed, reports) -> None:
    for when, event, seen in reports:
        speed.observe({"event": event, "tokens_seen": seen}, when)


def test_only_stretches_of_training_count():
    speed = SteadySpeed(lambda: 1)
    assert speed.tokens_per_second is None
    # 500 words a second while training; the evaluation (3 s for 100 words) and the checkpoint
    # after it (to the first batch report) are left out.
    feed(speed, [(0.0, "batch", 100), (1.0, "batch", 600), (2.0, "batch", 1100),
                 (5.0, "evaluation", 1200), (5.5, "lr_halved", 1200), (6.5, "batch", 1300),
                 (7.5, "batch", 1800), (9.0, "finished", 1800)])
    assert speed.tokens_per_second == pytest.approx(500)
    assert (speed.words, speed.seconds) == (1500, pytest.approx(3.0))


def test_a_tiny_run_yields_no_figure():
    speed = SteadySpeed(lambda: 1)
    feed(speed, [(0.0, "evaluation", 0), (0.3, "batch", 50), (0.6, "evaluation", 90),
                 (0.9, "batch", 140), (1.2, "evaluation", 180), (1.4, "finished", 180)])
    assert speed.tokens_per_second is None


def test_a_shared_machine_is_counted_out():
    jobs = iter([1, 2, 2])
    speed = SteadySpeed(lambda: next(jobs))
    feed(speed, [(0.0, "batch", 0), (1.0, "batch", 1000), (2.0, "batch", 1500),
                 (3.0, "batch", 2000)])
    # 1000 words in 1 s alone, then 500 a second beside another job: 1000 a second alone.
    assert speed.tokens_per_second == pytest.approx(1000)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_speed_reaches_the_job_row_with_the_jobs_sharing_its_machine(client, ready_corpus,
                                                                         worker_ctx):
    ids = []
    for _ in range(3):
        response = client.post("/api/jobs", json={"corpus_id": ready_corpus["id"],
                                                  **TINY_TRAINING})
        assert response.status_code == 202
        ids.append(response.get_json()["id"])
    mine, beside, elsewhere = ids
    tokens = {}
    for job_id, host in zip(ids, ("cpu1@box", "celery@box", "celery@other")):
        tokens[job_id] = claim(worker_ctx.session_factory, Job, job_id, "training", ("training",),
                               extra={"worker_host": host})
    with worker_ctx.session() as session, session.begin():  # fresh heartbeats
        session.execute(update(Job).where(Job.id == beside).values(heartbeat_at=utcnow()))
    clock = Clock()
    progress = JobProgress(worker_ctx.session_factory, mine, tokens[mine], clock=clock)
    for when, seen in ((0.0, 0), (1.0, 400), (2.0, 800)):
        clock.now = when
        progress({"event": "batch", "tokens_seen": seen, "epoch": 0})
    with worker_ctx.session() as session:
        job = session.get(Job, mine)
        others = [session.get(Job, i).steady_tokens_per_second for i in (beside, elsewhere)]
    # 400 words a second beside one other job on "box" (the one on "other" shares nothing).
    assert job.steady_tokens_per_second == pytest.approx(800)
    assert others == [None, None]
