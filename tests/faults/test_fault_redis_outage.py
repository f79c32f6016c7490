"""Redis stopped while a job trains and another waits, then started again.

While it is down the web app keeps serving pages and the playground (rate limits fall back to
memory), and whatever must reach a worker is refused with 503 in words without leaving a row
behind; the running job keeps training (its state is in the database, not in Redis); once Redis
is back the waiting job is still queued, the running one goes on where it was, and once it is
cancelled to make room the waiting one runs to the end.
"""
from __future__ import annotations

import logging
import signal
import time

import pytest

from faultkit import (page, post_form, preprocessed, reddit_or_generated, start_job, timed,
                      until_final, wait_job)

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

OUTAGE_S = 8  # long enough for the worker to notice and go through its reconnect loop
NEPOCH = 25  # trains through the outage (0.4 to 2 s an epoch here, by load)


def test_the_app_rides_out_a_redis_outage(live_stack, tmp_path):
    stack = live_stack
    corpus = preprocessed(stack, reddit_or_generated(tmp_path))
    model_job = start_job(stack, corpus["id"], nepoch=1)
    model_id = until_final(stack, model_job["id"])["model_id"]
    running = start_job(stack, corpus["id"], nepoch=NEPOCH)
    waiting = start_job(stack, corpus["id"], nepoch=1, seed=2)
    progress = wait_job(stack, running["id"], lambda j: j["epoch"] >= 1)["examples_seen"]
    jobs_before = [j["id"] for j in stack.get("/api/jobs")["jobs"]]

    stack.redis.kill(signal.SIGTERM)
    started = time.monotonic()
    latencies = {}
    for path in ("/", f"/jobs/{running['id']}", f"/models/{model_id}", "/jobs/new",
                 f"/corpora/{corpus['id']}"):
        (status, _), latencies[path] = timed(lambda: page(stack, path))
        assert status == 200, path
    (status, answer), latencies["generate"] = timed(lambda: stack.request(
        "POST", f"/api/models/{model_id}/generate", b'{"prefix": "i think", "seed": 1}',
        {"Content-Type": "application/json"}))
    assert status == 200 and len(answer["samples"]) == 3
    (status, answer), latencies["new job"] = timed(lambda: stack.request(
        "POST", "/api/jobs", b'{"corpus_id": "%s", "engine": "numpy", "vocabulary_size": 500}'
        % corpus["id"].encode(), {"Content-Type": "application/json"}))
    assert status == 503
    assert "The task queue (Redis) cannot be reached" in answer["error"]
    assert "Nothing was changed" in answer["error"]
    status, html = post_form(stack, "/jobs/new", {"corpus_id": corpus["id"], "engine": "numpy",
                                                 "vocabulary_size": "500"}, "/jobs/new")
    assert status == 503 and "Queue unavailable" in html and "cannot be reached" in html
    assert [j["id"] for j in stack.get("/api/jobs")["jobs"]] == jobs_before  # no half-made job
    assert stack.upload(reddit_or_generated(tmp_path))["state"] == "uploaded"  # needs no queue
    # The job trains on through the outage (until it is long enough, or the job nearly done).
    later = wait_job(stack, running["id"], lambda j: j["examples_seen"] > progress, timeout=30)
    assert later["state"] == "training"
    wait_job(stack, running["id"], lambda j: j["fraction_done"] > 0.9 or
             time.monotonic() - started > OUTAGE_S, timeout=OUTAGE_S + 5, interval=0.2)
    outage = time.monotonic() - started
    log.info("outage %.1f s; answers took %s", outage,
             {k: round(v, 3) for k, v in latencies.items()})
    assert max(v for k, v in latencies.items() if k != "new job") < 2.0
    assert latencies["new job"] < 10.0

    stack.start("redis")
    assert stack.get(f"/api/jobs/{waiting['id']}")["state"] == "queued"
    back = stack.get(f"/api/jobs/{running['id']}")
    if back["state"] == "training":  # it goes on from where it was, then make room for the next
        wait_job(stack, running["id"], lambda j: j["examples_seen"] > back["examples_seen"]
                 or j["state"] != "training")
        status, answer = stack.request("POST", f"/api/jobs/{running['id']}/cancel", b"{}",
                                       {"Content-Type": "application/json"})
        assert status == 200 or (status, answer["error"]) == (
            409, "This job has already finished; there is nothing to cancel.")
    first, second = until_final(stack, running["id"]), until_final(stack, waiting["id"])
    assert first["state"] in ("finished", "cancelled"), first["error"]
    assert first["attempts"] == 1  # never restarted
    events = stack.get(f"/api/jobs/{running['id']}?since=0")["history"]
    assert not [e for e in events if e["event"] == "resumed"]
    seen = [e["examples_seen"] for e in events]
    assert seen == sorted(seen) and seen[-1] >= later["examples_seen"]
    assert second["state"] == "finished", second["error"]
