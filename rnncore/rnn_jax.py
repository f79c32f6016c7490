"""The engine on PyTensor's JAX backend (``RNNJax``): the graphs of ``rnncore.rnn_pytensor``
compiled by JAX/XLA, so the same model runs on an NVIDIA GPU when jax's CUDA build is installed and
on the CPU otherwise. Same interface and the same numbers as ``RNNNumpy`` and ``RNNPyTensor``.

Two things differ from the C engine. The fused output Ops are numpy code with no JAX
implementation, so the output layer is written with plain tensor ops (log-softmax, the loss, and
its gradient by hand), which XLA fuses itself; the class layer (``output="classes"``) computes
every word's logit and masks out the words of other classes than the target's, the same numbers
as the C engine's per-class products, without their ragged shapes. And XLA compiles for fixed shapes: a symbolic length such as the
number of ages carried by the truncated backward scan cannot be an array shape there. So every
function is built for one static (batch size, padded length) and one truncation, cached by that
key, and batches are padded up to a few length buckets so that the cache stays small. Padding comes
after the words with mask 0, which changes no number: padded steps never feed a real state, and
their outputs are masked out of the loss and every gradient. The gated cells' graphs
(``rnncore.pytensor_graphs``, full back-propagation through time) need no truncation in the key;
dropout masks, drawn in numpy as in the C engine, are padded with the batch.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import pytensor
import pytensor.tensor as pt

from rnncore import cells
from rnncore.cells_numpy import output_probabilities
from rnncore.errors import RnnCoreError
from rnncore.pytensor_graphs import BatchInputs, loss_and_grads
from rnncore.rnn_pytensor import RNNPyTensor

COMPILE_MODE = "JAX"
# Padded lengths are multiples of this up to 8 * LENGTH_STEP; beyond, 4 buckets per doubling.
LENGTH_STEP = 8


def padded_length(T: int) -> int:
    """The bucket a sentence length T goes to: 8, 16, ..., 64, 80, 96, 112, 128, 160, ...

    At most a quarter of a padded batch is padding, and sentences up to 256 words need 16 buckets.
    """
    step = max(LENGTH_STEP, 1 << max(0, (T - 1).bit_length() - 3))
    return -(-T // step) * step


def import_jax(dtype):
    """jax, with 64-bit floats switched on when ``dtype`` is float64.

    JAX computes in 32 bits unless ``jax_enable_x64`` is set and would silently round float64
    inputs. The switch is process-wide, so it is set only when a float64 model asks for it, and
    after PyTensor's JAX dispatch is imported, which sets it from PyTensor's floatX on import.
    float32 models are unaffected by it: their graphs name float32 everywhere.
    """
    try:
        import jax
        from pytensor.link.jax.dispatch import jax_funcify
    except ImportError as error:
        raise RnnCoreError(
            "the pytensor-jax engine needs jax: pip install -r requirements-gpu.txt "
            "(jax[cuda12] for an NVIDIA GPU), or choose the pytensor engine") from error
    _results_in_declared_dtypes(jax_funcify)
    if np.dtype(dtype) == np.float64:
        jax.config.update("jax_enable_x64", True)
    return jax


def _results_in_declared_dtypes(jax_funcify):
    """Make PyTensor's JAX translations of sums and fills return the dtype their node declares.

    In PyTensor 3.0.7 a float32 sum returns its float64 accumulator, and a fill with a constant
    (``pt.zeros``) a float64 array, once 64-bit floats are on. Everything downstream then ran in
    float64: the backward products and U's gradient, slow on a GPU and float64 for a float32 model.
    """
    from pytensor.tensor.basic import Alloc
    from pytensor.tensor.elemwise import CAReduce

    for op_class in (CAReduce, Alloc):
        original = jax_funcify.dispatch(op_class)
        if getattr(original, "casts_to_declared_dtype", False):
            continue

        def translate(op, node=None, original=original, **kwargs):
            compute = original(op, node=node, **kwargs)
            dtype = node.outputs[0].dtype
            return lambda *inputs: compute(*inputs).astype(dtype)

        translate.casts_to_declared_dtype = True
        jax_funcify.register(op_class)(translate)


def plain_output_layer(params, s, y, mask, with_grad=True, classes=None):
    """``pytensor_graphs.output_layer`` from plain tensor ops, for backends without the fused Ops.

    s (T, B, H) time-major with static shape, y and mask (B, T). Returns the loss summed over real
    words and, ``with_grad``, ``{"V"(, "Vc")}`` and dL/ds (T, B, H). ``classes``: the class
    layer's (word_class, position, starts), V stored sorted by class.
    """
    T, B, H = s.type.shape
    S = s.reshape((T * B, H))  # (T*B, H)
    m = mask.T.reshape((T * B,))  # (T*B,)
    target = y.T.reshape((T * B,))
    rows = pt.arange(T * B)
    V = params["V"]
    if classes is not None:
        return _plain_class_layer(S, V, params["Vc"], target, m, classes, with_grad, (T, B, H))
    logp = pt.special.log_softmax(S @ V.T, axis=-1)  # (T*B, C)
    loss = -(m * logp[rows, target]).sum()
    if not with_grad:
        return loss
    # dL/dlogits = (softmax - onehot(target)) * mask, the padding rows zero.
    delta = pt.inc_subtensor(pt.exp(logp)[rows, target], -1.0) * m[:, None]  # (T*B, C)
    return loss, {"V": delta.T @ S}, (delta @ V).reshape((T, B, H))


def _plain_class_layer(S, V, Vc, target, m, classes, with_grad, shape):
    """The class layer on rows S (N, H): log P(class) + log P(word | class), the second a softmax
    over every column of V (sorted by class) with the other classes' columns set to -inf."""
    word_class, position, starts = classes
    rows = pt.arange(S.shape[0])
    c, p = word_class[target], position[target]  # (N,): the target's class and row of V
    column_class = pt.set_subtensor(pt.zeros_like(word_class)[position], word_class)  # (C,)
    log_pc = pt.special.log_softmax(S @ Vc.T, axis=-1)  # (N, K)
    same_class = pt.eq(column_class[None, :], c[:, None])  # (N, C)
    minus_inf = pt.constant(-np.inf, dtype=S.dtype)
    log_pw = pt.special.log_softmax(pt.where(same_class, S @ V.T, minus_inf), axis=-1)  # (N, C)
    loss = -(m * (log_pc[rows, c] + log_pw[rows, p])).sum()
    if not with_grad:
        return loss
    delta_c = pt.inc_subtensor(pt.exp(log_pc)[rows, c], -1.0) * m[:, None]  # (N, K)
    delta_w = pt.inc_subtensor(pt.exp(log_pw)[rows, p], -1.0) * m[:, None]  # (N, C)
    dS = delta_w @ V + delta_c @ Vc
    return loss, {"V": delta_w.T @ S, "Vc": delta_c.T @ S}, dS.reshape(shape)


