"""The tutorial's numpy RNN language model (``RNNNumpy``): the readable reference engine.

s_t = tanh(U x_t + W s_{t-1}), o_t = softmax(V s_t), cross-entropy loss, back-propagation through
time truncated per output (each output back-propagates at most ``bptt_truncate`` steps, exactly as
the tutorial's ``bptt``). The per-sentence methods follow the blog post line by line; the minibatch
methods (``batch_loss``, ``batch_gradients``, ``train_step``) compute the same sums over a padded
batch with matrix products, and are what the PyTensor engine is held equal to.

``cell="gru"`` or ``"lstm"`` swaps the vanilla cell for a gated one (``rnncore.cells``; the numpy
code is in ``rnncore.cells_numpy``); gated cells back-propagate through whole sentences and ignore
``bptt_truncate``. ``dropout`` > 0 drops the input contributions U[:, x_t] and the states going
into V during ``batch_gradients`` and ``train_step`` only, with masks drawn from ``dropout_seed``;
evaluation (losses, ``forward_propagation``, ``bptt``) never drops. ``output="classes"`` replaces
the softmax over every word with RNNLM's class-factored layer (``rnncore.word_classes``): one more
trained matrix Vc (K, H) and the class of each word, ``word_class``, returned by ``get_params``.
"""
from __future__ import annotations

import logging

import numpy as np

from rnncore import cells, cells_numpy, optimizers, word_classes
from rnncore.batching import pad_batch
from rnncore.cells_numpy import output_gradients, output_probabilities, softmax

log = logging.getLogger(__name__)


def initial_params(word_dim: int, hidden_dim: int, rng: np.random.Generator,
                   cell: str = "rnn", output: str = "softmax") -> dict[str, np.ndarray]:
    """The tutorial's initialisation, in float64: uniform in +-1/sqrt(n), n the incoming connections.

    Every engine draws through here, in the order U, V, W, so one seed gives one model in any of
    them (and the vanilla cell the same model as before gated cells existed). Gated cells' biases
    b start at zero (tutorial part 4), the LSTM's forget gate at ``cells.LSTM_FORGET_BIAS``.
    The class layer's Vc (K, H) is drawn last, like V, so U, V and W are those of a softmax model.
    """
    shapes = cells.param_shapes(cell, word_dim, hidden_dim)
    u_bound, h_bound = np.sqrt(1.0 / word_dim), np.sqrt(1.0 / hidden_dim)
    params = {
        "U": rng.uniform(-u_bound, u_bound, shapes["U"]),
        "V": rng.uniform(-h_bound, h_bound, shapes["V"]),
        "W": rng.uniform(-h_bound, h_bound, shapes["W"]),
    }
    if cell != "rnn":
        params["b"] = np.zeros(shapes["b"])  # (G*H,)
        if cell == "lstm":
            forget = cells.GATE_NAMES["lstm"].index("f")
            params["b"][forget * hidden_dim : (forget + 1) * hidden_dim] = cells.LSTM_FORGET_BIAS
    if word_classes.output_param_names(output):
        params["Vc"] = rng.uniform(-h_bound, h_bound, (word_classes.class_count(word_dim), hidden_dim))
    return params


