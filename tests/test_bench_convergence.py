"""The time-to-a-good-model benchmark runs end to end on a tiny corpus and reports consistent times."""
import math

import numpy as np
import pytest

from rnncore import bench_convergence
from rnncore.config import ModelConfig, TrainConfig
from rnncore.preprocess import preprocess_csv
from rnncore.models import split_corpus

TEXTS = ["The cat sat on the mat.", "A dog ran in the park.", "The dog sat on the cat.",
         "A cat ran to the mat.", "The park is big.", "A mat is on the dog."]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "tiny.csv"
    rows = [f'"{TEXTS[i % len(TEXTS)]} {TEXTS[(3 * i + 1) % len(TEXTS)]}"' for i in range(60)]
    path.write_text("text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return preprocess_csv(path, vocabulary_size=40)


def test_runs_record_evaluations_and_time_to_within_5_percent(corpus):
    model_config = ModelConfig(vocabulary_size=len(corpus.vocabulary), hidden_dim=8, engine="numpy")
    base = TrainConfig(nepoch=10_000, batch_size=4, validation_fraction=0.2)
    rates = {"sgd": (0.01,), "adam": (0.01, 0.003)}
    reported = []
    runs = bench_convergence.run_benchmark(corpus, model_config, base, rates, seconds_per_run=1.0,
                                           report=reported.append)

    assert [(r.optimizer, r.learning_rate) for r in runs] == [("sgd", 0.01), ("adam", 0.01),
                                                              ("adam", 0.003)]
    assert reported == runs
    for run in runs:
        assert run.stopped in ("time", "patience", "epochs", "diverged")
        assert run.evaluations and run.evaluations[0].epoch == 0
        seconds = [e.seconds for e in run.evaluations]
        assert seconds == sorted(seconds) and seconds[-1] <= run.seconds
        assert run.best.valid_perplexity == min(e.valid_perplexity for e in run.evaluations)
        within = run.within()
        assert within.valid_perplexity <= 1.05 * run.best.valid_perplexity
        assert within.seconds <= run.best.seconds <= run.seconds
        assert all(e.valid_perplexity > 1.05 * run.best.valid_perplexity
                   for e in run.evaluations if e.seconds < within.seconds)
        assert run.tokens > 0 and run.tokens_per_second > 0

    chosen = bench_convergence.chosen_runs(runs)
    assert set(chosen) == {"sgd", "adam"}
    adam_runs = [r for r in runs if r.optimizer == "adam"]
    assert chosen["adam"].best.valid_perplexity == min(r.best.valid_perplexity for r in adam_runs)

    train, valid, _ = split_corpus(corpus.sentences, base)
    unigram = bench_convergence.unigram_perplexity(train, valid, len(corpus.vocabulary))
    table = bench_convergence.format_table(runs, unigram, "title")
    rows = [line for line in table.splitlines() if line.startswith(("| sgd", "| adam"))]
    assert len(rows) == len(runs)
    assert f"{unigram:.1f}" in table


def test_unigram_perplexity_matches_add_one_counts_by_hand():
    train = [np.array([0, 2, 3, 1], np.int32), np.array([0, 2, 1], np.int32)]
    valid = [np.array([0, 3, 1], np.int32)]
    # Targets after START: counts 2 -> 2, 3 -> 1, 1 -> 2; five words plus one per vocabulary entry.
    expected = math.exp(-(math.log(2 / 9) + math.log(3 / 9)) / 2)
    assert bench_convergence.unigram_perplexity(train, valid, 4) == pytest.approx(expected)


def test_learning_rates_default_per_optimizer_and_refuse_unknown_names():
    rates = bench_convergence.parse_learning_rates(["sgd", "adam"], ["adam=0.001,0.003"])
    assert rates == {"sgd": bench_convergence.DEFAULT_LEARNING_RATES["sgd"], "adam": (0.001, 0.003)}
    with pytest.raises(ValueError, match="OPTIMIZER=RATE"):
        bench_convergence.parse_learning_rates(["sgd"], ["momentum=0.1"])
