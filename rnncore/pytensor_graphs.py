"""The graphs that both compiled engines (``RNNPyTensor``, ``RNNJax``) build: the recurrence of
each cell, the output layer, and their gradients, for padded batches, time-major.

A padded batch runs the recurrence in one scan over time for all sentences together, then the
output layer for every time step as ONE matrix product (T*B, H) @ (H, word_dim), which is where
almost all the work is; the ``rnncore.fused_output`` Op computes it with the softmax, the loss and
both gradients, block by block, and returns dL/ds.

The vanilla cell's gradient is written by hand rather than with ``pytensor.grad``:
``scan(truncate_gradient=k)`` cuts the whole backward pass after k steps, so earlier outputs would
contribute nothing, while the tutorial truncates per output. The backward scan carries one delta
per age 0..bptt_truncate (what the output ``age`` steps ahead sends back to this step); the oldest
falls off at each step.

The gated cells (GRU, LSTM; ``rnncore.cells``) back-propagate through whole sentences (the
tutorial's part 4 default, bptt_truncate=-1), which is exactly what ``pytensor.grad(cost=None,
known_grads={s: dL/ds})`` through their scan would give. Their backward scans are written by
hand too (``gru_backward``, ``lstm_backward``, the numpy reference's arithmetic): the same
numbers, the GRU's backward scan in a third of the time. The dropout masks, when given, are
inputs: drawn in numpy from a seed so every engine sees the same.
"""
from __future__ import annotations

from typing import NamedTuple

import pytensor
import pytensor.tensor as pt
from pytensor.graph.basic import Variable

from rnncore.fused_classes import ClassCrossEntropy
from rnncore.fused_output import SoftmaxCrossEntropy


def tanh(a):
    """tanh(a), written as 2 sigmoid(2a) - 1 (equal to within float32's last bit).

    PyTensor's C code for tanh is a scalar loop over libm: 31 us for a (32, 100) step of the
    recurrence on the 2-core machine, against 8 us for its sigmoid. Every step of every cell's
    scan pays it, forward and (for the gated cells) again in the backward scan.
    """
    return 2 * pt.sigmoid(2 * a) - 1


def forward_states(U_T, W, x, input_keep=None):
    """States for a padded batch x (B, T): returns s (T, B, H), time-major, without the initial state.

    U_T is U transposed, (word_dim, H): U times a one-hot input is then a contiguous row lookup.
    input_keep (T, B, H), when given, is the dropout mask of those inputs.
    """
    B = x.shape[0]
    Ux = U_T[x.T]  # (T, B, H)
    if input_keep is not None:
        Ux = Ux * input_keep
    s0 = pt.zeros((B, U_T.shape[1]), dtype=U_T.dtype)

    def step(ux_t, s_prev, W):
        return tanh(ux_t + s_prev @ W.T)

    return pytensor.scan(step, sequences=[Ux], outputs_info=[s0], non_sequences=[W],
                         strict=True, return_updates=False)


def output_layer(params, s, y, mask, with_grad=True, classes=None):
    """The loss summed over real words and, ``with_grad``, the gradients {"V"} (or {"V", "Vc"})
    and dL/ds (T, B, H): ``(loss, grads, ds)``.

    s (T, B, H) time-major, y and mask (B, T). All time steps go through the output layer together,
    as (T*B, H) rows; the fused Op projects and differentiates them a block of rows at a time.
    ``classes``: the class layer's (word_class, position, starts), with V stored sorted by class
    and params["Vc"] (``rnncore.fused_classes``); None for the softmax over every word.
    """
    T, B, H = s.shape
    S = s.reshape((T * B, H))  # (T*B, H)
    m = mask.T.reshape((T * B,))  # (T*B,)
    target = y.T.reshape((T * B,))
    V = params["V"]
    if classes is not None:
        inputs = (S, V, params["Vc"], target, m, *classes)
        if not with_grad:
            return ClassCrossEntropy(with_grad=False)(*inputs)
        loss, dS, dV, dVc = ClassCrossEntropy(with_grad=True)(*inputs)
        return loss, {"V": dV, "Vc": dVc}, dS.reshape((T, B, H))
    if not with_grad:
        return SoftmaxCrossEntropy(with_grad=False)(S, V, target, m)
    loss, dS, dV = SoftmaxCrossEntropy(with_grad=True)(S, V, target, m)
    return loss, {"V": dV}, dS.reshape((T, B, H))


