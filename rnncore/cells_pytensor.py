"""The gated cells (GRU, LSTM) as PyTensor graphs, for ``RNNPyTensor`` and ``RNNJax``.

The recurrence runs in one scan over time for the whole padded batch; the output layer goes through
the engine's output layer (the fused Op in the C engine, plain ops under JAX), which returns
dL/ds. The recurrent gradients then come from ``pytensor.grad(cost=None, known_grads={s: dL/ds})``
through the scan: that is full back-propagation through time, what the gated cells use (the
tutorial's part 4 default, bptt_truncate=-1), so unlike the vanilla cell nothing is written by
hand here. The equations are those of ``rnncore.cells`` and ``rnncore.cells_numpy``.
"""
from __future__ import annotations

import pytensor
import pytensor.tensor as pt


def lookup_gradient(U_T, x, dUx):
    """dL/dU.T (word_dim, G*H) from dUx (T, B, G*H), the gradient of the lookup U_T[x.T].

    One extra zero row: PyTensor 3.0.7's AdvancedIncSubtensor1 mistakes a single indexed row (a
    one-word batch) for broadcasting and refuses it.
    """
    rows_per_word = dUx.shape[-1]
    flat = dUx.reshape((-1, rows_per_word))  # (T*B, G*H), time-major like x.T
    rows = pt.concatenate([x.T.reshape((-1,)), pt.zeros((1,), dtype=x.dtype)])
    values = pt.concatenate([flat, pt.zeros((1, rows_per_word), dtype=flat.dtype)])
    return pt.inc_subtensor(pt.zeros(U_T.shape, dtype=flat.dtype)[rows], values)


def gated_states(cell, U_T, W, b, x, hidden_dim, input_keep=None):
    """Run a gated cell over x (B, T). Returns ``(s (T, B, H), Ux (T, B, G*H))``.

    U_T is U transposed, (word_dim, G*H), so the lookup of each word's column is a row; Ux is
    returned so that its gradient can be asked for and turned into U's with ``lookup_gradient``.
    """
    H = hidden_dim
    Ux = U_T[x.T]  # (T, B, G*H)
    pre = (Ux if input_keep is None else Ux * input_keep) + b  # (T, B, G*H)
    s0 = pt.zeros((x.shape[0], H), dtype=U_T.dtype)  # (B, H)

    def gru_step(pre_t, s_prev, W_zr_T, W_h_T):
        zr = pt.sigmoid(pre_t[:, : 2 * H] + s_prev @ W_zr_T)  # (B, 2H): z and r at once
        z, r = zr[:, :H], zr[:, H:]
        h = pt.tanh(pre_t[:, 2 * H :] + (s_prev * r) @ W_h_T)
        return (1 - z) * h + z * s_prev

    def lstm_step(pre_t, s_prev, c_prev, W_T):
        a = pre_t + s_prev @ W_T  # (B, 4H): i, f, o, g
        i, f, o = (pt.sigmoid(a[:, k * H : (k + 1) * H]) for k in range(3))
        c = f * c_prev + i * pt.tanh(a[:, 3 * H :])
        return o * pt.tanh(c), c

    if cell == "gru":
        s = pytensor.scan(gru_step, sequences=[pre], outputs_info=[s0],
                          non_sequences=[W[: 2 * H].T, W[2 * H :].T], strict=True,
                          return_updates=False)
    else:
        s, _ = pytensor.scan(lstm_step, sequences=[pre], outputs_info=[s0, s0],
                             non_sequences=[W.T], strict=True, return_updates=False)  # s, c from 0
    return s, Ux


def gated_loss_and_grads(cell, params, x, y, mask, hidden_dim, output_layer, masks=None,
                         states=None):
    """The loss summed over real words and the gradients {"U" (stored as U.T), "V", "W", "b"}.

    ``output_layer(V, S, y, mask)`` returns ``(loss, dV, dS)``; ``masks`` are the dropout masks
    (input_keep (T, B, G*H), output_keep (T, B, H)) or None; ``states`` may wrap the states (the
    JAX engine fixes their shape).
    """
    U_T, V, W, b = (params[name] for name in ("U", "V", "W", "b"))
    input_keep, output_keep = masks if masks is not None else (None, None)
    s, Ux = gated_states(cell, U_T, W, b, x, hidden_dim, input_keep)
    if states is not None:
        s = states(s)
    S = s if output_keep is None else s * output_keep  # (T, B, H) into the output layer
    loss, dV, dS = output_layer(V, S, y, mask)
    dUx, dW, db = pytensor.grad(None, wrt=[Ux, W, b], known_grads={S: dS})
    return loss, {"U": lookup_gradient(U_T, x, dUx), "V": dV, "W": dW, "b": db}
