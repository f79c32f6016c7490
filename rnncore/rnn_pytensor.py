"""The compiled engine (``RNNPyTensor``): the tutorial's model as PyTensor graphs, trained in minibatches.

Same interface and the same numbers as ``rnncore.rnn_numpy.RNNNumpy``, for every cell. The graphs
(the recurrence in a scan, the fused output layer, the vanilla cell's hand-written per-output
truncation, the gated cells' hand-written backward scans) are in ``rnncore.pytensor_graphs``;
this class holds the parameters and optimizer state as shared variables and compiles each function
once, when it is first used (``bptt_truncate`` is an input, so changing it compiles nothing).
With ``dropout`` > 0 the gradient and training functions take the two dropout masks as inputs,
drawn in numpy from ``dropout_seed`` (``rnncore.cells``) so that every engine sees the same ones;
without dropout they are compiled without them. With ``output="classes"`` the fused class layer
(``rnncore.fused_classes``) replaces the softmax. How the parameters are kept (U transposed, the
class layer's V sorted by class) is ``rnncore.stored_layouts``.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import pytensor
import pytensor.tensor as pt

from rnncore import cells, optimizers, word_classes
from rnncore.batching import pad_batch
from rnncore.cells_numpy import output_probabilities
from rnncore.fused_output import one_blas_thread
from rnncore.pytensor_blas import configure_blas
from rnncore.pytensor_graphs import (BatchInputs, RowsOfU, added_to_rows, forward_states,
                                     gated_states, loss_and_grads, output_layer)
from rnncore.rnn_numpy import gradient_check, initial_params
from rnncore.stored_layouts import StoredLayouts

# PyTensor's C backend. PyTensor 3's default (FAST_RUN) is its Numba backend, which ran this model
# 3.3x slower here (5.3k vs 17.2k tokens/s on one core, batch 32): the fused output Op runs numpy
# code, which Numba could only call in object mode, and Numba's elementwise exp is scalar.
COMPILE_MODE = "CVM"
# Sentences per call when the loss of a whole corpus is evaluated.
EVAL_BATCH_SIZE = 64


configure_blas()  # before anything is compiled: scipy's OpenBLAS (rnncore.pytensor_blas)


def _with_one_blas_thread(function):
    """``function`` called with one BLAS thread (``rnncore.fused_output.one_blas_thread``)."""
    def call(*args):
        with one_blas_thread():
            return function(*args)

    return call


class RNNPyTensor(StoredLayouts):
    """An RNN language model whose forward and backward passes are compiled by PyTensor."""

    engine = "pytensor"  # ModelConfig.engine of this class

    def __init__(self, word_dim, hidden_dim=100, bptt_truncate=4, dtype="float32", rng=None,
                 optimizer="sgd", clip_norm=None, cell="rnn", dropout=0.0, output="softmax"):
        if rng is None:
            rng = np.random.default_rng()
        self.word_dim = int(word_dim)
        self.hidden_dim = int(hidden_dim)
        self.bptt_truncate = int(bptt_truncate)
        self.dtype = np.dtype(dtype)
        self.optimizer = optimizers.check_optimizer(optimizer)
        self.clip_norm = clip_norm
        self.cell = cells.check_cell(cell)
        self.dropout = float(dropout)
        self.output = output
        # U, V, W (and b for the gated cells, Vc for the class layer): what training changes.
        self.param_names = cells.param_names(cell) + word_classes.output_param_names(output)
        init = initial_params(self.word_dim, self.hidden_dim, rng, cell, output)
        self._init_layout(init)
        # Stored values: _params["U"] holds U transposed, (word_dim, H), and so do the optimizer's
        # U statistics (and the class layer's V its rows by class); get_params and
        # get_optimizer_state turn them back.
        self._params = {
            name: pytensor.shared(self._stored(name, value.astype(self.dtype)), name=name)
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
        return self._unstored("V", self._params["V"].get_value())

    @property
    def Vc(self):
        return self._params["Vc"].get_value()

    @property
    def W(self):
        return self._params["W"].get_value()

    # --- parameters and optimizer state -------------------------------------------------------

    def get_params(self) -> dict[str, np.ndarray]:
        """Copies of U, V and W (and b; Vc and word_class for the class layer)."""
        params = {name: self._unstored(name, shared.get_value())
                  for name, shared in self._params.items()}
        if self._layout is not None:
            params["word_class"] = self._layout.word_class.copy()
        return params

    def set_params(self, params: dict[str, np.ndarray]) -> None:
        """Replace U, V and W (and b, Vc) (copied, cast to the model's dtype, shapes checked) and
        the class layer's word_class, when given."""
        if self._layout is not None and "word_class" in params:
            self._set_layout(params["word_class"])
        for name, shared in self._params.items():
            value = np.array(params[name], dtype=self.dtype)
            expected = self._unstored(name, shared.get_value(borrow=True)).shape
            if value.shape != expected:
                raise ValueError(f"{name} has shape {value.shape}, expected {expected}")
            shared.set_value(self._stored(name, value))

    def get_optimizer_state(self) -> dict[str, np.ndarray]:
        """Copies of the optimizer's running averages and step count (empty for plain SGD)."""
        return {key: self._unstored(key, shared.get_value())
                for key, shared in self._opt_state.items()}

    def set_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what ``get_optimizer_state`` returned, so training resumes with identical updates."""
        trained = {name: self._unstored(name, self._params[name].get_value(borrow=True))
                   for name in self.param_names}
        checked = optimizers.check_state(self.optimizer, state, trained)
        for key, value in checked.items():
            self._opt_state[key].set_value(self._stored(key, value))

    # --- compiled functions, built on first use -----------------------------------------------

    def _function(self, name, dropout=False):
        """The compiled function ``name``; ``dropout``: the variant that takes the two masks."""
        key = f"{name}_dropout" if dropout else name
        if key not in self._functions:
            compile_name = getattr(self, f"_compile_{name}")
            self._functions[key] = _with_one_blas_thread(
                compile_name(dropout) if dropout else compile_name())
        return self._functions[key]

    def _batch_inputs(self, dropout=False):
        # bptt_truncate is an input, not a constant, so changing it needs no recompilation.
        k = pt.iscalar("bptt_truncate") if self.cell == "rnn" else None
        masks = (pt.tensor3("input_keep", dtype=self.dtype),
                 pt.tensor3("output_keep", dtype=self.dtype)) if dropout else None
        return BatchInputs(pt.imatrix("x"), pt.imatrix("y"), pt.matrix("mask", dtype=self.dtype),
                           k, masks)

    def _states(self, params, x):
        """s (T, B, H) for a padded batch x (B, T), with no dropout."""
        if self.cell == "rnn":
            return forward_states(params["U"], params["W"], x)
        return gated_states(self.cell, params["U"], params["W"], params["b"], x, self.hidden_dim)

    def _compile_forward(self):
        """o (T, C) and s (T + 1, H) for one sentence; the class layer's o is built in numpy."""
        x = pt.ivector("x")
        s = self._states(self._params, x[None, :])[:, 0, :]  # (T, H)
        s_with_initial = pt.concatenate([s, pt.zeros((1, s.shape[1]), dtype=s.dtype)])
        if self._layout is not None:
            return pytensor.function([x], s_with_initial, mode=COMPILE_MODE)
        o = pt.special.softmax(s @ self._params["V"].T, axis=-1)  # (T, C)
        return pytensor.function([x], [o, s_with_initial], mode=COMPILE_MODE)

    def _output_layer(self):
        """The output layer's graph: the fused softmax, or the fused class layer on its layout."""
        return partial(output_layer, classes=self._class_inputs)

    def _compile_loss(self):
        x, y, mask, _, _ = self._batch_inputs()
        loss = self._output_layer()(self._params, self._states(self._params, x), y, mask,
                                    with_grad=False)
        return pytensor.function([x, y, mask], loss, mode=COMPILE_MODE)

    def _compile_gradients(self, dropout=False):
        batch = self._batch_inputs(dropout)
        loss, grads = loss_and_grads(self.cell, self._params, batch, self.hidden_dim,
                                     self._output_layer())
        outputs = [grads[p] for p in self.param_names]  # in the stored layouts
        return pytensor.function(batch.listed(), [loss] + outputs, mode=COMPILE_MODE)

    def _compile_train(self, dropout=False):
        batch = self._batch_inputs(dropout)
        learning_rate = pt.scalar("learning_rate", dtype=self.dtype)
        # Plain SGD changes only the rows of U that the batch looks up; the optimizers with
        # running averages change every row.
        rows = RowsOfU(batch.x) if self.optimizer == "sgd" else None
        loss, grads = loss_and_grads(self.cell, self._params, batch, self.hidden_dim,
                                     self._output_layer(),
                                     lookup=rows.gradient if rows is not None else None)
        return pytensor.function(batch.listed() + [learning_rate], loss,
                                 updates=self._train_updates(grads, learning_rate, batch.mask,
                                                             rows),
                                 mode=COMPILE_MODE)

    def _train_updates(self, grads, learning_rate, mask, rows=None):
        """(shared variable, new value) pairs of one optimizer step, clipping included (the limit
        is per real word of the batch, ``optimizers.clipped_words`` of its ``mask``). With ``rows``
        (``RowsOfU``), grads["U"] holds the rows of its words only, each once, so its norm is
        that of the whole gradient."""
        grads = optimizers.clip_by_global_norm(grads, self.clip_norm, pt,
                                               words=optimizers.clipped_words(mask, pt))
        params, state = dict(self._params), dict(self._opt_state)
        updates = []
        if rows is not None:  # SGD on U's rows: U - rate * gradient there, nothing elsewhere
            U_T = params.pop("U")
            step = (-learning_rate * grads.pop("U")).astype(self.dtype)
            updates.append((U_T, added_to_rows(U_T, rows.words, step)))
        new_params, new_state = optimizers.apply_update(
            self.optimizer, params, grads, state, learning_rate, pt)
        updates += [(self._params[p], new_params[p].astype(self.dtype)) for p in new_params]
        return updates + [(state[k], new_state[k].astype(self.dtype)) for k in new_state]

    # --- the tutorial's per-sentence interface ------------------------------------------------

    def forward_propagation(self, x):
        """Return ``(o, s)``: o (T, word_dim) probabilities, s (T + 1, hidden_dim), s[-1] zero."""
        result = self._function("forward")(np.asarray(x, dtype=np.int32))
        if self._layout is None:
            return result
        return output_probabilities(self, result[:-1]), result

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
        """Return ``(dLdU, dLdV, dLdW)`` for one sentence, each output truncated separately
        (gated cells: ``(dLdU, dLdV, dLdW, dLdb)`` through the whole sentence)."""
        x, y, mask = pad_batch([x], [y], dtype=self.dtype)
        _, grads = self._gradients(x, y, mask, None)
        return tuple(grads[name] for name in self.param_names)

    def sgd_step(self, x, y, learning_rate):
        """The tutorial's plain SGD step on one sentence (no clipping, whatever the optimizer)."""
        for name, grad in zip(self.param_names, self.bptt(x, y)):
            shared = self._params[name]
            step = self.dtype.type(learning_rate) * self._stored(name, grad)
            shared.set_value(shared.get_value(borrow=True) - step)

    def gradient_check(self, x, y, h=0.001, error_threshold=0.01) -> bool:
        """Compare ``bptt`` with finite differences, as the tutorial does (use float64)."""
        return gradient_check(self, x, y, h, error_threshold)

    # --- minibatches --------------------------------------------------------------------------

    def _cast_batch(self, x, y, mask):
        return (np.asarray(x, dtype=np.int32), np.asarray(y, dtype=np.int32),
                np.asarray(mask, dtype=self.dtype))

    def _batch_args(self, x, y, mask, masks):
        """The arguments of a gradient or training function: batch, truncation, masks."""
        args = list(self._cast_batch(x, y, mask))
        if self.cell == "rnn":
            args.append(self.bptt_truncate)
        return args + list(masks or ())

    def batch_loss(self, x, y, mask) -> float:
        """Cross-entropy summed over the real (mask 1) words of a padded batch."""
        return float(self._function("loss")(*self._cast_batch(x, y, mask)))

    def batch_gradients(self, x, y, mask, dropout_seed=None):
        """Return ``(loss, {"U", "V", "W"} (and "b"))`` summed over the sentences of a padded batch.

        With dropout, those of the network thinned by the masks ``dropout_seed`` draws (None:
        fresh randomness); as ``RNNNumpy.batch_gradients``.
        """
        masks = cells.model_dropout_masks(self, np.shape(x), dropout_seed)
        return self._gradients(x, y, mask, masks)

    def _gradients(self, x, y, mask, masks):
        loss, *grads = self._function("gradients", masks is not None)(
            *self._batch_args(x, y, mask, masks))
        return float(loss), {name: self._unstored(name, np.asarray(g))
                             for name, g in zip(self.param_names, grads)}

    def train_step(self, x, y, mask, learning_rate, dropout_seed=None) -> float:
        """One update from a padded batch with the model's optimizer and clipping; returns the loss.

        ``dropout_seed`` (e.g. ``(seed, stream, epoch, batch)``) fixes the dropout masks.
        """
        masks = cells.model_dropout_masks(self, np.shape(x), dropout_seed)
        function = self._function("train", masks is not None)
        return float(function(*self._batch_args(x, y, mask, masks), self.dtype.type(learning_rate)))