def backward(U_T, W, x, s, ds, bptt_truncate, input_keep=None, lookup=None):
    """dL/dU.T (word_dim, H) and dL/dW through the recurrence, each output truncated after
    bptt_truncate steps (input_keep: the inputs' dropout mask, (T, B, H), or None; lookup: how
    U's gradient is gathered, ``lookup_gradient`` when None, see ``RowsOfU``)."""
    T, B, H = s.shape
    dtanh = 1 - s**2  # (T, B, H)
    ages = pt.minimum(bptt_truncate, T - 1) + 1
    carried0 = pt.zeros((ages, B, H), dtype=s.dtype)

    def step(ds_t, dtanh_t, carried, W):
        kept = carried[:-1]  # (ages - 1, B, H); the oldest age is dropped
        older = (kept.reshape((-1, kept.shape[2])) @ W).reshape(kept.shape) * dtanh_t
        carried = pt.concatenate([(ds_t * dtanh_t)[None], older], axis=0)
        return carried, carried.sum(axis=0)

    _, dpre_reversed = pytensor.scan(
        step, sequences=[ds, dtanh], outputs_info=[carried0, None], non_sequences=[W],
        go_backwards=True, strict=True, return_updates=False,
    )
    dpre = dpre_reversed[::-1].reshape((T * B, H))  # dL/d(pre-activation), (T*B, H)
    dW = dpre.T @ previous(s).reshape((T * B, H))  # (H, H)
    dux = dpre if input_keep is None else dpre * input_keep.reshape((T * B, H))
    return (lookup or lookup_gradient)(U_T, x, dux), dW  # (C, H), (H, H)


def previous(v):
    """v (T, B, H) one step later: at step t the value of step t - 1, zeros at step 0 (the
    initial state)."""
    return pt.concatenate([pt.zeros((1, *v.shape[1:]), dtype=v.dtype), v[:-1]])


def lookup_gradient(U_T, x, dUx):
    """dL/dU.T (word_dim, G*H) from dUx (T, B, G*H), the gradient of the lookup U_T[x.T]."""
    return _added_rows(x.T.reshape((-1,)), U_T.shape[0], dUx)


class RowsOfU:
    """U's gradient on the rows of the batch's words only: ``words`` (K,), each once, and
    ``gradient(U_T, x, dUx)`` (K, G*H), row k for ``words[k]``.

    A plain SGD step changes only those rows of U. Built densely, the gradient of a GRU's U at
    8,000 words is 2.4 M numbers zeroed, filled, measured for clipping and subtracted on every
    step, for the few hundred words a batch of 8 holds.
    """

    def __init__(self, x):
        self.words, self._slot = pt.unique(x.T.reshape((-1,)), return_inverse=True)

    def gradient(self, U_T, x, dUx):
        return _added_rows(self._slot, self.words.shape[0], dUx)


def _added_rows(index, rows, dUx):
    """(rows, width) zeros with row i of dUx (T, B, width), time-major, added to row index[i].

    Added up element by element in the flattened (rows * width,) array: PyTensor 3.0.7 has C
    code for AdvancedIncSubtensor1 on vectors only, and its Python fallback for rows (np.add.at)
    took a quarter of a class-layer training step. One extra zero element: the same Op mistakes
    a single index (a one-word batch with width 1) for broadcasting and refuses it.
    """
    width = dUx.shape[-1]
    at = _flat_positions(index, width)
    at = pt.concatenate([at, pt.zeros((1,), dtype=at.dtype)])  # (T*B*width + 1,)
    values = pt.concatenate([dUx.reshape((-1,)), pt.zeros((1,), dtype=dUx.dtype)])
    total = pt.zeros((rows * width,), dtype=dUx.dtype)
    return pt.inc_subtensor(total[at], values).reshape((rows, width))


def added_to_rows(U_T, words, change):
    """U_T (word_dim, width) with ``change`` (K, width) added to its rows ``words`` (K,), each
    word once; flattened for the same reason as ``_added_rows``."""
    at = _flat_positions(words, U_T.shape[1])
    return pt.inc_subtensor(U_T.reshape((-1,))[at], change.reshape((-1,))).reshape(U_T.shape)


def _flat_positions(rows, width):
    """Where the elements of ``rows`` (n,) of a (rows, width) array lie in it flattened, row by
    row: (n * width,)."""
    return (rows[:, None] * width + pt.arange(width, dtype=rows.dtype)[None, :]).reshape((-1,))


def gated_states(cell, U_T, W, b, x, hidden_dim, input_keep=None):
    """Run a gated cell over x (B, T): its states s (T, B, H). U_T is U transposed, (word_dim,
    G*H), so the lookup of each word's column is a row."""
    return FORWARD[cell](_gate_inputs(U_T, b, x, input_keep), W, hidden_dim)[0]


def _gate_inputs(U_T, b, x, input_keep):
    """What the gates add at each step: U's columns of the inputs (thinned) plus b, (T, B, G*H)."""
    Ux = U_T[x.T]  # (T, B, G*H)
    return (Ux if input_keep is None else Ux * input_keep) + b


