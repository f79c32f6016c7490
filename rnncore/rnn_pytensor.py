"""The compiled engine (``RNNPyTensor``): the tutorial's model as PyTensor graphs, trained in minibatches.

Same interface and the same numbers as ``rnncore.rnn_numpy.RNNNumpy``. A padded batch runs the
recurrence in one scan over time for all sentences together, then the output layer for every time
step as ONE matrix product (T*B, H) @ (H, word_dim), which is where almost all the work is; the
``rnncore.fused_output`` Op computes it with the softmax, the loss and both gradients, block by block.

The gradient is written by hand rather than with ``pytensor.grad``: ``scan(truncate_gradient=k)``
cuts the whole backward pass after k steps, so earlier outputs would contribute nothing, while the
tutorial truncates per output. The backward scan carries one delta per age 0..bptt_truncate (what
the output ``age`` steps ahead sends back to this step); the oldest falls off at each step.
"""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from rnncore import optimizers
from rnncore.batching import pad_batch
from rnncore.fused_output import SoftmaxCrossEntropy
from rnncore.rnn_numpy import gradient_check, initial_params

# PyTensor's C backend. PyTensor 3's default (FAST_RUN) is its Numba backend, which ran this model
# 3.3x slower here (5.3k vs 17.2k tokens/s on one core, batch 32): the fused output Op runs numpy
# code, which Numba could only call in object mode, and Numba's elementwise exp is scalar.
COMPILE_MODE = "CVM"
# Sentences per call when the loss of a whole corpus is evaluated.
EVAL_BATCH_SIZE = 64


def _stored(name: str, value: np.ndarray) -> np.ndarray:
    """U and its optimizer statistics are kept transposed; this swaps between the two layouts."""
    return np.ascontiguousarray(value.T) if name == "U" or name.endswith("_U") else value


def forward_states(U_T, W, x):
    """States for a padded batch x (B, T): returns s (T, B, H), time-major, without the initial state.

    U_T is U transposed, (word_dim, H): U times a one-hot input is then a contiguous row lookup.
    """
    B = x.shape[0]
    Ux = U_T[x.T]  # (T, B, H)
    s0 = pt.zeros((B, U_T.shape[1]), dtype=U_T.dtype)

    def step(ux_t, s_prev, W):
        return pt.tanh(ux_t + s_prev @ W.T)

    return pytensor.scan(step, sequences=[Ux], outputs_info=[s0], non_sequences=[W],
                         strict=True, return_updates=False)


def output_layer(V, s, y, mask, with_grad=True):
    """The loss summed over real words and, ``with_grad``, dL/dV (C, H) and dL/ds (T, B, H).

    s (T, B, H) time-major, y and mask (B, T). All time steps go through the output layer together,
    as (T*B, H) rows; the fused Op projects and differentiates them a block of rows at a time.
    """
    T, B, H = s.shape
    S = s.reshape((T * B, H))  # (T*B, H)
    m = mask.T.reshape((T * B,))  # (T*B,)
    target = y.T.reshape((T * B,))
    if not with_grad:
        return SoftmaxCrossEntropy(with_grad=False)(S, V, target, m)
    loss, dS, dV = SoftmaxCrossEntropy(with_grad=True)(S, V, target, m)
    return loss, dV, dS.reshape((T, B, H))


def backward(U_T, W, x, s, ds, bptt_truncate):
    """dL/dU.T (word_dim, H) and dL/dW through the recurrence, each output truncated after
    bptt_truncate steps."""
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
    s_prev = pt.concatenate([pt.zeros((1, B, H), dtype=s.dtype), s[:-1]]).reshape((T * B, H))
    dW = dpre.T @ s_prev  # (H, H)
    # One extra zero row: PyTensor 3.0.7's AdvancedIncSubtensor1 mistakes a single indexed row
    # (a one-word batch) for broadcasting and refuses it.
    rows = pt.concatenate([x.T.reshape((T * B,)), pt.zeros((1,), dtype=x.dtype)])
    values = pt.concatenate([dpre, pt.zeros((1, H), dtype=s.dtype)])  # (T*B + 1, H)
    dU_T = pt.inc_subtensor(pt.zeros(U_T.shape, dtype=s.dtype)[rows], values)  # (C, H)
    return dU_T, dW