class RNNJax(RNNPyTensor):
    """``RNNPyTensor`` compiled by JAX: one function per (kind, batch size, padded length, ages)."""

    engine = "pytensor-jax"

    def __init__(self, word_dim, hidden_dim=100, bptt_truncate=4, dtype="float32", rng=None,
                 optimizer="sgd", clip_norm=None, cell="rnn", dropout=0.0, output="softmax"):
        self.jax = import_jax(dtype)
        super().__init__(word_dim, hidden_dim, bptt_truncate, dtype, rng, optimizer, clip_norm,
                         cell, dropout, output)

    @property
    def device(self) -> str:
        """The device JAX computes on: "gpu:0" with jax's CUDA build and a GPU, else "cpu:0"."""
        device = self.jax.devices()[0]
        return f"{device.platform}:{device.id}"

    def compiled_shapes(self) -> list[tuple]:
        """Keys of the functions compiled so far: (kind, batch size, padded length, ages)."""
        return sorted(self._functions)

    # --- parameters: after a training step the shared variables hold device arrays ----------

    @property
    def V(self):
        return self._unstored("V", np.array(self._params["V"].get_value(borrow=True)))

    @property
    def Vc(self):
        return np.array(self._params["Vc"].get_value(borrow=True))

    @property
    def W(self):
        return np.array(self._params["W"].get_value(borrow=True))

    def get_params(self) -> dict[str, np.ndarray]:
        """Copies of U, V and W (and b) as writable numpy arrays (fetched from the device)."""
        return {name: np.array(value) for name, value in super().get_params().items()}

    def get_optimizer_state(self) -> dict[str, np.ndarray]:
        """Copies of the optimizer's running averages and step count, as numpy arrays."""
        return {key: np.array(value) for key, value in super().get_optimizer_state().items()}

    # --- compiled functions, one per static shape -------------------------------------------

    def _static_function(self, kind, B, T, dropout=False):
        """The function ``kind`` for batches of B sentences padded to length T, compiled once;
        ``dropout``: the variant of "gradients" or "train" that takes the two masks."""
        ages = 0  # only the vanilla cell's backward scan carries ages
        if kind in ("gradients", "train") and self.cell == "rnn":
            # Ages beyond T - 1 would stay zero, so every truncation from T - 1 up shares one.
            ages = min(self.bptt_truncate, T - 1) + 1
        key = (f"{kind}_dropout" if dropout else kind, B, T, ages)
        if key not in self._functions:
            compile_kind = getattr(self, f"_compile_static_{kind}")
            if kind in ("gradients", "train"):
                self._functions[key] = compile_kind(self._static_batch(B, T, ages - 1, dropout))
            else:
                self._functions[key] = compile_kind(B, T)
        return self._functions[key]

    def _static_params(self):
        """U.T, V, W (and b) with their shapes fixed in the graph, so that every shape is static."""
        return {name: pt.specify_shape(shared, shared.get_value(borrow=True).shape)
                for name, shared in self._params.items()}

    def _static_batch(self, B, T, bptt_truncate=-1, dropout=False):
        """BatchInputs of static shape; the truncation (vanilla cell) built in as a number."""
        rows = cells.GATES[self.cell] * self.hidden_dim
        masks = (pt.tensor("input_keep", dtype=self.dtype, shape=(T, B, rows)),
                 pt.tensor("output_keep", dtype=self.dtype, shape=(T, B, self.hidden_dim)))
        return BatchInputs(pt.tensor("x", dtype="int32", shape=(B, T)),
                           pt.tensor("y", dtype="int32", shape=(B, T)),
                           pt.tensor("mask", dtype=self.dtype, shape=(B, T)),
                           bptt_truncate if self.cell == "rnn" else None,
                           masks if dropout else None)

    def _static_states(self, params, x):
        B, T = x.type.shape
        return pt.specify_shape(self._states(params, x), (T, B, self.hidden_dim))  # (T, B, H)

    def _compile_static_forward(self, B, T):
        x = pt.tensor("x", dtype="int32", shape=(T,))
        params = self._static_params()
        s = self._static_states(params, x[None, :])[:, 0, :]  # (T, H)
        if self.layout is not None:  # the class layer's o is built in numpy
            return pytensor.function([x], s, mode=COMPILE_MODE)
        o = pt.special.softmax(s @ params["V"].T, axis=-1)  # (T, C)
        return pytensor.function([x], [o, s], mode=COMPILE_MODE)

    def _output_layer(self):
        return partial(plain_output_layer, classes=self._class_inputs)

    def _compile_static_loss(self, B, T):
        x, y, mask, _, _ = self._static_batch(B, T)
        params = self._static_params()
        loss = self._output_layer()(params, self._static_states(params, x), y, mask,
                                    with_grad=False)
        return pytensor.function([x, y, mask], loss, mode=COMPILE_MODE)

    def _static_loss_and_grads(self, batch):
        B, T = batch.x.type.shape
        fix = lambda s: pt.specify_shape(s, (T, B, self.hidden_dim))  # noqa: E731
        return loss_and_grads(self.cell, self._static_params(), batch, self.hidden_dim,
                              self._output_layer(), fix)

    def _compile_static_gradients(self, batch):
        loss, grads = self._static_loss_and_grads(batch)
        outputs = [grads[p] for p in self.param_names]  # in the stored layouts
        return pytensor.function(batch.listed(), [loss] + outputs, mode=COMPILE_MODE)

    def _compile_static_train(self, batch):
        learning_rate = pt.scalar("learning_rate", dtype=self.dtype)
        loss, grads = self._static_loss_and_grads(batch)
        updates = self._train_updates(grads, learning_rate, batch.mask)
        return pytensor.function(batch.listed() + [learning_rate], loss, updates=updates,
                                 mode=COMPILE_MODE)

    # --- the interface, padded to the length buckets ----------------------------------------

    def _padded_batch(self, x, y, mask, masks=None):
        """The batch cast and padded to its length bucket with mask 0: x, y int32, mask (B, T'),
        and the dropout masks (T', B, n) when given (padded in time), else None."""
        x, y, mask = self._cast_batch(x, y, mask)
        extra = padded_length(x.shape[1]) - x.shape[1]
        pad = ((0, 0), (0, extra))
        if masks is not None:
            masks = tuple(np.pad(keep, ((0, extra), (0, 0), (0, 0))) for keep in masks)
        return np.pad(x, pad), np.pad(y, pad), np.pad(mask, pad), masks

    def forward_propagation(self, x):
        """Return ``(o, s)``: o (T, word_dim) probabilities, s (T + 1, hidden_dim), s[-1] zero."""
        x = np.asarray(x, dtype=np.int32)
        T = len(x)
        padded = np.pad(x, (0, padded_length(T) - T))
        result = self._static_function("forward", 1, len(padded))(padded)
        s = result if self.layout is not None else result[1]
        s = np.concatenate([np.asarray(s[:T]), np.zeros((1, self.hidden_dim), dtype=self.dtype)])
        if self.layout is not None:
            return output_probabilities(self, s[:T]), s
        return np.asarray(result[0][:T]), s

    def batch_loss(self, x, y, mask) -> float:
        """Cross-entropy summed over the real (mask 1) words of a padded batch."""
        x, y, mask, _ = self._padded_batch(x, y, mask)
        return float(self._static_function("loss", *x.shape)(x, y, mask))

    def _gradients(self, x, y, mask, masks):
        x, y, mask, masks = self._padded_batch(x, y, mask, masks)
        function = self._static_function("gradients", *x.shape, masks is not None)
        loss, *grads = function(x, y, mask, *(masks or ()))
        return float(loss), {name: self._unstored(name, np.asarray(g))
                             for name, g in zip(self.param_names, grads)}

    def train_step(self, x, y, mask, learning_rate, dropout_seed=None) -> float:
        """One update from a padded batch with the model's optimizer and clipping; returns the loss.

        ``dropout_seed`` fixes the dropout masks, drawn for the batch as given, then padded.
        """
        masks = cells.model_dropout_masks(self, np.shape(x), dropout_seed)
        x, y, mask, masks = self._padded_batch(x, y, mask, masks)
        function = self._static_function("train", *x.shape, masks is not None)
        return float(function(x, y, mask, *(masks or ()), self.dtype.type(learning_rate)))
