"""The learning timeline: every evaluation continues the same prompts (an unprompted sentence,
then the first words of validation sentences) from the same seeds, so two evaluations differ
only by the weights; the worker keeps the prompts on the job row and the job page shows them.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import TINY_TRAINING
from rnncore import timeline
from rnncore.config import ModelConfig, TrainConfig
from rnncore.generate import LanguageModel
from rnncore.preprocess import PreprocessedCorpus
from rnncore.models import build_model, split_corpus
from rnncore.train import train_with_sgd
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN, Vocabulary
from webapp.extensions import db
from webapp.records import Job
from worker.training import run_training_job

WORDS = ("the", "a", "cat", "dog", "sat", "ran", "on", "mat", "log", ".", "big")
VOCAB = Vocabulary(WORDS + (SENTENCE_START, SENTENCE_END, UNKNOWN_TOKEN))


def ids(words: str) -> np.ndarray:
    return np.array([VOCAB.word_to_index[w] for w in
                     [SENTENCE_START, *words.split(), SENTENCE_END]], dtype=np.int32)


def toy_corpus(n=120, seed=0) -> PreprocessedCorpus:
    rng = np.random.default_rng(seed)
    sentences = [ids(f"{rng.choice(['the', 'a'])} {rng.choice(['cat', 'dog'])} "
                     f"{rng.choice(['sat', 'ran'])} on the {rng.choice(['mat', 'log'])} .")
                 for _ in range(n)]
    return PreprocessedCorpus(VOCAB, sentences, {})


def test_prompts_skip_short_unknown_and_repeated_openings():
    sentences = [ids("the cat"), ids(f"the {UNKNOWN_TOKEN} sat on ."), ids("a dog ran on ."),
                 ids("a dog ran ."), ids("the big cat sat ."), ids("a log sat .")]
    assert timeline.prompts(sentences, VOCAB, 3) == [[], ["a", "dog", "ran"],
                                                     ["the", "big", "cat"]]
    assert timeline.prompts(sentences, VOCAB, 1) == [[]]
    assert timeline.shown_prompts(sentences, VOCAB, 2) == ["", "a dog ran"]


def test_samples_begin_with_their_prompts_and_repeat_for_the_same_weights():
    model = build_model(ModelConfig(vocabulary_size=len(VOCAB), hidden_dim=6, engine="numpy",
                                    dtype="float64"))
    lm = LanguageModel.from_params(model.get_params(), VOCAB)
    prompts = [[], ["the", "cat"], ["a", "big", "dog"]]
    first = timeline.samples(lm, prompts, seed=4, stream=3)
    assert first == timeline.samples(lm, prompts, seed=4, stream=3)
    assert first[1].startswith("the cat ") and first[2].startswith("a big dog ")
    assert timeline.samples(lm, prompts, seed=5, stream=3) != first


def test_every_evaluation_continues_the_same_prompts_from_the_same_seeds():
    corpus = toy_corpus()
    config = TrainConfig(learning_rate=1e-12, nepoch=3, batch_size=8, seed=2)
    model = build_model(ModelConfig(vocabulary_size=len(VOCAB), hidden_dim=8, engine="numpy",
                                    dtype="float64"), config)
    events = []
    train_with_sgd(model, corpus, config, callback=events.append, num_samples=3)
    evaluations = [e["samples"] for e in events if e["event"] == "evaluation"]
    assert len(evaluations) == 4
    # Weights that (almost) do not move: every evaluation writes the very same samples.
    assert all(samples == evaluations[0] for samples in evaluations)
    _, valid, _ = split_corpus(corpus.sentences, config)
    shown = timeline.shown_prompts(valid, VOCAB, 3)
    assert shown[0] == "" and all(s.startswith(p) for s, p in zip(evaluations[0], shown))


def test_the_worker_keeps_the_prompts_and_the_page_shows_them(client, ready_corpus, worker_ctx):
    job = client.post("/api/jobs", json={"corpus_id": ready_corpus["id"], **TINY_TRAINING})
    job_id = job.get_json()["id"]
    assert run_training_job(worker_ctx, job_id) == "finished"
    job = client.get(f"/api/jobs/{job_id}?since=0").get_json()
    prefixes = job["timeline"]["prefixes"]
    assert len(prefixes) == timeline.PROMPTS and prefixes[0] == "" and all(prefixes[1:])
    evaluations = [e for e in job["history"] if e["event"] == "evaluation"]
    for e in evaluations:
        assert len(e["samples"]) == timeline.PROMPTS
        assert all(s.startswith(p) for s, p in zip(e["samples"], prefixes))
    page = client.get(job["url"]).get_data(as_text=True)
    assert 'id="timeline-range"' in page and f'max="{len(evaluations) - 1}"' in page
    assert page.count('<strong class="prompt">') == timeline.PROMPTS - 1
    assert 'id="timeline-old"' not in page


def test_an_older_job_without_prompts_still_shows_its_samples(client, app, ready_corpus,
                                                             worker_ctx):
    job_id = client.post("/api/jobs", json={"corpus_id": ready_corpus["id"],
                                            **TINY_TRAINING}).get_json()["id"]
    assert run_training_job(worker_ctx, job_id) == "finished"
    with app.app_context():
        db.session.get(Job, job_id).timeline = None
        db.session.commit()
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'id="timeline-old"' in page and '<strong class="prompt">' not in page
    assert client.get(f"/api/jobs/{job_id}").get_json()["timeline"] is None


@pytest.mark.parametrize("n", [0, 1, 5])
def test_as_many_prompts_as_asked_when_the_corpus_has_them(n):
    assert len(timeline.prompts(toy_corpus().sentences, VOCAB, n)) == min(n, 5)
