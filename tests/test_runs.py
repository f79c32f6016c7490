"""Comparing runs: names people give their runs (owner only, in words when refused), every run
of a corpus with its settings and validation curve (API and corpus page), and cards that tell
runs apart (cell, optimizer, date). The worker's code trains in this process.
"""
from __future__ import annotations

import math

import pytest

from conftest import TINY_TRAINING
from webapp.extensions import db
from webapp.records import Job
from worker.training import run_training_job


def new_job(client, corpus_id, **changes):
    answer = client.post("/api/jobs", json={"corpus_id": corpus_id, **TINY_TRAINING, **changes})
    assert answer.status_code == 202, answer.get_json()
    return answer.get_json()


def test_a_run_is_named_at_the_start_and_renamed_by_its_owner(app, client, ready_corpus):
    job = new_job(client, ready_corpus["id"], name="  small\tGRU \x00run ")
    assert job["name"] == "small GRU run"
    renamed = client.patch(f"/api/jobs/{job['id']}", json={"name": "Adam, lr 0.01"})
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Adam, lr 0.01"
    assert client.patch(f"/api/jobs/{job['id']}", json={"name": ""}).get_json()["name"] is None
    stranger = app.test_client()
    refused = stranger.patch(f"/api/jobs/{job['id']}", json={"name": "mine now"})
    assert refused.status_code == 403 and "rename" in refused.get_json()["error"]
    assert client.get(f"/api/jobs/{job['id']}").get_json()["name"] is None


@pytest.mark.parametrize("body, status", [({"name": "x" * 121}, 400), ({"name": 5}, 400),
                                          ({}, 400), ({"name": ["a"]}, 400)])
def test_bad_names_are_refused_in_words(client, ready_corpus, body, status):
    job = new_job(client, ready_corpus["id"])
    answer = client.patch(f"/api/jobs/{job['id']}", json=body)
    assert answer.status_code == status and answer.get_json()["errors"]["name"]
    too_long = client.post("/api/jobs", json={"corpus_id": ready_corpus["id"], **TINY_TRAINING,
                                              "name": "y" * 500})
    assert too_long.status_code == 400


def test_the_forms_name_a_run(client, ready_corpus):
    form = {"corpus_id": ready_corpus["id"], "name": "from the form",
            **{k: str(v) for k, v in TINY_TRAINING.items()}}
    answer = client.post("/jobs/new", data=form)
    assert answer.status_code == 302
    job_url = answer.headers["Location"]
    page = client.get(job_url).get_data(as_text=True)
    assert '<span id="job-name">from the form</span>' in page and 'id="name-form"' in page
    job_id = job_url.rsplit("/", 1)[1]
    assert client.post(f"/jobs/{job_id}/name", data={"name": "<b>renamed</b>"}).status_code == 302
    page = client.get(job_url).get_data(as_text=True)
    assert "&lt;b&gt;renamed&lt;/b&gt;" in page and "<b>renamed" not in page


def test_the_corpus_compares_every_run(client, ready_corpus, worker_ctx):
    ids = []
    for changes in ({"optimizer": "adam", "learning_rate": 0.01, "name": "adam"},
                    {"cell": "gru", "nepoch": 3}):
        job = new_job(client, ready_corpus["id"], **changes)
        assert run_training_job(worker_ctx, job["id"]) == "finished"
        ids.append(job["id"])
    answer = client.get(f"/api/corpora/{ready_corpus['id']}/runs").get_json()
    runs = {r["job_id"]: r for r in answer["runs"]}
    assert [r["job_id"] for r in answer["runs"]] == ids  # oldest first
    adam, gru = runs[ids[0]], runs[ids[1]]
    assert (adam["label"], adam["optimizer"], adam["cell"]) == ("adam", "adam", "rnn")
    assert gru["label"] == "GRU 8 · sgd · lr 0.05" and gru["nepoch"] == 3
    for run in (adam, gru):
        job = client.get(f"/api/jobs/{run['job_id']}?since=0").get_json()
        evaluations = [e for e in job["history"] if e["event"] == "evaluation"]
        assert run["curve"] == [{"epoch": e["epoch"], "valid_perplexity": pytest.approx(
            math.exp(e["valid_loss"]))} for e in evaluations]
        assert run["best_perplexity"] == pytest.approx(job["best"]["valid_perplexity"])
    # Both split the corpus alike, so one trigram line serves both.
    assert answer["trigram_lines"] == [{"perplexity": adam["trigram_perplexity"],
                                        "jobs": ids, "label": "trigram counter (validation)"}]
    page = client.get(ready_corpus["url"]).get_data(as_text=True)
    assert 'id="runs-chart"' in page and 'id="runs-table"' in page
    assert page.count('<tr data-job-id="') == 2 and "GRU 8 · sgd · lr 0.05" in page
    best = min(answer["runs"], key=lambda r: r["best_perplexity"])
    assert f'<tr data-job-id="{best["job_id"]}" class="best-run">' in page


def test_runs_that_split_the_corpus_differently_get_their_own_trigram_line(
        client, ready_corpus, worker_ctx):
    for seed in (1, 2):
        job = new_job(client, ready_corpus["id"], seed=seed, nepoch=1)
        assert run_training_job(worker_ctx, job["id"]) == "finished"
    lines = client.get(f"/api/corpora/{ready_corpus['id']}/runs").get_json()["trigram_lines"]
    assert [line["label"] for line in lines] == [
        "trigram counter (vocabulary 58, 10% validation, seed 1)",
        "trigram counter (vocabulary 58, 10% validation, seed 2)"]


def test_cards_show_name_cell_optimizer_and_date(client, app, ready_corpus):
    job = new_job(client, ready_corpus["id"], name="my <first> run", cell="lstm",
                  optimizer="rmsprop")
    home = client.get("/").get_data(as_text=True)
    assert "my &lt;first&gt; run" in home
    assert f'LSTM · rmsprop · <time datetime="{job["created_at"]}">' in home


def test_pages_of_old_jobs_without_the_new_fields_still_render(client, app, ready_corpus):
    job = new_job(client, ready_corpus["id"])
    with app.app_context():
        row = db.session.get(Job, job["id"])
        row.model_config = {k: v for k, v in row.model_config.items()
                            if k not in ("cell", "dropout")}
        row.train_config = {k: v for k, v in row.train_config.items() if k != "optimizer"}
        row.name = row.timeline = row.continued_from = None
        db.session.commit()
    for url in ("/", ready_corpus["url"], job["url"]):
        assert client.get(url).status_code == 200, url
    run = client.get(f"/api/corpora/{ready_corpus['id']}/runs").get_json()["runs"][0]
    assert (run["cell"], run["optimizer"], run["dropout"], run["curve"]) == ("rnn", "sgd", 0.0, [])
