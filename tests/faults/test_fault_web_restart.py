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


def test_a_database_from_before_owners_is_upgraded_in_place(tmp_path):
    """Restarting on a database an older version made: the new columns are added, rows stay."""
    import sqlite3

    from conftest import dispose, make_test_app

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    database = data_dir / "rnnlab.sqlite3"
    with sqlite3.connect(database) as old:  # the tables as they were, without ``owner``
        old.executescript("""
            CREATE TABLE corpora (id VARCHAR(32) PRIMARY KEY, name VARCHAR(200), source
                VARCHAR(16), state VARCHAR(16), size_bytes INTEGER, columns JSON, text_column
                VARCHAR(200), vocabulary_size INTEGER, fraction_done FLOAT, message TEXT,
                report JSON, error TEXT, claim_token VARCHAR(32), heartbeat_at DATETIME,
                created_at DATETIME, updated_at DATETIME);
            INSERT INTO corpora VALUES ('oldcorpus', 'from last year', 'upload', 'uploaded', 10,
                '["text"]', 'text', 8000, 0.0, NULL, NULL, NULL, NULL, NULL,
                '2025-01-01 00:00:00', '2025-01-01 00:00:00');
        """)
    app = make_test_app(data_dir)
    try:
        client = app.test_client()
        corpora = client.get("/api/corpora").get_json()["corpora"]
        assert [(c["id"], c["name"]) for c in corpora] == [("oldcorpus", "from last year")]
        assert client.get("/").status_code == 200
        # Nobody's browser owns an old row, so only the administrator may change it.
        refused = client.post("/api/corpora/oldcorpus/preprocess", json={})
        assert refused.status_code == 403
    finally:
        dispose(app)
    with sqlite3.connect(database) as upgraded:
        columns = {row[1] for row in upgraded.execute("PRAGMA table_info(corpora)")}
        indexes = {row[1] for row in upgraded.execute("PRAGMA index_list(jobs)")}
    assert "owner" in columns and "ix_jobs_owner" in indexes
