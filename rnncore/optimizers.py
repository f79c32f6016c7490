"""Parameter update rules shared by both engines: SGD, RMSprop, Adam, and global-norm clipping.

Each rule is written once against a tiny array namespace (``numpy`` or ``pytensor.tensor``), so the
numpy reference applies it to arrays and the PyTensor engine builds the same formulas into its
compiled graph. Optimizer state is a flat dict of named arrays (``"m_U"``, ``"v_W"``, ``"step"``...)
so that a checkpoint can store it next to U, V and W and resume with identical updates. The rules
work for whatever parameters a model has (a gated cell adds ``b``, hence ``m_b``, ``cache_b``).
"""
from __future__ import annotations

import numpy as np

OPTIMIZERS = ("sgd", "rmsprop", "adam")
# The vanilla cell's parameters, in the order its old checkpoints and optimizer states use.
PARAM_NAMES = ("U", "V", "W")

# RMSprop as in the tutorial series' part 4 (decay 0.9); Adam with the paper's defaults.
RMSPROP_DECAY = 0.9
RMSPROP_EPSILON = 1e-6
ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPSILON = 1e-8
# Keeps the clipping scale finite when every gradient is exactly zero.
CLIP_EPSILON = 1e-6


# The words of one sentence that a batch's clipping limit counts, at most. Without a cap, a batch
# that held one "sentence" of hundreds of words (a README's code listing that no full stop split)
# was allowed a step several times a usual batch's, nearly all of it from that one text. On the
# corpus of scripts/readme_corpus.py the default GRU's loss per word jumped to 28 on the next
# batch, the run rolled back, and it ended at 1.06 x the trigram's perplexity (0.91 x with the
# cap; docs/benchmarks.md). 3% of the reddit sample's sentences and 7% of Tiny Shakespeare's are
# longer than this.
CLIP_WORDS_PER_SENTENCE = 50


def check_optimizer(name: str) -> str:
    """Return ``name`` if it is a known optimizer, else raise ValueError in words."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return name


def param_names(params: dict) -> tuple[str, ...]:
    """The names in ``params``: U, V, W first, as the vanilla cell always had them, then the rest
    sorted (a gated cell's b). One fixed order, so clipping sums the same way on every run."""
    extra = sorted(set(params) - set(PARAM_NAMES))
    return tuple(p for p in PARAM_NAMES if p in params) + tuple(extra)


def state_shapes(name: str, param_shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """The names and shapes of the state arrays that optimizer ``name`` keeps."""
    check_optimizer(name)
    names = param_names(param_shapes)
    if name == "sgd":
        return {}
    if name == "rmsprop":
        return {f"cache_{p}": param_shapes[p] for p in names}
    shapes = {f"m_{p}": param_shapes[p] for p in names}
    shapes.update({f"v_{p}": param_shapes[p] for p in names})
    shapes["step"] = ()
    return shapes


def initial_state(name: str, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Zero state for optimizer ``name``, in the parameters' dtype."""
    dtype = params["U"].dtype
    shapes = state_shapes(name, {p: params[p].shape for p in params})
    return {key: np.zeros(shape, dtype=dtype) for key, shape in shapes.items()}


def clipped_words(mask, xp):
    """The words of a padded batch (``mask`` (B, T)) that its clipping limit counts: each
    sentence's, up to CLIP_WORDS_PER_SENTENCE."""
    return xp.minimum(mask.sum(axis=1), CLIP_WORDS_PER_SENTENCE).sum()


def clip_by_global_norm(grads: dict, clip_norm: float | None, xp, words=1) -> dict:
    """Scale all gradients together so their joint L2 norm is at most ``clip_norm * words``
    (``clipped_words`` of the batch).

    Batch gradients are sums over the batch's words, so their norm grows with the batch and
    the sentence lengths; a limit per word means the same whatever the batch. One scale for all
    parameters keeps the update direction; clipping each separately would turn it.
    """
    if clip_norm is None:
        return grads
    names = param_names(grads)
    # A dot product of each gradient with itself runs in the BLAS: PyTensor's C sum of squares is
    # a scalar loop, 1.6 ms for a GRU's U at 8,000 words against 0.15 ms (a tenth of a default
    # training step on the 2-core machine).
    norm = xp.sqrt(sum(xp.dot(grads[p].ravel(), grads[p].ravel()) for p in names))
    scale = xp.minimum(1.0, clip_norm * words / (norm + CLIP_EPSILON))
    # In the gradients' own dtype: PyTensor makes the Python floats above float64, and a float64
    # scale would turn every update into float64 arithmetic over all of U and V.
    return {p: grads[p] * scale.astype(grads[p].dtype) for p in names}


def apply_update(name: str, params: dict, grads: dict, state: dict, learning_rate, xp):
    """Return ``(new_params, new_state)`` after one step of optimizer ``name``.

    Works on numpy arrays (``xp=numpy``) and on PyTensor variables (``xp=pytensor.tensor``).
    """
    names = param_names(params)
    if name == "sgd":
        return {p: params[p] - learning_rate * grads[p] for p in names}, {}
    if name == "rmsprop":
        new_params, new_state = {}, {}
        for p in names:
            cache = RMSPROP_DECAY * state[f"cache_{p}"] + (1 - RMSPROP_DECAY) * grads[p] ** 2
            new_params[p] = params[p] - learning_rate * grads[p] / (xp.sqrt(cache) + RMSPROP_EPSILON)
            new_state[f"cache_{p}"] = cache
        return new_params, new_state
    if name == "adam":
        step = state["step"] + 1
        # Bias corrections folded into the step size, as in the Adam paper's section 2.
        alpha = learning_rate * xp.sqrt(1 - ADAM_BETA2**step) / (1 - ADAM_BETA1**step)
        new_params, new_state = {}, {"step": step}
        for p in names:
            m = ADAM_BETA1 * state[f"m_{p}"] + (1 - ADAM_BETA1) * grads[p]
            v = ADAM_BETA2 * state[f"v_{p}"] + (1 - ADAM_BETA2) * grads[p] ** 2
            new_params[p] = params[p] - alpha * m / (xp.sqrt(v) + ADAM_EPSILON)
            new_state[f"m_{p}"], new_state[f"v_{p}"] = m, v
        return new_params, new_state
    raise ValueError(f"unknown optimizer {name!r}")


def check_state(name: str, state: dict, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Validate a saved optimizer state against the parameters; return it as fresh arrays."""
    expected = state_shapes(name, {p: params[p].shape for p in params})
    if set(state) != set(expected):
        raise ValueError(
            f"optimizer state for {name!r} needs keys {sorted(expected)}, got {sorted(state)}"
        )
    dtype = params["U"].dtype
    checked = {}
    for key, shape in expected.items():
        value = np.array(state[key], dtype=dtype)
        if value.shape != shape:
            raise ValueError(f"optimizer state {key!r} has shape {value.shape}, expected {shape}")
        checked[key] = value
    return checked
