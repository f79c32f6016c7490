"""Time estimates through the API once runs have been measured on the server: tiny runs leave a
large job's estimate alone, the vocabulary a model really had is what counts, jobs training now
share the machine, and the time limit is held against the time a run would take alone.
"""
from __future__ import annotations

from urllib.parse import urlencode

import pytest
from markupsafe import escape

from conftest import TINY_TRAINING
from rnncore.config import ModelConfig
from webapp import estimate
from webapp.extensions import db
from webapp.records import Corpus, Job, TrainedModel, utcnow

# The job on Tiny Shakespeare, and the tiny runs that once made it "about 2.3 days".
BIG = {"engine": "pytensor", "hidden_dim": 100, "vocabulary_size": 8000, "nepoch": 30,
       "batch_size": 8, "validation_fraction": 0.1, "cell": "rnn", "dropout": 0.0}
TINY = {"engine": "pytensor", "hidden_dim": 16, "vocabulary_size": 200, "nepoch": 2,
        "batch_size": 8, "cell": "rnn", "dropout": 0.0}
MODEL_KEYS = ("engine", "hidden_dim", "vocabulary_size", "cell", "dropout")


@pytest.fixture
def shakespeare(app, ready_corpus, monkeypatch):
    """The ready corpus with Tiny Shakespeare's size (300,000 words, 12,000 different), on a
    machine whose matrix products run at a made-up 100 GFLOP/s."""
    monkeypatch.setattr(estimate, "matmul_flops", lambda: 1e11)
    with app.app_context():
        corpus = db.session.get(Corpus, ready_corpus["id"])
        corpus.report = {**corpus.report, "tokens": 300_000, "max_vocabulary_size": 12_000}
        db.session.commit()
    return ready_corpus["id"]


def add_job(app, corpus_id: str, settings: dict, state: str = "finished", used: dict | None = None,
            **fields) -> str:
    """A job row as a worker leaves it; ``used``: its model's config where it differs."""
    model = {k: settings[k] for k in MODEL_KEYS}
    train = {"batch_size": settings["batch_size"], "nepoch": settings["nepoch"]}
    with app.app_context():
        fields = {"heartbeat_at": utcnow(), **fields}
        job = Job(corpus_id=corpus_id, state=state, model_config=model, train_config=train,
                  finished_at=utcnow() if state == "finished" else None, **fields)
        db.session.add(job)
        db.session.flush()
        if used is not None:
            db.session.add(TrainedModel(id=job.model_id, job_id=job.id, corpus_id=corpus_id,
                                        name="m", model_config={**model, **used},
                                        train_config=train))
        db.session.commit()
        return job.id


