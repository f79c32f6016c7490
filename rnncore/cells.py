"""The recurrent cells every engine offers and what they share: parameter shapes, dropout masks.

``"rnn"`` is the tutorial's vanilla cell, s_t = tanh(U x_t + W s_{t-1}), with parameters U (H, C),
V (C, H), W (H, H). The gated cells stack one block of H rows per gate in U, W and a bias b:

- ``"gru"`` (the tutorial series' part 4): blocks z (update gate), r (reset gate), h (candidate);
  z = sigmoid(U_z x + W_z s + b_z), r = sigmoid(U_r x + W_r s + b_r),
  h = tanh(U_h x + W_h (s * r) + b_h), s_t = (1 - z) * h + z * s_{t-1}.
- ``"lstm"``: blocks i (input gate), f (forget gate), o (output gate), g (candidate) and a cell
  state c; c_t = f * c_{t-1} + i * g, s_t = o * tanh(c_t).

U (G*H, C), W (G*H, H), b (G*H,), V (C, H). The column U[:, x] is word x's contribution to every
gate at once, a lookup as in the vanilla cell. Gated cells back-propagate through whole sentences
(the tutorial's part 4 default, bptt_truncate=-1); only the vanilla cell truncates.

Dropout (Zaremba et al. 2014, on the non-recurrent connections) is drawn here from an explicit seed,
so every engine sees the same masks and a resumed run the same ones it would have seen. Numpy only:
the web process reads these names through ``rnncore.checkpoint`` and ``rnncore.generate``.
"""
from __future__ import annotations

import numpy as np

CELLS = ("rnn", "gru", "lstm")
# Blocks of hidden_dim rows stacked in U, W and b, in this order.
GATE_NAMES = {"rnn": ("s",), "gru": ("z", "r", "h"), "lstm": ("i", "f", "o", "g")}
GATES = {cell: len(names) for cell, names in GATE_NAMES.items()}
# The vanilla cell's names in the order old checkpoints and optimizer states use; gated cells add b.
VANILLA_PARAMS = ("U", "V", "W")
GATED_PARAMS = VANILLA_PARAMS + ("b",)
ALL_PARAMS = GATED_PARAMS
# The LSTM's forget-gate bias starts at 1 so that c is remembered, not forgotten, before training
# has taught the gate anything (Gers et al. 2000; Jozefowicz et al. 2015).
LSTM_FORGET_BIAS = 1.0


def sigmoid(a: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-a)), written with tanh so that exp never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def check_cell(cell: str) -> str:
    """Return ``cell`` if it is a known cell, else raise ValueError in words."""
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
    return cell


def param_names(cell: str) -> tuple[str, ...]:
    """The parameters of a ``cell`` model: U, V, W, and b for the gated cells."""
    return VANILLA_PARAMS if check_cell(cell) == "rnn" else GATED_PARAMS


def param_shapes(cell: str, word_dim: int, hidden_dim: int) -> dict[str, tuple[int, ...]]:
    """Shapes of every parameter of a ``cell`` model over ``word_dim`` words."""
    rows = GATES[check_cell(cell)] * hidden_dim
    shapes = {"U": (rows, word_dim), "V": (word_dim, hidden_dim), "W": (rows, hidden_dim)}
    if cell != "rnn":
        shapes["b"] = (rows,)
    return shapes


def cell_of(params: dict) -> str:
    """The cell whose parameter shapes these are: U's rows per hidden unit (V has H columns).

    Raises ValueError in words when the shapes fit no cell.
    """
    U, V = np.shape(params["U"]), np.shape(params["V"])
    if len(U) != 2 or len(V) != 2 or V[1] == 0 or U[0] % V[1]:
        raise ValueError(f"U {U} and V {V} fit no cell: U needs 1, 3 or 4 times V's columns "
                         f"as rows")
    gates = U[0] // V[1]
    cells = [cell for cell, n in GATES.items() if n == gates]
    if not cells or (cells[0] == "rnn") == ("b" in params):
        raise ValueError(f"parameters {sorted(params)} with U {U} and V {V} fit no cell "
                         f"(rnn: U, V, W; gru: U with 3H rows and b; lstm: U with 4H rows and b)")
    return cells[0]


def dropout_masks(dropout_seed, dropout: float, batch_size: int, length: int, cell: str,
                  hidden_dim: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Inverted-dropout masks for one training batch: ``(input_keep, output_keep)``.

    input_keep (T, B, G*H) multiplies the input contributions U[:, x_t]; output_keep (T, B, H) the
    states going into the output layer V s_t. Entries are 0 (dropped, with probability
    ``dropout``) or 1 / (1 - dropout), so the expected value is unchanged and evaluation needs no
    rescaling. Drawn in this fixed order from ``np.random.default_rng(dropout_seed)``, in float32
    whatever the model's dtype (half the work, and the same masks for float32 and float64 models):
    first the input mask, then the output mask, both time-major.
    """
    rng = np.random.default_rng(dropout_seed)
    rows = GATES[check_cell(cell)] * hidden_dim
    scale = np.dtype(dtype).type(1.0 / (1.0 - dropout))
    input_keep = (rng.random((length, batch_size, rows), dtype=np.float32) >= dropout) * scale
    output_keep = (rng.random((length, batch_size, hidden_dim), dtype=np.float32)
                   >= dropout) * scale
    return input_keep.astype(dtype, copy=False), output_keep.astype(dtype, copy=False)


def model_dropout_masks(model, batch_shape, dropout_seed):
    """``dropout_masks`` for ``model`` (its dropout, cell, hidden_dim, dtype) and a batch of
    ``batch_shape`` (B, T); None when the model does not drop out."""
    if model.dropout == 0:
        return None
    B, T = batch_shape
    return dropout_masks(dropout_seed, model.dropout, B, T, model.cell, model.hidden_dim,
                         model.dtype)
