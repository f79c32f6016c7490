"""Vanishing gradients: rnncore.gradients against the vanilla cell's gradient written out here
(tanh's derivative times W at each step, V^T (p - y) at the output), against perturbing a
gated cell's state k steps back and running LanguageModel's own steps forward again, and the curve falling as the
tutorial's part 3 says; then the worker records it at each evaluation and the API returns it.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import TINY_TRAINING
from rnncore.generate import LanguageModel
from rnncore.gradients import gradient_norms
from rnncore.rnn_numpy import RNNNumpy
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN, Vocabulary
from worker.training import run_training_job

WORDS = tuple(f"w{i}" for i in range(9)) + (SENTENCE_START, SENTENCE_END, UNKNOWN_TOKEN)
VOCAB = Vocabulary(WORDS)
START, END = VOCAB.word_to_index[SENTENCE_START], VOCAB.word_to_index[SENTENCE_END]


def lm_for(cell: str, seed: int = 0, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    model = RNNNumpy(len(VOCAB), hidden_dim=6, bptt_truncate=3, dtype=np.float64, rng=rng,
                     cell=cell)
    params = {k: v * scale for k, v in model.get_params().items()}
    return LanguageModel.from_params(params, VOCAB), params


def sentences(n: int = 3, length: int = 9, seed: int = 1):
    rng = np.random.default_rng(seed)
    return [np.array([START, *rng.integers(0, 9, length), END]) for _ in range(n)]


def analytic(params, sentence, k_max):
    """The vanilla cell by hand: mean ||dL_t/ds_{t-k}|| for k = 0 ... k_max."""
    U, V, W = params["U"], params["V"], params["W"]
    inputs, targets = sentence[:-1], sentence[1:]
    s, states = np.zeros(W.shape[0]), []
    for x in inputs:
        s = np.tanh(U[:, x] + W @ s)
        states.append(s)
    sums, pairs = np.zeros(k_max + 1), np.zeros(k_max + 1)
    for t, y in enumerate(targets):
        logits = V @ states[t]
        p = np.exp(logits - logits.max())
        p /= p.sum()
        v = V.T @ (p - np.eye(len(p))[y])
        for k in range(min(k_max, t) + 1):
            sums[k] += np.linalg.norm(v)
            pairs[k] += 1
            v = W.T @ ((1 - states[t - k] ** 2) * v)
    return sums / pairs


def test_the_vanilla_cell_matches_its_analytic_gradient():
    lm, params = lm_for("rnn", scale=2.0)
    data = sentences(n=1)
    measured = gradient_norms(params, data, START, k_max=8)
    np.testing.assert_allclose(measured["mean_norm"], analytic(params, data[0], 8), rtol=1e-5)
    assert measured["pairs"] == [10 - k for k in range(9)] and measured["sentences"] == 1


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_gated_cells_match_perturbing_the_state_and_running_on(cell):
    lm, params = lm_for(cell, seed=3, scale=1.5)
    sentence = sentences(n=1, length=6)[0]
    ids = [int(i) for i in sentence[1:]]
    inputs = [START] + ids[:-1]
    t, k = 5, 3
    s = np.zeros((1, lm.state_dim))
    for x in inputs[:t - k + 1]:  # s_{t-k}
        s = lm._step(s, np.array([x]))

    def loss_from(state):
        state = state[None, :]
        for x in inputs[t - k + 1:t + 1]:
            state = lm._step(state, np.array([x]))
        return -lm._log_probs(state)[0, ids[t]]

    eps, grad = 1e-6, np.zeros(lm.state_dim)
    for i in range(lm.state_dim):
        e = np.zeros(lm.state_dim)
        e[i] = eps
        grad[i] = (loss_from(s[0] + e) - loss_from(s[0] - e)) / (2 * eps)
    # The measurement's own vector for this (t, k), against the perturbed forward pass.
    from rnncore import gradients

    states, jacobians = gradients._steps(params, cell, inputs)
    np.testing.assert_allclose(states, lm._states(ids[:-1]), rtol=1e-12, atol=1e-12)
    v = gradients._output_gradients(params, states, ids, lm.hidden_dim)[t]
    for j in range(t, t - k, -1):
        v = jacobians[j].T @ v
    np.testing.assert_allclose(v, grad, rtol=1e-4, atol=1e-8)


def test_a_vanilla_rnn_forgets_faster_than_an_lstm():
    data = sentences(n=4, length=25)
    rnn = gradient_norms(lm_for("rnn", seed=2, scale=0.5)[1], data, START)["mean_norm"]
    lstm = gradient_norms(lm_for("lstm", seed=2, scale=0.5)[1], data, START)["mean_norm"]
    assert rnn[15] / rnn[0] < 1e-3, rnn
    assert rnn[15] / rnn[0] < lstm[15] / lstm[0], (rnn, lstm)


def test_each_evaluation_records_the_gradient_norms(client, ready_corpus, worker_ctx):
    job = client.post("/api/jobs", json={"corpus_id": ready_corpus["id"], **TINY_TRAINING})
    job_id = job.get_json()["id"]
    assert run_training_job(worker_ctx, job_id) == "finished"
    history = client.get(f"/api/jobs/{job_id}?since=0").get_json()["history"]
    for event in history:
        norms = event["gradient_norms"]
        if event["event"] != "evaluation":
            assert norms is None
            continue
        assert norms["k"] == list(range(21)) and norms["sentences"] > 0
        assert norms["mean_norm"][0] > 0 and len(norms["pairs"]) == 21