def ask(client, corpus_id: str, settings: dict) -> dict:
    response = client.get(f"/api/estimate?corpus_id={corpus_id}&{urlencode(settings)}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_five_tiny_jobs_leave_a_large_jobs_estimate_alone(client, app, shakespeare, sent_tasks):
    before = ask(client, shakespeare, BIG)
    assert before["basis"] == "model" and not before["calibrated"]
    for _ in range(5):  # whole-run speeds of tiny runs, where start-up and evaluations dominate
        add_job(app, shakespeare, TINY, tokens_per_second=52.0, steady_tokens_per_second=90_000.0)
    after = ask(client, shakespeare, BIG)
    assert before["tokens_per_second"] / 2 < after["tokens_per_second"] < \
        2 * before["tokens_per_second"]
    assert after["basis"] == "model" and "no run of this size" in after["note"]
    response = client.post("/api/jobs", json={"corpus_id": shakespeare, **TINY_TRAINING, **BIG})
    assert response.status_code == 202, response.get_json()
    # The tiny runs do tell a tiny job its speed.
    tiny = ask(client, shakespeare, TINY)
    assert (tiny["basis"], tiny["calibration_runs"]) == ("settings", 5)
    assert tiny["tokens_per_second"] == pytest.approx(90_000)


def test_runs_of_the_same_scale_calibrate_and_may_refuse(client, app, shakespeare, sent_tasks):
    for rate in (3000.0, 3500.0, 4000.0):
        add_job(app, shakespeare, BIG, steady_tokens_per_second=rate)
    guess = ask(client, shakespeare, BIG)
    assert (guess["basis"], guess["calibration_runs"]) == ("settings", 3)
    assert guess["tokens_per_second"] == pytest.approx(3500)
    assert "measured on 3 runs with these settings" in guess["note"]
    app.config["TRAIN_TIME_LIMIT_S"] = int(guess["total_seconds"] / 2)
    response = client.post("/api/jobs", json={"corpus_id": shakespeare, **TINY_TRAINING, **BIG})
    assert response.status_code == 400
    assert "more than the server's limit" in response.get_json()["errors"]["nepoch"]
    assert sent_tasks() == []


def test_a_run_counts_with_the_vocabulary_its_model_had(client, app, shakespeare):
    # Asked for 8000 words, the corpus gave 3000: the run's speed is a 3000-word model's.
    add_job(app, shakespeare, BIG, used={"vocabulary_size": 3000}, steady_tokens_per_second=9000.0)
    assert ask(client, shakespeare, BIG)["basis"] == "model"
    three = ask(client, shakespeare, {**BIG, "vocabulary_size": 3000})
    assert three["basis"] == "settings" and three["tokens_per_second"] == pytest.approx(9000)


def test_an_absurd_measurement_is_floored(client, app, shakespeare):
    add_job(app, shakespeare, BIG, steady_tokens_per_second=5.0)
    guess = ask(client, shakespeare, {**BIG, "nepoch": 2})
    floor = estimate.floor_seconds_per_token(ModelConfig(**{k: BIG[k] for k in MODEL_KEYS}), 8,
                                             1e11)
    assert guess["floored"] and guess["tokens_per_second"] == pytest.approx(1 / floor)


def test_jobs_training_on_the_machine_slow_an_estimate_but_refuse_nothing(
        client, app, shakespeare, sent_tasks):
    alone = ask(client, shakespeare, BIG)
    add_job(app, shakespeare, TINY, state="training", queue="cpu", worker_host="celery@m1")
    add_job(app, shakespeare, TINY, state="training", queue="cpu", worker_host="cpu2@m1")
    # Not counted: a job whose worker went quiet, one on the GPU queue, one that has ended.
    add_job(app, shakespeare, TINY, state="training", queue="cpu", worker_host="celery@m1",
            heartbeat_at=utcnow().replace(year=2000))
    add_job(app, shakespeare, TINY, state="training", queue="gpu", worker_host="gpu1@m1")
    add_job(app, shakespeare, TINY, queue="cpu", worker_host="celery@m1")
    shared = ask(client, shakespeare, BIG)
    assert shared["jobs_sharing"] == 3
    assert shared["tokens_per_second"] == pytest.approx(alone["tokens_per_second"] / 3)
    assert "2 other jobs train on the machine now" in shared["note"]
    # A second machine with one job: a new job would go where fewest train.
    add_job(app, shakespeare, TINY, state="training", queue="cpu", worker_host="celery@m2")
    assert ask(client, shakespeare, BIG)["jobs_sharing"] == 2
    # Over the limit only while the machine is shared: accepted.
    app.config["TRAIN_TIME_LIMIT_S"] = int(alone["total_seconds"] * 1.5)
    response = client.post("/api/jobs", json={"corpus_id": shakespeare, **TINY_TRAINING, **BIG})
    assert response.status_code == 202, response.get_json()


def test_the_training_form_says_what_its_estimate_rests_on(client, app, shakespeare):
    page = client.get(f"/jobs/new?corpus={shakespeare}").get_data(as_text=True)
    assert str(escape("words per second (from the model's arithmetic")) in page


def test_measuring_the_floor_keeps_pytensor_out_of_the_web_process():
    from test_import_boundaries import imported_after

    loaded = imported_after("from webapp import estimate\nassert estimate.matmul_flops() > 0")
    assert "numpy" in loaded and "pytensor" not in loaded