def gru_forward(pre, W, hidden_dim):
    """The GRU over pre (T, B, 3H), U's columns plus b. Returns s (T, B, H) and the gates its
    backward pass needs: z and r side by side, zr (T, B, 2H), and the candidate h (T, B, H)."""
    H = hidden_dim
    s0 = pt.zeros((pre.shape[1], H), dtype=pre.dtype)  # (B, H)

    def step(pre_t, s_prev, W_zr_T, W_h_T):
        zr = pt.sigmoid(pre_t[:, : 2 * H] + s_prev @ W_zr_T)  # (B, 2H): z and r at once
        z, r = zr[:, :H], zr[:, H:]
        h = tanh(pre_t[:, 2 * H :] + (s_prev * r) @ W_h_T)
        return (1 - z) * h + z * s_prev, zr, h

    return pytensor.scan(step, sequences=[pre], outputs_info=[s0, None, None],
                         non_sequences=[W[: 2 * H].T, W[2 * H :].T], strict=True,
                         return_updates=False)


def gru_backward(W, s, zr, h, ds, hidden_dim):
    """Back-propagate ds (T, B, H), dL/ds_t from the outputs, through ``gru_forward``.

    Returns dL/dpre (T, B, 3H) and dL/dW (3H, H). The same arithmetic as the numpy reference's
    ``rnncore.cells_numpy.gru_backward``. ``pytensor.grad`` through the forward scan gives the
    same gradient, but its backward scan ran 20 nodes a step, four of them weight-gradient
    products accumulated step by step; here a step is two small products and the weight
    gradients are one product each at the end.
    """
    H = hidden_dim
    T, B = ds.shape[0], ds.shape[1]
    s_prev = previous(s)  # (T, B, H)

    def step(ds_t, s_prev_t, zr_t, h_t, carried, W_zr, W_h):
        z, r = zr_t[:, :H], zr_t[:, H:]
        d = ds_t + carried  # dL/ds_t, all of it
        dh = d * (1 - z) * (1 - h_t**2)  # through s = (1 - z) h + z s_prev, then tanh
        dz = d * (s_prev_t - h_t) * z * (1 - z)
        dsr = dh @ W_h  # dL/d(s_prev * r)
        dzr = pt.concatenate([dz, dsr * s_prev_t * r * (1 - r)], axis=1)  # (B, 2H)
        return d * z + dsr * r + dzr @ W_zr, dzr, dh

    carried0 = pt.zeros((B, H), dtype=s.dtype)
    _, dzr, dh = pytensor.scan(
        step, sequences=[ds, s_prev, zr, h], outputs_info=[carried0, None, None],
        non_sequences=[W[: 2 * H], W[2 * H :]], go_backwards=True, strict=True,
        return_updates=False)
    dzr, dh = dzr[::-1], dh[::-1]  # in time order
    flat_prev = s_prev.reshape((T * B, H))
    reset = flat_prev * zr[:, :, H:].reshape((T * B, H))  # what W_h multiplied
    dW = pt.concatenate([dzr.reshape((T * B, 2 * H)).T @ flat_prev,
                         dh.reshape((T * B, H)).T @ reset])  # (3H, H)
    return pt.concatenate([dzr, dh], axis=2), dW


def lstm_forward(pre, W, hidden_dim):
    """The LSTM over pre (T, B, 4H), U's columns plus b (gates i, f, o, g). Returns s (T, B, H)
    and what its backward pass needs: the gates ifo (T, B, 3H), g and the cell state c."""
    H = hidden_dim
    s0 = pt.zeros((pre.shape[1], H), dtype=pre.dtype)  # (B, H)

    def step(pre_t, s_prev, c_prev, W_T):
        a = pre_t + s_prev @ W_T  # (B, 4H): i, f, o, g
        ifo = pt.sigmoid(a[:, : 3 * H])
        g = tanh(a[:, 3 * H :])
        c = ifo[:, H : 2 * H] * c_prev + ifo[:, :H] * g
        return ifo[:, 2 * H :] * tanh(c), c, ifo, g

    s, c, ifo, g = pytensor.scan(step, sequences=[pre], outputs_info=[s0, s0, None, None],
                                 non_sequences=[W.T], strict=True, return_updates=False)
    return s, ifo, g, c