class RNNNumpy:
    """An RNN language model over ``word_dim`` words with ``hidden_dim`` hidden units."""

    def __init__(self, word_dim, hidden_dim=100, bptt_truncate=4, dtype=np.float64, rng=None,
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
        for name in self.param_names:
            setattr(self, name, init[name].astype(self.dtype))
        if output == "classes":
            self.assign_classes(word_classes.zipf_counts(self.word_dim))
        self._opt_state = optimizers.initial_state(self.optimizer, self._trained())

    # --- parameters and optimizer state -------------------------------------------------------

    def _trained(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.param_names}

    def get_params(self) -> dict[str, np.ndarray]:
        """Copies of U, V and W (and b; Vc and word_class for the class layer)."""
        params = {name: getattr(self, name).copy() for name in self.param_names}
        if self.output == "classes":
            params["word_class"] = self.word_class.copy()
        return params

    def assign_classes(self, counts) -> None:
        """Put the words into classes by these counts (``rnncore.word_classes``), before training."""
        K = word_classes.class_count(self.word_dim)
        self._set_word_class(word_classes.assign_classes(counts, K))

    def _set_word_class(self, word_class) -> None:
        self.layout = word_classes.ClassLayout.of(word_class, len(self.Vc))
        self.word_class = self.layout.word_class

    def set_params(self, params: dict[str, np.ndarray]) -> None:
        """Replace U, V and W (and b, Vc) (copied, cast to the model's dtype, shapes checked) and
        the class layer's word_class, when given."""
        if self.output == "classes" and "word_class" in params:
            self._set_word_class(params["word_class"])
        for name in self.param_names:
            value = np.array(params[name], dtype=self.dtype)
            expected = getattr(self, name).shape
            if value.shape != expected:
                raise ValueError(f"{name} has shape {value.shape}, expected {expected}")
            setattr(self, name, value)

    def get_optimizer_state(self) -> dict[str, np.ndarray]:
        """Copies of the optimizer's running averages and step count (empty for plain SGD)."""
        return {key: value.copy() for key, value in self._opt_state.items()}

    def set_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what ``get_optimizer_state`` returned, so training resumes with identical updates."""
        self._opt_state = optimizers.check_state(self.optimizer, state, self._trained())

    # --- the tutorial, one sentence at a time -------------------------------------------------

    def forward_propagation(self, x):
        """Return ``(o, s)``: o (T, word_dim) output probabilities, s (T + 1, hidden_dim) states.

        s[-1] stays zero: it is the initial state that s[t - 1] reads at t = 0.
        """
        if self.cell != "rnn":
            return cells_numpy.forward_propagation(self, x)
        T = len(x)
        s = np.zeros((T + 1, self.hidden_dim), dtype=self.dtype)  # (T + 1, hidden_dim)
        o = np.zeros((T, self.word_dim), dtype=self.dtype)  # (T, word_dim)
        for t in np.arange(T):
            # U[:, x[t]] is U times the one-hot vector of word x[t].
            s[t] = np.tanh(self.U[:, x[t]] + self.W.dot(s[t - 1]))
            if self.output == "softmax":
                o[t] = softmax(self.V.dot(s[t]))
        if self.output == "classes":  # P(class | s_t) P(word | class, s_t), class by class
            o = output_probabilities(self, s[:T])
        return o, s

    def predict(self, x):
        """The most probable next word at every position, (T,)."""
        o, _ = self.forward_propagation(x)
        return np.argmax(o, axis=1)

    def calculate_total_loss(self, X, Y) -> float:
        """Cross-entropy summed over every word of every sentence."""
        L = 0.0
        for x, y in zip(X, Y):
            o, _ = self.forward_propagation(x)
            correct_word_predictions = o[np.arange(len(y)), y]
            L += -1.0 * np.sum(np.log(correct_word_predictions))
        return float(L)

    def calculate_loss(self, X, Y) -> float:
        """Mean cross-entropy per word."""
        N = sum(len(y) for y in Y)
        return self.calculate_total_loss(X, Y) / N

    def bptt(self, x, y):
        """Return ``(dLdU, dLdV, dLdW)`` for one sentence, each output truncated separately.

        Gated cells return ``(dLdU, dLdV, dLdW, dLdb)``, back-propagated through the whole sentence.
        """
        if self.cell != "rnn":
            return cells_numpy.bptt(self, x, y)
        if self.output == "classes":  # the loop below is the full softmax's; the batch code is exact
            batch = pad_batch([x], [y], dtype=self.dtype)
            grads = self._vanilla_gradients(*batch, None)[1]
            return tuple(grads[name] for name in self.param_names)
        T = len(y)
        o, s = self.forward_propagation(x)
        dLdU = np.zeros(self.U.shape, dtype=self.dtype)
        dLdV = np.zeros(self.V.shape, dtype=self.dtype)
        dLdW = np.zeros(self.W.shape, dtype=self.dtype)
        delta_o = o
        delta_o[np.arange(len(y)), y] -= 1.0  # softmax minus one-hot: dL/d(V s_t)
        for t in np.arange(T)[::-1]:
            dLdV += np.outer(delta_o[t], s[t].T)
            delta_t = self.V.T.dot(delta_o[t]) * (1 - (s[t] ** 2))
            # Back-propagation through time, for at most bptt_truncate steps from this output.
            for bptt_step in np.arange(max(0, t - self.bptt_truncate), t + 1)[::-1]:
                dLdW += np.outer(delta_t, s[bptt_step - 1])
                dLdU[:, x[bptt_step]] += delta_t
                delta_t = self.W.T.dot(delta_t) * (1 - s[bptt_step - 1] ** 2)
        return dLdU, dLdV, dLdW

    def sgd_step(self, x, y, learning_rate):
        """The tutorial's plain SGD step on one sentence (no clipping, whatever the optimizer)."""
        for name, gradient in zip(self.param_names, self.bptt(x, y)):
            parameter = getattr(self, name)
            parameter -= learning_rate * gradient  # in place, as the tutorial's self.U -= ...

    def gradient_check(self, x, y, h=0.001, error_threshold=0.01) -> bool:
        """Compare ``bptt`` with finite differences, parameter by parameter, as the tutorial does."""
        return gradient_check(self, x, y, h, error_threshold)

    # --- minibatches ------------------------------------------------------------------------

    def _batch_forward(self, x, input_keep=None):
        """States for a batch: s (T + 1, B, hidden_dim), s[-1] the zero initial state."""
        B, T = x.shape
        s = np.zeros((T + 1, B, self.hidden_dim), dtype=self.dtype)  # (T + 1, B, H)
        for t in range(T):
            ux = self.U[:, x[:, t]].T  # (B, H)
            if input_keep is not None:
                ux = ux * input_keep[t]
            s[t] = np.tanh(ux + s[t - 1] @ self.W.T)
        return s

    def batch_loss(self, x, y, mask) -> float:
        """Cross-entropy summed over the real (mask 1) words of a padded batch (never drops out)."""
        x, y = np.asarray(x), np.asarray(y)
        if self.cell != "rnn":
            return cells_numpy.batch_loss(self, x, y, mask)
        return output_gradients(self, self._batch_forward(x)[:-1], y, mask)[0]

    def batch_gradients(self, x, y, mask, dropout_seed=None):
        """Return ``(loss, {"U", "V", "W"} (and "b"))`` summed over the sentences of a padded batch.

        With dropout, the loss and gradients of the network thinned by the masks that
        ``dropout_seed`` draws (None: fresh randomness, not reproducible); without, they equal the
        sum of the per-sentence ``bptt``.
        """
        x, y = np.asarray(x), np.asarray(y)
        masks = cells.model_dropout_masks(self, x.shape, dropout_seed)
        if self.cell != "rnn":
            return cells_numpy.batch_gradients(self, x, y, mask, masks)
        return self._vanilla_gradients(x, y, mask, masks)

    def _vanilla_gradients(self, x, y, mask, masks):
        """The vanilla cell's batch gradients, each output truncated after bptt_truncate steps.

        Padding must come after each sentence's words (as ``pad_batch`` builds it): states of real
        words then never depend on padding. Per-output truncation is kept by carrying, while walking
        back in time, one delta per "age" 0..bptt_truncate: the delta that the output ``age`` steps
        ahead sends to this step. The oldest age falls off each step, which is the tutorial's cut.
        """
        B, T = x.shape
        H = self.hidden_dim
        input_keep, output_keep = masks if masks is not None else (None, None)
        s = self._batch_forward(x, input_keep)
        S = s[:T] if output_keep is None else s[:T] * output_keep  # (T, B, H) into the output
        loss, output_grads, ds = output_gradients(self, S, y, mask)  # ds: dL/ds_t from output t alone
        if output_keep is not None:
            ds *= output_keep
        dtanh = 1 - s[:T] ** 2  # (T, B, H)
        ages = min(self.bptt_truncate, T - 1) + 1
        carried = np.zeros((ages, B, H), dtype=self.dtype)  # (ages, B, H)
        dpre = np.zeros((T, B, H), dtype=self.dtype)  # dL/d(pre-activation) at each step
        for t in range(T - 1, -1, -1):
            older = carried[:-1] @ self.W * dtanh[t]  # one step further back for each age
            carried = np.concatenate([(ds[t] * dtanh[t])[None], older])
            dpre[t] = carried.sum(axis=0)
        flat = dpre.reshape(T * B, H)
        dLdW = flat.T @ s[np.arange(-1, T - 1)].reshape(T * B, H)  # s[-1] is the zero state
        dLdU_T = np.zeros((self.word_dim, H), dtype=self.dtype)
        dux = flat if input_keep is None else flat * input_keep.reshape(T * B, H)
        np.add.at(dLdU_T, x.T.reshape(-1), dux)
        return loss, {"U": dLdU_T.T.copy(), "W": dLdW, **output_grads}

    def train_step(self, x, y, mask, learning_rate, dropout_seed=None) -> float:
        """One update from a padded batch with the model's optimizer and clipping; returns the loss.

        ``dropout_seed`` (e.g. ``(seed, stream, epoch, batch)``) fixes the dropout masks.
        """
        loss, grads = self.batch_gradients(x, y, mask, dropout_seed)
        grads = optimizers.clip_by_global_norm(grads, self.clip_norm, np,
                                               words=float(optimizers.clipped_words(mask, np)))
        new_params, self._opt_state = optimizers.apply_update(
            self.optimizer, self._trained(), grads, self._opt_state,
            self.dtype.type(learning_rate), np,
        )
        for name, value in new_params.items():
            setattr(self, name, np.asarray(value, dtype=self.dtype))
        self._opt_state = {k: np.asarray(v, dtype=self.dtype) for k, v in self._opt_state.items()}
        return loss


def gradient_check(model, x, y, h=0.001, error_threshold=0.01) -> bool:
    """The tutorial's finite-difference check of ``model.bptt``, for either engine.

    Nudges every entry of U, V and W (and b) by +-h, compares (L(+h) - L(-h)) / 2h with the
    back-propagated gradient and logs the worst relative error. Returns False at the first entry
    above the threshold.
    """
    bptt_gradients = dict(zip(model.param_names, model.bptt(x, y)))
    params = model.get_params()
    worst = (0.0, None, None)
    try:
        for pname in model.param_names:
            parameter = params[pname]
            for ix in np.ndindex(parameter.shape):
                original_value = parameter[ix]
                parameter[ix] = original_value + h
                model.set_params(params)
                gradplus = model.calculate_total_loss([x], [y])
                parameter[ix] = original_value - h
                model.set_params(params)
                gradminus = model.calculate_total_loss([x], [y])
                parameter[ix] = original_value
                estimated_gradient = (gradplus - gradminus) / (2 * h)
                backprop_gradient = bptt_gradients[pname][ix]
                scale = np.abs(backprop_gradient) + np.abs(estimated_gradient)
                relative_error = np.abs(backprop_gradient - estimated_gradient) / scale if scale else 0.0
                if relative_error > worst[0]:
                    worst = (float(relative_error), pname, ix)
                if relative_error > error_threshold:
                    log.warning("gradient check failed for %s%s: bptt %g, estimate %g, error %g",
                                pname, ix, backprop_gradient, estimated_gradient, relative_error)
                    return False
    finally:
        model.set_params(params)
    log.info("gradient check passed; worst relative error %g at %s%s", *worst)
    return True
