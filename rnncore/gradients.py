"""Vanishing gradients, measured: how much of the loss at word t reaches the state k steps back.

For each output t of a few sentences, the gradient of its loss L_t with respect to the state
s_{t-k} is carried back with full back-propagation through time (no truncation), and the mean of
its norm over every (sentence, t) that has a state k steps back is reported for k = 0 ... K. A
vanilla RNN's curve falls steeply (part 3 of the tutorial: tanh's derivative and W's small
singular values multiply at every step); a GRU's or an LSTM's stays flatter (part 4).

Every cell is measured the same way, from ``rnncore.generate.LanguageModel``'s own one-step
functions in float64: each step's Jacobian d s_j / d s_{j-1} and the output gradient dL_t/ds_t
by central differences, one batched step per sign (the state's D dimensions perturbed at once),
then the vectors carried back with products of those Jacobians. An LSTM's state is [s, c], so
its gradient covers the memory too. A test holds this equal to the vanilla cell's analytic
gradient.
"""
from __future__ import annotations

import numpy as np

K_MAX = 20  # steps back measured
MAX_SENTENCES = 16
MAX_WORDS = 40  # words of a sentence used (its first ones)
EPS = 1e-5


def _jacobians(lm, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """States (T, D) after reading START and ids[:-1], and each step's Jacobian (T, D, D):
    J[j] = d s_j / d s_{j-1} (J[0] is that of reading START from the zero state)."""
    inputs = [lm.start_index] + list(ids[:-1])
    D = lm.state_dim
    eye = np.eye(D) * EPS  # (D, D)
    s = np.zeros((1, D))
    states, jacobians = [], []
    for x in inputs:
        xs = np.full(D, x)
        plus, minus = lm._step(s + eye, xs), lm._step(s - eye, xs)  # (D, D): row i perturbs i
        jacobians.append(((plus - minus) / (2 * EPS)).T)  # (D, D): [out, in]
        s = lm._step(s, np.array([x]))
        states.append(s[0])
    return np.array(states), np.array(jacobians)


def _output_gradients(lm, states: np.ndarray, targets: list[int]) -> np.ndarray:
    """dL_t/ds_t for L_t = -log P(target_t | s_t): (T, D), by central differences."""
    D = lm.state_dim
    eye = np.eye(D) * EPS
    out = np.empty((len(targets), D))
    for t, (s, y) in enumerate(zip(states, targets)):
        plus = lm._log_probs(s[None, :] + eye)[:, y]  # (D,)
        minus = lm._log_probs(s[None, :] - eye)[:, y]
        out[t] = -(plus - minus) / (2 * EPS)
    return out


def gradient_norms(lm, sentences, k_max: int = K_MAX) -> dict:
    """Mean ||dL_t / d s_{t-k}|| for k = 0 ... k_max over ``sentences`` (id arrays [START, ...,
    END], as a corpus holds them; the first MAX_SENTENCES with two words or more):
    dict(k, mean_norm, pairs (how many (sentence, t) each mean is over), sentences)."""
    sums = np.zeros(k_max + 1)
    pairs = np.zeros(k_max + 1, dtype=np.int64)
    used = 0
    for sentence in sentences:
        if used >= MAX_SENTENCES:
            break
        ids = [int(i) for i in sentence[1:][:MAX_WORDS]]  # targets: every word, END included
        if len(ids) < 2:
            continue
        used += 1
        states, jacobians = _jacobians(lm, ids)
        grads = _output_gradients(lm, states, ids)  # (T, D)
        for t in range(len(ids)):
            v = grads[t]  # dL_t/ds_t
            for k in range(min(k_max, t) + 1):
                sums[k] += np.linalg.norm(v)
                pairs[k] += 1
                v = jacobians[t - k].T @ v  # dL_t/ds_{t-k-1}
    means = [float(s / n) if n else None for s, n in zip(sums, pairs)]
    return {"k": list(range(k_max + 1)), "mean_norm": means, "pairs": pairs.tolist(),
            "sentences": used}