def lstm_backward(W, s, ifo, g, c, ds, hidden_dim):
    """Back-propagate ds (T, B, H) through ``lstm_forward``: dL/dpre (T, B, 4H), dL/dW (4H, H).
    The numpy reference's ``rnncore.cells_numpy.lstm_backward``; one product a step."""
    H = hidden_dim
    T, B = ds.shape[0], ds.shape[1]
    s_prev, c_prev = previous(s), previous(c)  # (T, B, H)

    def step(ds_t, ifo_t, g_t, c_t, c_prev_t, carried_s, carried_c, W):
        i, f, o = ifo_t[:, :H], ifo_t[:, H : 2 * H], ifo_t[:, 2 * H :]
        tanh_c = tanh(c_t)
        d = ds_t + carried_s  # dL/ds_t, all of it
        dc = carried_c + d * o * (1 - tanh_c**2)
        dpre = pt.concatenate([dc * g_t * i * (1 - i), dc * c_prev_t * f * (1 - f),
                               d * tanh_c * o * (1 - o), dc * i * (1 - g_t**2)], axis=1)
        return dpre @ W, dc * f, dpre

    carried0 = pt.zeros((B, H), dtype=s.dtype)
    _, _, dpre = pytensor.scan(
        step, sequences=[ds, ifo, g, c, c_prev], outputs_info=[carried0, carried0, None],
        non_sequences=[W], go_backwards=True, strict=True, return_updates=False)
    dpre = dpre[::-1]  # in time order, (T, B, 4H)
    return dpre, dpre.reshape((T * B, 4 * H)).T @ s_prev.reshape((T * B, H))


FORWARD = {"gru": gru_forward, "lstm": lstm_forward}
BACKWARD = {"gru": gru_backward, "lstm": lstm_backward}


def gated_loss_and_grads(cell, params, x, y, mask, hidden_dim, output_layer, masks=None,
                         states=None, lookup=None):
    """The loss summed over real words and the gradients {"U" (stored as U.T), "V", "W", "b"}.

    ``output_layer(params, S, y, mask)`` returns ``(loss, {"V"(, "Vc")}, dS)``; ``masks`` are the
    dropout masks (input_keep (T, B, G*H), output_keep (T, B, H)) or None; ``states`` may wrap the
    states (the JAX engine fixes their shape).
    """
    U_T, W, b = (params[name] for name in ("U", "W", "b"))
    input_keep, output_keep = masks if masks is not None else (None, None)
    s, *cache = FORWARD[cell](_gate_inputs(U_T, b, x, input_keep), W, hidden_dim)
    if states is not None:
        s = states(s)
    S = s if output_keep is None else s * output_keep  # (T, B, H) into the output layer
    loss, output_grads, dS = output_layer(params, S, y, mask)
    ds = dS if output_keep is None else dS * output_keep
    dpre, dW = BACKWARD[cell](W, s, *cache, ds, hidden_dim)
    dUx = dpre if input_keep is None else dpre * input_keep
    U_grad = (lookup or lookup_gradient)(U_T, x, dUx)
    return loss, {"U": U_grad, "W": dW, "b": dpre.sum(axis=(0, 1)), **output_grads}


class BatchInputs(NamedTuple):
    """The symbolic inputs of a gradient or training function."""

    x: Variable  # (B, T) int32
    y: Variable  # (B, T) int32
    mask: Variable  # (B, T)
    bptt_truncate: Variable | int | None  # vanilla cell only; JAX builds it in as a number
    masks: tuple | None  # dropout: input_keep (T, B, G*H), output_keep (T, B, H); else None

    def listed(self) -> list:
        """The inputs of ``pytensor.function``, in the order ``_batch_args`` passes values."""
        k = [self.bptt_truncate] if isinstance(self.bptt_truncate, Variable) else []
        return [self.x, self.y, self.mask] + k + list(self.masks or ())


def loss_and_grads(cell, params, batch, hidden_dim, output_layer=output_layer, states=None,
                   lookup=None):
    """Loss and gradients {"U" (as U.T), "V", "W" (, "b")} of ``batch`` (BatchInputs).

    ``params`` are U.T, V, W (and b, Vc) as graph variables; ``output_layer(params, S, y, mask)``
    returns ``(loss, {"V"(, "Vc")}, dS)``; ``states`` may wrap the states (the JAX engine fixes
    their shape); ``lookup``: ``RowsOfU(x).gradient`` for U's gradient on the batch's words only.
    """
    x, y, mask, k, masks = batch
    if cell != "rnn":
        return gated_loss_and_grads(cell, params, x, y, mask, hidden_dim, output_layer, masks,
                                    states, lookup)
    U_T, W = params["U"], params["W"]
    input_keep, output_keep = masks if masks is not None else (None, None)
    s = forward_states(U_T, W, x, input_keep)
    s = s if states is None else states(s)
    loss, output_grads, ds = output_layer(params, s if output_keep is None else s * output_keep,
                                          y, mask)
    ds = ds if output_keep is None else ds * output_keep
    dU_T, dW = backward(U_T, W, x, s, ds, k, input_keep, lookup)
    return loss, {"U": dU_T, "W": dW, **output_grads}
