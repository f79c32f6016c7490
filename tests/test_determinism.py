"""One seed, one model: training gives the same weights bit for bit however busy the machine is.

The fused output layer shares its blocks over the cores; if the order in which their float32
partial sums are added depended on which thread came first, a second run beside another busy
process would end elsewhere (training amplifies a last-bit difference into another model). These
tests run the same training with and without CPU-bound neighbour processes, and kill a run under
load and resume it, and ask for identical weights. Bit-for-bit comparisons only ever compare runs
on this one machine.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import numpy as np
import pytest

from conftest import REPO
from rnncore.checkpoint import load_checkpoint
from rnncore.config import ModelConfig, TrainConfig, available_engines
from rnncore.fused_classes import class_cross_entropy
from rnncore.fused_output import softmax_cross_entropy
from rnncore.preprocess import PreprocessedCorpus
from rnncore.models import build_model
from rnncore.train import train_with_sgd
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN, Vocabulary
from rnncore.word_classes import ClassLayout, assign_classes, zipf_counts

WORDS = 2000


@contextmanager
def busy_neighbours(count: int = 2):
    """CPU-bound processes on every core while the block runs."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(0.2)  # let them take the cores
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def synthetic_corpus(sentences: int = 600, seed: int = 0) -> PreprocessedCorpus:
    """Sentences of 8-30 Zipf-distributed word ids; long enough that batches span many blocks."""
    rng = np.random.default_rng(seed)
    words = [SENTENCE_START, SENTENCE_END] + [f"w{i}" for i in range(WORDS - 3)] + [UNKNOWN_TOKEN]
    p = 1.0 / np.arange(1, WORDS - 2)
    body = [rng.choice(np.arange(2, WORDS - 1), size=int(n), p=p / p.sum())
            for n in rng.integers(8, 31, sentences)]
    ids = [np.concatenate([[0], b, [1]]).astype(np.int32) for b in body]
    return PreprocessedCorpus(Vocabulary(tuple(words)), ids, {})


def settings(engine: str) -> tuple[ModelConfig, TrainConfig]:
    dtype = "float64" if engine == "numpy" else "float32"
    return (ModelConfig(vocabulary_size=WORDS, hidden_dim=24, engine=engine, dtype=dtype),
            TrainConfig(learning_rate=0.003, nepoch=2, batch_size=64, optimizer="adam",
                        clip_norm=0.5, seed=7))


def train_once(corpus, engine: str, output: str = "softmax") -> dict:
    model_config, train_config = settings(engine)
    model_config = ModelConfig(**{**model_config.to_dict(), "output": output})
    model = build_model(model_config, train_config)
    return train_with_sgd(model, corpus, train_config, model_config=model_config,
                          num_samples=0).params


def test_the_output_layers_sums_do_not_depend_on_thread_timing():
    rng = np.random.default_rng(0)
    S = rng.standard_normal((1500, 64), dtype=np.float32)  # (N, H): 12 blocks of 128 rows
    V = rng.standard_normal((3000, 64), dtype=np.float32) * 0.1  # (C, H)
    target, mask = rng.integers(0, 3000, 1500), np.ones(1500, dtype=np.float32)
    first = softmax_cross_entropy(S, V, target, mask, threads=2)
    with busy_neighbours():
        again = [softmax_cross_entropy(S, V, target, mask, threads=2) for _ in range(20)]
    for loss, dS, dV in again:
        assert loss == first[0]
        np.testing.assert_array_equal(dS, first[1])
        np.testing.assert_array_equal(dV, first[2])


def test_the_class_layers_sums_do_not_depend_on_thread_timing():
    rng = np.random.default_rng(1)
    layout = ClassLayout.of(assign_classes(zipf_counts(3000), 55), 55)
    S = rng.standard_normal((1500, 64), dtype=np.float32)  # (N, H)
    V, Vc = (rng.standard_normal((n, 64), dtype=np.float32) * 0.1 for n in (3000, 55))
    target = rng.choice(3000, 1500, p=zipf_counts(3000) / zipf_counts(3000).sum())
    args = (S, V, Vc, target, np.ones(1500, dtype=np.float32), layout.word_class,
            layout.position, layout.starts)
    first = class_cross_entropy(*args, threads=2)
    with busy_neighbours():
        again = [class_cross_entropy(*args, threads=2) for _ in range(20)]
    for result in again:
        assert result[0] == first[0]
        for got, want in zip(result[1:], first[1:]):
            np.testing.assert_array_equal(got, want)


def test_one_seed_gives_one_class_model_beside_a_busy_neighbour():
    corpus = synthetic_corpus(sentences=600)
    quiet = train_once(corpus, "pytensor", "classes")
    with busy_neighbours():
        loaded = train_once(corpus, "pytensor", "classes")
    for name in quiet:
        np.testing.assert_array_equal(loaded[name], quiet[name], err_msg=name)


@pytest.mark.parametrize("engine", available_engines())
def test_one_seed_gives_identical_weights_beside_a_busy_neighbour(engine):
    corpus = synthetic_corpus(sentences=300 if engine == "numpy" else 600)
    quiet = train_once(corpus, engine)
    with busy_neighbours():
        loaded = train_once(corpus, engine)
    for name in quiet:
        np.testing.assert_array_equal(loaded[name], quiet[name], err_msg=name)


def _train_command(corpus_path, output, *extra) -> list[str]:
    model_config, train_config = settings("pytensor")
    flags = {"hidden-dim": model_config.hidden_dim, "learning-rate": train_config.learning_rate,
             "batch-size": train_config.batch_size, "optimizer": train_config.optimizer,
             "clip-norm": train_config.clip_norm, "seed": train_config.seed, "nepoch": 5}
    return [sys.executable, "-m", "rnncore", "train", str(corpus_path), "-o", str(output),
            "--quiet", *[f"--{k}={v}" for k, v in flags.items()], *extra]


def _run(command):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def _kill_after_first_epoch(command, checkpoint) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    try:
        while not (checkpoint.exists() and load_checkpoint(checkpoint).state["epoch"] >= 1):
            assert process.poll() is None, f"training ended before it was killed: " \
                                           f"{process.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline, "no checkpoint after the first epoch"
            time.sleep(0.02)
        assert process.poll() is None, "training finished before it could be killed"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stderr.close()


@pytest.mark.slow
def test_a_run_killed_under_load_resumes_to_the_uninterrupted_weights(tmp_path):
    corpus_path, straight, killed = tmp_path / "corpus.npz", tmp_path / "a.npz", tmp_path / "b.npz"
    synthetic_corpus().save(corpus_path)
    _run(_train_command(corpus_path, straight))
    with busy_neighbours():
        _kill_after_first_epoch(_train_command(corpus_path, killed), killed)
        assert not load_checkpoint(killed).state["finished"]
        _run(_train_command(corpus_path, killed, "--resume", str(killed)))
    a, b = load_checkpoint(straight), load_checkpoint(killed)
    assert b.state["finished"] and b.state["epoch"] == a.state["epoch"] == 5
    for name in a.params:
        np.testing.assert_array_equal(b.params[name], a.params[name], err_msg=name)
