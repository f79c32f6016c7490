"""Vanishing gradients, measured: how much of the loss at word t reaches the state k steps back.

For each output t of a few sentences, the gradient of its loss L_t with respect to the state
s_{t-k} is carried back with full back-propagation through time (no truncation), and the mean of
its norm over every (sentence, t) that has a state k steps back is reported for k = 0 ... K. Part
3 of the tutorial shows why a vanilla RNN's falls fast (tanh's derivative and W multiply at every
step); part 4 how a GRU's or an LSTM's gates can hold it up.

Each step's Jacobian d s_j / d s_{j-1} is written out per cell (the same equations as
``rnncore.generate.LanguageModel``'s steps, in float64), and the output gradient is the softmax's
V^T (p - y); a class-factored output layer's is taken by central differences of its log
probabilities. An LSTM's state is [s, c], so its gradient covers the memory too. Tests hold the
result equal to a hand-written vanilla gradient and to perturbing a gated state and running on.
"""
from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from rnncore.cells import cell_of, sigmoid

K_MAX = 20  # steps back measured
MAX_SENTENCES = 16
MAX_WORDS = 40  # words of a sentence used (its first ones)
EPS = 1e-5  # central differences of a class layer's output


def _steps(params: dict, cell: str, inputs: list[int]):
    """States (T, D) after each input, and each step's Jacobian (T, D, D): J[j] = d s_j/d s_{j-1}."""
    U, W = np.asarray(params["U"], np.float64), np.asarray(params["W"], np.float64)
    H = W.shape[1]
    b = np.asarray(params["b"], np.float64) if "b" in params else 0.0
    D = 2 * H if cell == "lstm" else H
    state = np.zeros(D)
    states, jacobians = [], []
    for x in inputs:
        pre = U[:, x] + b  # (G*H,)
        if cell == "rnn":
            s = np.tanh(pre + W @ state)
            J = (1 - s**2)[:, None] * W
            state = s
        elif cell == "gru":
            state, J = _gru(pre, W, state, H)
        else:
            state, J = _lstm(pre, W, state, H)
        states.append(state)
        jacobians.append(J)
    return np.array(states), np.array(jacobians)


def _gru(pre, W, s, H):
    """s' = (1 - z) h + z s; z, r = sigmoid(U x + W s + b), h = tanh(U_h x + W_h (r s) + b_h)."""
    W_z, W_r, W_h = W[:H], W[H:2 * H], W[2 * H:]
    z, r = sigmoid(pre[:H] + W_z @ s), sigmoid(pre[H:2 * H] + W_r @ s)
    h = np.tanh(pre[2 * H:] + W_h @ (r * s))
    dz = (z * (1 - z))[:, None] * W_z  # (H, H)
    dr = (r * (1 - r))[:, None] * W_r
    dh = (1 - h**2)[:, None] * (W_h @ (np.diag(r) + s[:, None] * dr))
    J = np.diag(z) + (s - h)[:, None] * dz + (1 - z)[:, None] * dh
    return (1 - z) * h + z * s, J


def _lstm(pre, W, state, H):
    """[s', c']: a = U x + b + W s; c' = f c + i g; s' = o tanh(c')."""
    s, c = state[:H], state[H:]
    a = pre + W @ s  # (4H,): i, f, o, g
    i, f, o, g = sigmoid(a[:H]), sigmoid(a[H:2 * H]), sigmoid(a[2 * H:3 * H]), np.tanh(a[3 * H:])
    c_new = f * c + i * g
    tc = np.tanh(c_new)
    di = (i * (1 - i))[:, None] * W[:H]  # d i / d s, (H, H)
    df = (f * (1 - f))[:, None] * W[H:2 * H]
    do = (o * (1 - o))[:, None] * W[2 * H:3 * H]
    dg = (1 - g**2)[:, None] * W[3 * H:]
    dc_ds = c[:, None] * df + g[:, None] * di + i[:, None] * dg
    dc_dc = np.diag(f)
    through = (o * (1 - tc**2))[:, None]
    J = np.block([[tc[:, None] * do + through * dc_ds, through * dc_dc], [dc_ds, dc_dc]])
    return np.concatenate([o * tc, c_new]), J


def _output_gradients(params: dict, states: np.ndarray, targets: list[int], H: int):
    """dL_t/ds_t for L_t = -log P(target_t | s_t): (T, D); an LSTM's memory gets none."""
    out = np.zeros_like(states)
    S = states[:, :H]  # (T, H)
    if "Vc" not in params:
        V = np.asarray(params["V"], np.float64)  # (word_dim, H)
        logits = S @ V.T  # (T, word_dim)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(targets)), targets] -= 1.0
        out[:, :H] = p @ V  # V^T (p - y), row by row
        return out
    from rnncore.word_classes import ClassOutput  # only for the class-factored layer

    layer = ClassOutput(params["V"], params["Vc"], params["word_class"])
    eye = np.eye(H) * EPS
    for t, (s, y) in enumerate(zip(S, targets)):
        plus, minus = layer.log_probs(s + eye)[:, y], layer.log_probs(s - eye)[:, y]
        out[t, :H] = -(plus - minus) / (2 * EPS)
    return out


def gradient_norms(params: dict, sentences, start_index: int, k_max: int = K_MAX) -> dict:
    """Mean ||dL_t / d s_{t-k}|| for k = 0 ... k_max over ``sentences`` (id arrays [START, ...],
    as a corpus holds them; the first MAX_SENTENCES with two words or more), for the weights
    ``params`` (U, V, W, and b for a gated cell; Vc, word_class for the class layer):
    dict(k, mean_norm, pairs (how many (sentence, t) each mean is over), sentences)."""
    # Small products: BLAS threads would spend more time handing work over than computing.
    with threadpool_limits(limits=1, user_api="blas"):
        return _gradient_norms(params, sentences, start_index, k_max)


def _gradient_norms(params: dict, sentences, start_index: int, k_max: int) -> dict:
    cell = cell_of(params)
    H = np.asarray(params["W"]).shape[1]
    sums = np.zeros(k_max + 1)
    pairs = np.zeros(k_max + 1, dtype=np.int64)
    used = 0
    for sentence in sentences:
        if used >= MAX_SENTENCES:
            break
        targets = [int(i) for i in sentence[1:][:MAX_WORDS]]  # every word, END included
        if len(targets) < 2:
            continue
        used += 1
        states, jacobians = _steps(params, cell, [start_index] + targets[:-1])
        grads = _output_gradients(params, states, targets, H)  # (T, D)
        for t in range(len(targets)):
            v = grads[t]  # dL_t/ds_t
            for k in range(min(k_max, t) + 1):
                sums[k] += np.linalg.norm(v)
                pairs[k] += 1
                v = jacobians[t - k].T @ v  # dL_t/ds_{t-k-1}
    means = [float(s / n) if n else None for s, n in zip(sums, pairs)]
    return {"k": list(range(k_max + 1)), "mean_norm": means, "pairs": pairs.tolist(),
            "sentences": used}
