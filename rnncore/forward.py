"""The trained network's forward pass in numpy, one step at a time, for the web process.

``Network`` holds a model's weights laid out for single steps (transposed, contiguous, float64),
runs the tutorial's cell or a gated one over a sentence while keeping the hidden state, and gives
the output layer's log-probabilities (the full softmax or the class-factored layer), with the
words its training never showed smoothed in (``rnncore.novel_words``). It also answers what the
weights themselves show: the hidden states over a text, and the words whose embeddings are
nearest. ``rnncore.generate.LanguageModel`` builds sampling and scoring on it.
"""
from __future__ import annotations

import numpy as np

from rnncore.cells import cell_of, sigmoid
from rnncore.checkpoint import check_param_shapes
from rnncore.novel_words import NovelWords
from rnncore.text import tokenize_prefix
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, Vocabulary
from rnncore.word_classes import ClassOutput


def check_int(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ValueError(f"{name} must be a whole number from {lo} to {hi}, not {value!r}")


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a (n, h) @ b (h, w) without BLAS: these products are small, and a multithreaded BLAS on a
    busy server spends ~12 ms on thread hand-offs for a (1, 100) @ (100, 8000) that takes 0.3 ms."""
    return np.einsum("nh,hw->nw", a, b)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class Network:
    """The tutorial's RNN forward pass over a fixed vocabulary.

    ``b`` given, the cell is gated: a GRU when U has 3 * hidden_dim rows, an LSTM with 4 (see
    ``rnncore.cells``). An LSTM's recurrent state is [s, c] side by side, (n, 2 * hidden_dim).
    ``Vc`` and ``word_class`` given, the output layer is the class-factored one
    (``rnncore.word_classes``), whose probabilities of every word are built class by class.
    """

    # The vocabulary's words that training never showed, and their share (rnncore.novel_words).
    novel: NovelWords | None = None

    def __init__(self, U, V, W, vocabulary: Vocabulary, b=None, Vc=None, word_class=None):
        params = {"U": U, "V": V, "W": W} if b is None else {"U": U, "V": V, "W": W, "b": b}
        if Vc is not None or word_class is not None:
            params.update(Vc=Vc, word_class=word_class)
        word_dim, hidden_dim = check_param_shapes(params, len(vocabulary))
        self._classes = None if Vc is None else ClassOutput(V, Vc, word_class)
        self.word_dim, self.hidden_dim = word_dim, hidden_dim
        self.cell = cell_of(params)
        steps = {"rnn": self._rnn_step, "gru": self._gru_step, "lstm": self._lstm_step}
        self._step = steps[self.cell]
        self.state_dim = 2 * hidden_dim if self.cell == "lstm" else hidden_dim
        # Rows of U.T are U times a one-hot vector, so each step reads one contiguous row; a gated
        # cell's bias is added to them once here rather than at every step. (word_dim, G*H)
        U_T = np.asarray(U, dtype=np.float64).T
        self.U_T = np.ascontiguousarray(U_T if b is None else U_T + np.asarray(b, dtype=np.float64))
        self.b = None if b is None else np.asarray(b, dtype=np.float64)  # (G*H,), nearest_words
        # Transposed copies so every product reads memory in order (s @ V.T on V itself is ~8x slower).
        self.V_T = np.ascontiguousarray(np.asarray(V, dtype=np.float64).T)  # (hidden_dim, word_dim)
        W_T = np.asarray(W, dtype=np.float64).T  # (hidden_dim, G*H)
        # The GRU's reset gate acts before W_h, so its block is multiplied apart from z's and r's.
        split = 2 * hidden_dim if self.cell == "gru" else W_T.shape[1]
        self.W_T = np.ascontiguousarray(W_T[:, :split])  # (hidden_dim, G*H), GRU's (H, 2H)
        self.W_h_T = np.ascontiguousarray(W_T[:, split:])  # GRU only: (hidden_dim, hidden_dim)
        self.vocabulary = vocabulary
        self.start_index = vocabulary.word_to_index.get(SENTENCE_START)
        self.end_index = vocabulary.word_to_index.get(SENTENCE_END)
        if self.start_index is None or self.end_index is None:
            raise ValueError(f"the vocabulary must contain {SENTENCE_START} and {SENTENCE_END}")
        if word_dim < 4:
            raise ValueError("the vocabulary needs at least one word besides the three markers")
        # Sampling never emits these: UNKNOWN_TOKEN (tutorial) and SENTENCE_START (never a next word).
        self._never = np.array([vocabulary.unknown_index, self.start_index])

    # --- the forward pass -----------------------------------------------------------------------

    def _rnn_step(self, s: np.ndarray, x: np.ndarray) -> np.ndarray:
        """s_t = tanh(U x_t + W s_{t-1}) for a batch: s (n, hidden_dim), x (n,) -> (n, hidden_dim)."""
        return np.tanh(self.U_T[x] + matmul(s, self.W_T))

    def _gru_step(self, s: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The tutorial's part 4 GRU: s (n, H), x (n,) -> s_t = (1 - z) h + z s_{t-1}, (n, H)."""
        H = self.hidden_dim
        pre = self.U_T[x]  # (n, 3H): U x_t + b
        zr = sigmoid(pre[:, : 2 * H] + matmul(s, self.W_T))  # (n, 2H): z and r
        z, r = zr[:, :H], zr[:, H:]
        h = np.tanh(pre[:, 2 * H :] + matmul(s * r, self.W_h_T))
        return (1 - z) * h + z * s

    def _lstm_step(self, state: np.ndarray, x: np.ndarray) -> np.ndarray:
        """An LSTM step on state [s, c] (n, 2H), x (n,) -> [s_t, c_t] (n, 2H)."""
        H = self.hidden_dim
        a = self.U_T[x] + matmul(state[:, :H], self.W_T)  # (n, 4H): i, f, o, g
        i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H]), sigmoid(a[:, 2 * H : 3 * H])
        c = f * state[:, H:] + i * np.tanh(a[:, 3 * H :])
        return np.concatenate([o * np.tanh(c), c], axis=1)

    def _logits(self, states: np.ndarray) -> np.ndarray:
        """V s for states (n, state_dim): (n, word_dim). An LSTM's output reads s, not c."""
        return matmul(states[:, : self.hidden_dim], self.V_T)

    def _log_probs(self, states: np.ndarray) -> np.ndarray:
        """log P(w | s) of every word for states (n, state_dim): (n, word_dim)."""
        if self._classes is not None:
            logp = self._classes.log_probs(states[:, : self.hidden_dim])
        else:
            logp = log_softmax(self._logits(states))
        return logp if self.novel is None else self.novel.log_probs(logp)

    def _states(self, ids: list[int]) -> np.ndarray:
        """States after reading SENTENCE_START and each of ``ids``: (len(ids) + 1, state_dim)."""
        s = np.zeros((1, self.state_dim))  # (1, state_dim), the zero initial state
        states = np.empty((len(ids) + 1, self.state_dim))  # (T + 1, state_dim)
        for t, x in enumerate([self.start_index] + list(ids)):
            s = self._step(s, np.array([x]))
            states[t] = s[0]
        return states

    def _encode(self, text: str):
        if not isinstance(text, str):
            raise ValueError(f"the text must be a string, not {type(text).__name__}")
        tokens = tokenize_prefix(text, self.vocabulary)
        ids, unknown_words = self.vocabulary.encode(tokens)
        return tokens, ids, unknown_words

    # --- inside the network -----------------------------------------------------------------

    def hidden_states(self, text: str) -> dict:
        """The hidden state after each word of ``text``, SENTENCE_START first: dict(tokens
        (["SENTENCE_START", *words]), unknown_words, states (len(tokens), hidden_dim) array).
        An LSTM's is its output s, not its memory c (Karpathy et al. 2015 colour text by these)."""
        tokens, ids, unknown_words = self._encode(text)
        states = self._states(ids)[:, : self.hidden_dim]  # (T + 1, hidden_dim)
        return {"tokens": [SENTENCE_START] + tokens, "unknown_words": unknown_words,
                "states": states}

    def nearest_words(self, word: str, k: int = 10) -> dict:
        """The ``k`` words whose input embeddings (columns of U: all G*H rows for a gated cell,
        without b) point most nearly the way ``word``'s does: dict(word, neighbours=[{"word",
        "cosine"}]), most similar first, the word itself left out."""
        check_int("k", k, 1, self.word_dim - 1)
        tokens, ids, unknown_words = self._encode(word)
        if len(tokens) != 1:
            raise ValueError(f"give one word, not {len(tokens)} ({' '.join(tokens) or 'none'})")
        if unknown_words:
            raise ValueError(f"{tokens[0]!r} is not in the model's vocabulary")
        E = self.U_T if self.b is None else self.U_T - self.b  # (word_dim, G*H): U's columns
        norms = np.linalg.norm(E, axis=1)  # (word_dim,)
        cosine = matmul(E, E[ids[0]][:, None])[:, 0] / np.maximum(norms * norms[ids[0]], 1e-300)
        cosine[ids[0]] = -np.inf
        top = np.argsort(-cosine, kind="stable")[:k]
        return {"word": tokens[0], "neighbours": [
            {"word": self.vocabulary.index_to_word[i], "cosine": float(cosine[i])} for i in top]}
