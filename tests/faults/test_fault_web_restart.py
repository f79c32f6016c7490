"""The web process killed (SIGKILL) and started again loses nothing: the API lists the same
corpora, jobs and models, the pages show them, a job that was training goes on, and the browser
that started a job can still cancel it (its cookie outlives the process: the key is on disk).
"""
from __future__ import annotations

import re
import signal

import pytest

from faultkit import page, preprocessed, reddit_or_generated, start_job, until_final, wait_job

pytestmark = pytest.mark.integration
STABLE = ("id", "corpus_id", "state", "model_config", "train_config", "created_at", "model_id")


def listing(stack) -> dict:
    return {kind: stack.get(f"/api/{kind}")[kind] for kind in ("corpora", "jobs", "models")}


def test_a_restarted_web_process_shows_the_same_work(live_stack, tmp_path):
    stack = live_stack
    corpus = preprocessed(stack, reddit_or_generated(tmp_path))
    finished = until_final(stack, start_job(stack, corpus["id"], nepoch=1)["id"])
    running = start_job(stack, corpus["id"], nepoch=200)
    wait_job(stack, running["id"], lambda j: j["state"] == "training" and j["examples_seen"] > 0)
    before = listing(stack)
    _, home_before = page(stack, "/")

    stack.web.kill(signal.SIGKILL)
    stack.start("web")

    after = listing(stack)
    assert after["corpora"] == before["corpora"]
    assert after["models"] == before["models"]
    assert [{k: j.get(k) for k in STABLE} for j in after["jobs"]] == \
        [{k: j.get(k) for k in STABLE} for j in before["jobs"]]
    status, home = page(stack, "/")
    assert status == 200
    ids = set(re.findall(r"/jobs/([A-Za-z0-9_-]{22})", home_before))
    assert ids == set(re.findall(r"/jobs/([A-Za-z0-9_-]{22})", home)) >= {finished["id"],
                                                                         running["id"]}
    for job in (finished, running):
        assert page(stack, f"/jobs/{job['id']}")[0] == 200
    assert page(stack, f"/models/{finished['model_id']}")[0] == 200
    progress = stack.get(f"/api/jobs/{running['id']}")["examples_seen"]
    wait_job(stack, running["id"], lambda j: j["examples_seen"] > progress)
    cancelled = stack.post(f"/api/jobs/{running['id']}/cancel", {}, expect=200)
    assert cancelled["cancel_requested"] is True
    assert until_final(stack, running["id"])["state"] == "cancelled"
