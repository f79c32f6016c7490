"""The gated cells of the numpy reference engine: GRU and LSTM forward steps and hand-written backward.

``RNNNumpy(cell="gru" | "lstm")`` calls these. Everything runs over a padded batch, time-major; a
single sentence is a batch of one. The forward pass follows the tutorial series' part 4 GRU line by
line (with the logistic sigmoid where it used Theano's hard_sigmoid), the LSTM the usual way with
its forget gate. Unlike the vanilla cell, gradients flow back through the whole sentence (the
tutorial's part 4 default, bptt_truncate=-1): one backward walk over time carries dL/ds (and the
LSTM's dL/dc) from step to step, and the weight gradients are formed at the end in one product.
Padding (after each sentence's words, mask 0) contributes nothing: its outputs send no error back
and later steps are padding too, so every delta there is zero. The output layer (softmax and
cross-entropy over a batch), shared with the vanilla cell, is here too.
"""
from __future__ import annotations

import numpy as np

from rnncore.batching import pad_batch
from rnncore.cells import sigmoid
from rnncore.word_classes import class_log_probs, class_output


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the maximum so exp never overflows."""
    xt = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return xt / np.sum(xt, axis=-1, keepdims=True)


def batch_output(V, S, y, mask):
    """Loss and dL/d(logits) for the states S (T, B, H) going into the output layer.

    Returns ``(loss, S_flat (T*B, H), delta_o (T*B, word_dim))``; padding contributes nothing.
    """
    T, B, H = S.shape
    S = S.reshape(T * B, H)  # (T*B, H), time-major
    probs = softmax(S @ V.T)  # (T*B, word_dim)
    rows = np.arange(T * B)
    m = np.asarray(mask, dtype=S.dtype).T.reshape(-1)  # (T*B,)
    target = np.asarray(y).T.reshape(-1)
    loss = -np.sum(m * np.log(probs[rows, target]))
    probs[rows, target] -= 1.0
    delta_o = probs * m[:, None]  # (T*B, word_dim)
    return float(loss), S, delta_o


def output_gradients(model, S, y, mask):
    """Either output layer (``model.output``) on the states S (T, B, H) going into it.

    Returns ``(loss, {"V"} or {"V", "Vc"}, dL/dS (T, B, H))``; padding contributes nothing.
    """
    T, B, H = S.shape
    if model.output == "classes":
        target, m = np.asarray(y).T.reshape(-1), np.asarray(mask).T.reshape(-1)  # time-major
        loss, dV, dVc, dS = class_output(model.V, model.Vc, model.word_class,
                                         S.reshape(T * B, H), target, m)
        return loss, {"V": dV, "Vc": dVc}, dS.reshape(T, B, H)
    loss, S_flat, delta_o = batch_output(model.V, S, y, mask)
    return loss, {"V": delta_o.T @ S_flat}, (delta_o @ model.V).reshape(T, B, H)


def output_probabilities(model, s):
    """P(w | s_t) for every word, (T, word_dim), from states s (T, H)."""
    if model.output == "classes":
        return np.exp(class_log_probs(model.V, model.Vc, model.layout, s))
    return softmax(s @ model.V.T)


# --- GRU: blocks z, r, h of U, W, b --------------------------------------------------------------

def gru_forward(pre, W):
    """pre (T, B, 3H): U[:, x_t] + b at each step. Returns s (T + 1, B, H) (s[-1] the zero initial
    state) and the gates (z, r, h), each (T, B, H)."""
    T, B, _ = pre.shape
    H = W.shape[1]
    W_z, W_r, W_h = W[:H], W[H : 2 * H], W[2 * H :]  # (H, H) each
    s = np.zeros((T + 1, B, H), dtype=pre.dtype)  # (T + 1, B, H)
    z, r, h = (np.empty((T, B, H), dtype=pre.dtype) for _ in range(3))
    for t in range(T):
        pre_z, pre_r, pre_h = pre[t, :, :H], pre[t, :, H : 2 * H], pre[t, :, 2 * H :]  # (B, H)
        z[t] = sigmoid(pre_z + s[t - 1] @ W_z.T)
        r[t] = sigmoid(pre_r + s[t - 1] @ W_r.T)
        h[t] = np.tanh(pre_h + (s[t - 1] * r[t]) @ W_h.T)
        s[t] = (1 - z[t]) * h[t] + z[t] * s[t - 1]
    return s, (z, r, h)


def gru_backward(W, s, gates, ds):
    """Back-propagate ds (T, B, H), dL/ds_t from the outputs, through ``gru_forward``.

    Returns dL/dpre (T, B, 3H) (the gradient of U[:, x_t] + b) and dL/dW (3H, H).
    """
    z, r, h = gates
    T, B, H = ds.shape
    W_z, W_r, W_h = W[:H], W[H : 2 * H], W[2 * H :]
    dpre = np.empty((T, B, 3 * H), dtype=ds.dtype)  # (T, B, 3H)
    carried = np.zeros((B, H), dtype=ds.dtype)  # dL/ds_t that step t + 1 sends back
    for t in range(T - 1, -1, -1):
        d = ds[t] + carried  # dL/ds_t, all of it
        s_prev = s[t - 1]
        dh = d * (1 - z[t]) * (1 - h[t] ** 2)  # through s = (1 - z) h + z s_prev, then tanh
        dz = d * (s_prev - h[t]) * z[t] * (1 - z[t])
        dsr = dh @ W_h  # dL/d(s_prev * r)
        dr = dsr * s_prev * r[t] * (1 - r[t])
        carried = d * z[t] + dsr * r[t] + dz @ W_z + dr @ W_r
        dpre[t] = np.concatenate([dz, dr, dh], axis=1)
    s_prev = s[np.arange(-1, T - 1)].reshape(T * B, H)  # s[-1] is the zero state
    flat = dpre.reshape(T * B, 3 * H)
    reset = s_prev * r.reshape(T * B, H)  # what W_h multiplied
    dW = np.concatenate([flat[:, : 2 * H].T @ s_prev, flat[:, 2 * H :].T @ reset])  # (3H, H)
    return dpre, dW


# --- LSTM: blocks i, f, o, g of U, W, b ----------------------------------------------------------

def lstm_forward(pre, W):
    """pre (T, B, 4H): U[:, x_t] + b at each step. Returns s (T + 1, B, H) (s[-1] zero) and the
    cache (i, f, o, g, c (T + 1, B, H) with c[-1] zero, tanh(c) (T, B, H))."""
    T, B, _ = pre.shape
    H = W.shape[1]
    s = np.zeros((T + 1, B, H), dtype=pre.dtype)  # (T + 1, B, H)
    c = np.zeros((T + 1, B, H), dtype=pre.dtype)  # the cell state, (T + 1, B, H)
    i, f, o, g, tanh_c = (np.empty((T, B, H), dtype=pre.dtype) for _ in range(5))
    for t in range(T):
        a = pre[t] + s[t - 1] @ W.T  # (B, 4H), all four gates at once
        i[t], f[t], o[t] = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H]), sigmoid(a[:, 2 * H : 3 * H])
        g[t] = np.tanh(a[:, 3 * H :])
        c[t] = f[t] * c[t - 1] + i[t] * g[t]
        tanh_c[t] = np.tanh(c[t])
        s[t] = o[t] * tanh_c[t]
    return s, (i, f, o, g, c, tanh_c)


def lstm_backward(W, s, cache, ds):
    """Back-propagate ds (T, B, H) through ``lstm_forward``: dL/dpre (T, B, 4H), dL/dW (4H, H)."""
    i, f, o, g, c, tanh_c = cache
    T, B, H = ds.shape
    dpre = np.empty((T, B, 4 * H), dtype=ds.dtype)  # (T, B, 4H)
    carried_s = np.zeros((B, H), dtype=ds.dtype)  # dL/ds_t from step t + 1
    carried_c = np.zeros((B, H), dtype=ds.dtype)  # dL/dc_t from step t + 1
    for t in range(T - 1, -1, -1):
        d = ds[t] + carried_s
        do = d * tanh_c[t]
        dc = carried_c + d * o[t] * (1 - tanh_c[t] ** 2)
        di, df, dg = dc * g[t], dc * c[t - 1], dc * i[t]
        carried_c = dc * f[t]
        dpre[t] = np.concatenate([di * i[t] * (1 - i[t]), df * f[t] * (1 - f[t]),
                                  do * o[t] * (1 - o[t]), dg * (1 - g[t] ** 2)], axis=1)
        carried_s = dpre[t] @ W
    s_prev = s[np.arange(-1, T - 1)].reshape(T * B, H)
    return dpre, dpre.reshape(T * B, 4 * H).T @ s_prev


PASSES = {"gru": (gru_forward, gru_backward), "lstm": (lstm_forward, lstm_backward)}


# --- the engine's methods for gated cells ---------------------------------------------------------

def _states(model, x, input_keep=None):
    """Run the cell over x (B, T): s (T + 1, B, H) and the cache its backward pass needs."""
    ux = model.U.T[x.T]  # (T, B, G*H): U times each one-hot input, a row lookup
    if input_keep is not None:
        ux = ux * input_keep
    forward, _ = PASSES[model.cell]
    return forward(ux + model.b, model.W)


def batch_loss(model, x, y, mask) -> float:
    T = x.shape[1]
    return output_gradients(model, _states(model, x)[0][:T], y, mask)[0]


def batch_gradients(model, x, y, mask, masks=None):
    """``(loss, {"U", "V", "W", "b"})`` of a padded batch, thinned by ``masks`` (input_keep,
    output_keep) when given, back-propagated through whole sentences."""
    input_keep, output_keep = masks if masks is not None else (None, None)
    B, T = x.shape
    s, cache = _states(model, x, input_keep)
    S = s[:T] if output_keep is None else s[:T] * output_keep  # (T, B, H) into the output layer
    loss, output_grads, ds = output_gradients(model, S, y, mask)  # ds: dL/ds_t from output t alone
    if output_keep is not None:
        ds *= output_keep
    _, backward = PASSES[model.cell]
    dpre, dW = backward(model.W, s, cache, ds)  # (T, B, G*H), (G*H, H)
    dux = dpre if input_keep is None else dpre * input_keep
    dU_T = np.zeros((model.word_dim, dpre.shape[2]), dtype=model.dtype)  # (C, G*H)
    np.add.at(dU_T, x.T.reshape(-1), dux.reshape(T * B, -1))
    return loss, {"U": dU_T.T.copy(), "W": dW, "b": dpre.sum(axis=(0, 1)), **output_grads}


def forward_propagation(model, x):
    """``(o (T, C), s (T + 1, H))`` for one sentence, s[-1] the zero initial state."""
    x = np.asarray(x)
    s = _states(model, x[None, :])[0][:, 0]  # (T + 1, H)
    return output_probabilities(model, s[: len(x)]), s


def bptt(model, x, y):
    """``(dLdU, dLdV, dLdW, dLdb)`` (and dLdVc) for one sentence, through the whole sentence."""
    x, y, mask = pad_batch([x], [y], dtype=model.dtype)
    _, grads = batch_gradients(model, x, y, mask)
    return tuple(grads[name] for name in model.param_names)
