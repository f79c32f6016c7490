"""How a model compares with counting, on its pages: the sentence, the job's and model's records,
and pages of jobs and models made before the comparison (and the gated cells) existed.
"""
from __future__ import annotations

import math

from sqlalchemy import update

from webapp.extensions import db
from webapp.records import Job, TrainedModel
from webapp.serialize import comparison

# A job row as the previous version wrote it: no cell, dropout or patience, no best, no baselines.
OLD_MODEL_CONFIG = {"vocabulary_size": 60, "hidden_dim": 8, "bptt_truncate": 3,
                    "engine": "numpy", "dtype": "float64"}
OLD_TRAIN_CONFIG = {"learning_rate": 0.05, "nepoch": 2, "evaluate_loss_after": 1,
                    "batch_size": 16, "validation_fraction": 0.1, "clip_norm": None, "seed": 3,
                    "optimizer": "sgd", "max_sentence_length": None}


def test_the_sentence_says_which_is_better():
    best = {"epoch": 4, "valid_perplexity": 90.0}
    assert comparison(best, {"trigram_perplexity": 100.0}) == (
        "This model: 90.0 validation perplexity (best evaluation, epoch 4); trigram counter: "
        "100.0 (10% lower, better).")
    assert "the counter is still better" in comparison(best, {"trigram_perplexity": 80.0})
    mixed = comparison(best, {"trigram_perplexity": 100.0,
                              "mixture": {"rnn_weight": 0.6, "perplexity": 80.0}})
    assert mixed.endswith("(10% lower, better); the two mixed (60% network): 80.0.")
    assert comparison(best, {}) == "This model: 90.0 validation perplexity (best evaluation, epoch 4)."
    assert comparison(None, {"trigram_perplexity": 80.0}) == \
        "The trigram counter: 80.0 validation perplexity."
    assert comparison(None, None) == ""


def test_a_trained_job_and_its_model_say_how_they_compare(client, trained_model):
    job = client.get(f"/api/jobs/{trained_model['job_id']}?since=0").get_json()
    best, baselines = job["best"], job["baselines"]
    assert best["valid_loss"] == min(e["valid_loss"] for e in job["history"]
                                     if e["event"] == "evaluation")
    assert trained_model["best_epoch"] == best["epoch"]
    assert trained_model["valid_perplexity"] == math.exp(best["valid_loss"])
    assert 1 < baselines["trigram_perplexity"] < baselines["unigram_perplexity"]
    assert trained_model["baselines"] == baselines
    assert job["comparison"].startswith("This model: ") and "trigram counter" in job["comparison"]
    page = client.get(f"/jobs/{job['id']}").get_data(as_text=True)
    assert job["comparison"] in page
    playground = client.get(f"/models/{trained_model['id']}").get_data(as_text=True)
    assert trained_model["comparison"] in playground


def test_pages_of_jobs_and_models_made_before_still_render(app, client, trained_model):
    with app.app_context():
        db.session.execute(update(Job).where(Job.id == trained_model["job_id"]).values(
            model_config=OLD_MODEL_CONFIG, train_config=OLD_TRAIN_CONFIG, best=None,
            baselines=None))
        db.session.execute(update(TrainedModel).where(TrainedModel.id == trained_model["id"]).values(
            model_config=OLD_MODEL_CONFIG, train_config=OLD_TRAIN_CONFIG, best_epoch=None,
            baselines=None))
        db.session.commit()
    job_page = client.get(f"/jobs/{trained_model['job_id']}")
    assert job_page.status_code == 200
    assert '<th scope="row">Patience</th><td>–</td>' in job_page.get_data(as_text=True)
    job = client.get(f"/api/jobs/{trained_model['job_id']}").get_json()
    assert (job["best"], job["baselines"], job["comparison"]) == (None, {}, "")
    playground = client.get(f"/models/{trained_model['id']}")
    assert playground.status_code == 200 and 'id="model-comparison"' not in \
        playground.get_data(as_text=True)
    assert client.get("/").status_code == 200
    answer = client.post(f"/api/models/{trained_model['id']}/generate", json={"prefix": "the cat"})
    assert answer.status_code == 200