class RNNPyTensor:
    """A vanilla RNN language model whose forward and backward passes are compiled by PyTensor."""

    engine = "pytensor"  # ModelConfig.engine of this class

    def __init__(self, word_dim, hidden_dim=100, bptt_truncate=4, dtype="float32", rng=None,
                 optimizer="sgd", clip_norm=None):
        if rng is None:
            rng = np.random.default_rng()
        self.word_dim = int(word_dim)
        self.hidden_dim = int(hidden_dim)
        self.bptt_truncate = int(bptt_truncate)
        self.dtype = np.dtype(dtype)
        self.optimizer = optimizers.check_optimizer(optimizer)
        self.clip_norm = clip_norm
        init = initial_params(self.word_dim, self.hidden_dim, rng)
        # Stored values: _params["U"] holds U transposed, (word_dim, H), and so do the optimizer's
        # U statistics; get_params and get_optimizer_state turn them back.
        self._params = {
            name: pytensor.shared(_stored(name, value.astype(self.dtype)), name=name)
            for name, value in init.items()
        }
        stored = {name: shared.get_value(borrow=True) for name, shared in self._params.items()}
        self._opt_state = {
            key: pytensor.shared(value, name=key)
            for key, value in optimizers.initial_state(self.optimizer, stored).items()
        }
        self._functions = {}

    @property
    def U(self):
        return self.get_params()["U"]

    @property
    def V(self):
        return self._params["V"].get_value()

    @property
    def W(self):
        return self._params["W"].get_value()

    # --- parameters and optimizer state -------------------------------------------------------

    def get_params(self) -> dict[str, np.ndarray]:
        """Copies of U, V and W."""
        return {name: _stored(name, shared.get_value()) for name, shared in self._params.items()}

    def set_params(self, params: dict[str, np.ndarray]) -> None:
        """Replace U, V and W (copied, cast to the model's dtype, shapes checked)."""
        for name, shared in self._params.items():
            value = np.array(params[name], dtype=self.dtype)
            expected = _stored(name, shared.get_value(borrow=True)).shape
            if value.shape != expected:
                raise ValueError(f"{name} has shape {value.shape}, expected {expected}")
            shared.set_value(_stored(name, value))

    def get_optimizer_state(self) -> dict[str, np.ndarray]:
        """Copies of the optimizer's running averages and step count (empty for plain SGD)."""
        return {key: _stored(key, shared.get_value()) for key, shared in self._opt_state.items()}

    def set_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what ``get_optimizer_state`` returned, so training resumes with identical updates."""
        checked = optimizers.check_state(self.optimizer, state, self.get_params())
        for key, value in checked.items():
            self._opt_state[key].set_value(_stored(key, value))

    # --- compiled functions, built on first use -----------------------------------------------

    def _function(self, name):
        if name not in self._functions:
            self._functions[name] = getattr(self, f"_compile_{name}")()
        return self._functions[name]

    def _batch_inputs(self):
        # bptt_truncate is an input, not a constant, so changing it needs no recompilation.
        return (pt.imatrix("x"), pt.imatrix("y"), pt.matrix("mask", dtype=self.dtype),
                pt.iscalar("bptt_truncate"))

    def _compile_forward(self):
        x = pt.ivector("x")
        U_T, V, W = (self._params[p] for p in optimizers.PARAM_NAMES)
        s = forward_states(U_T, W, x[None, :])[:, 0, :]  # (T, H)
        o = pt.special.softmax(s @ V.T, axis=-1)  # (T, C)
        s_with_initial = pt.concatenate([s, pt.zeros((1, s.shape[1]), dtype=s.dtype)])
        return pytensor.function([x], [o, s_with_initial], mode=COMPILE_MODE)

    def _loss_and_grads(self, x, y, mask, bptt_truncate):
        U_T, V, W = (self._params[p] for p in optimizers.PARAM_NAMES)
        s = forward_states(U_T, W, x)
        loss, dV, ds = output_layer(V, s, y, mask)
        dU_T, dW = backward(U_T, W, x, s, ds, bptt_truncate)
        return loss, {"U": dU_T, "V": dV, "W": dW}  # U's gradient in U's stored layout

    def _compile_loss(self):
        x, y, mask, _ = self._batch_inputs()
        U_T, V, W = (self._params[p] for p in optimizers.PARAM_NAMES)
        loss = output_layer(V, forward_states(U_T, W, x), y, mask, with_grad=False)
        return pytensor.function([x, y, mask], loss, mode=COMPILE_MODE)

    def _compile_gradients(self):
        x, y, mask, k = self._batch_inputs()
        loss, grads = self._loss_and_grads(x, y, mask, k)
        return pytensor.function([x, y, mask, k], [loss, grads["U"].T, grads["V"], grads["W"]],
                                 mode=COMPILE_MODE)

    def _compile_train(self):
        x, y, mask, k = self._batch_inputs()
        learning_rate = pt.scalar("learning_rate", dtype=self.dtype)
        loss, grads = self._loss_and_grads(x, y, mask, k)
        return pytensor.function([x, y, mask, k, learning_rate], loss,
                                 updates=self._train_updates(grads, learning_rate),
                                 mode=COMPILE_MODE)

    def _train_updates(self, grads, learning_rate):
        """(shared variable, new value) pairs of one optimizer step, clipping included."""
        grads = optimizers.clip_by_global_norm(grads, self.clip_norm, pt)
        state = dict(self._opt_state)
        new_params, new_state = optimizers.apply_update(
            self.optimizer, self._params, grads, state, learning_rate, pt)
        updates = [(self._params[p], new_params[p].astype(self.dtype)) for p in new_params]
        return updates + [(state[k], new_state[k].astype(self.dtype)) for k in new_state]

    # --- the tutorial's per-sentence interface ------------------------------------------------

    def forward_propagation(self, x):
        """Return ``(o, s)``: o (T, word_dim) probabilities, s (T + 1, hidden_dim), s[-1] zero."""
        return self._function("forward")(np.asarray(x, dtype=np.int32))

    def predict(self, x):
        """The most probable next word at every position, (T,)."""
        o, _ = self.forward_propagation(x)
        return np.argmax(o, axis=1)

    def calculate_total_loss(self, X, Y) -> float:
        """Cross-entropy summed over every word of every sentence (evaluated in padded batches)."""
        order = np.argsort([len(y) for y in Y], kind="stable")  # similar lengths, little padding
        total = 0.0
        for start in range(0, len(order), EVAL_BATCH_SIZE):
            chunk = order[start : start + EVAL_BATCH_SIZE]
            total += self.batch_loss(*pad_batch([X[i] for i in chunk], [Y[i] for i in chunk],
                                                dtype=self.dtype))
        return total

    def calculate_loss(self, X, Y) -> float:
        """Mean cross-entropy per word."""
        return self.calculate_total_loss(X, Y) / sum(len(y) for y in Y)

    def bptt(self, x, y):
        """Return ``(dLdU, dLdV, dLdW)`` for one sentence, each output truncated separately."""
        x, y, mask = pad_batch([x], [y], dtype=self.dtype)
        _, grads = self.batch_gradients(x, y, mask)
        return grads["U"], grads["V"], grads["W"]

    def sgd_step(self, x, y, learning_rate):
        """The tutorial's plain SGD step on one sentence (no clipping, whatever the optimizer)."""
        for name, grad in zip(optimizers.PARAM_NAMES, self.bptt(x, y)):
            shared = self._params[name]
            step = self.dtype.type(learning_rate) * _stored(name, grad)
            shared.set_value(shared.get_value(borrow=True) - step)

    def gradient_check(self, x, y, h=0.001, error_threshold=0.01) -> bool:
        """Compare ``bptt`` with finite differences, as the tutorial does (use float64)."""
        return gradient_check(self, x, y, h, error_threshold)

    # --- minibatches --------------------------------------------------------------------------

    def _cast_batch(self, x, y, mask):
        return (np.asarray(x, dtype=np.int32), np.asarray(y, dtype=np.int32),
                np.asarray(mask, dtype=self.dtype))

    def batch_loss(self, x, y, mask) -> float:
        """Cross-entropy summed over the real (mask 1) words of a padded batch."""
        return float(self._function("loss")(*self._cast_batch(x, y, mask)))

    def batch_gradients(self, x, y, mask):
        """Return ``(loss, {"U", "V", "W"})`` summed over the sentences of a padded batch."""
        loss, dU, dV, dW = self._function("gradients")(*self._cast_batch(x, y, mask),
                                                       self.bptt_truncate)
        return float(loss), {"U": dU, "V": dV, "W": dW}

    def train_step(self, x, y, mask, learning_rate) -> float:
        """One update from a padded batch with the model's optimizer and clipping; returns the loss."""
        return float(self._function("train")(*self._cast_batch(x, y, mask), self.bptt_truncate,
                                             self.dtype.type(learning_rate)))
