"""The class-factored output layer of a training step as one fused PyTensor Op
(``rnncore.word_classes`` has the math and the readable reference, ``class_output``).

Per row, only the logits that the loss reads are computed: the K classes, and the words of the
target's class. Rows are sorted by their target's class, so each class is one small matrix
product of its rows with its words' rows of V; the engine keeps V itself sorted by class
(``ClassLayout.order``), so those words are a contiguous slice and nothing is gathered. A row
whose class is a single word (the most frequent words) has P(word | class) = 1 and costs only
its class logits. Padded rows (mask 0) are left out before anything is computed.

Threads take fixed, contiguous runs of classes (and so of the sorted rows), balanced by the work
they hold, with single-threaded BLAS as in ``rnncore.fused_output``; a call gets a second thread
only for each ``MIN_LOGITS_PER_THREAD`` logits it holds. Each class's block of dV and
each row of dS belong to one thread; the loss and the partial dVc of each thread are added in
thread order. The work given to a thread depends on the batch alone, never on timing, so the
result is the same bit for bit however loaded the machine is.
"""
from __future__ import annotations

import threading

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from rnncore.fused_output import _needs_shift, floor_shifted, num_threads, run_shares

_local = threading.local()  # each thread's logits buffer, reused from class to class and call
# Logits a call must hold per thread before it is split over threads. On the 2-core machine a
# training step in batches of 128 ran 17% slower with the layer on two threads than on one at
# C = 8000 (576 k logits a call) and no faster at C = 30000 (1.1 M): the class loop's numpy calls
# hold the GIL, and small products gain nothing from a second core.
MIN_LOGITS_PER_THREAD = 1_000_000


def _logits_buffer(n: int, width: int, dtype) -> np.ndarray:
    """An (n, width) array in this thread's buffer, which grows to the largest asked for."""
    flat = getattr(_local, "logits", None)
    if flat is None or flat.dtype != dtype or flat.size < n * width:
        flat = np.empty(n * width, dtype=dtype)
        _local.logits = flat
    return flat[: n * width].reshape(n, width)


def _softmax_errors(logits, correct_col, m, shifted) -> float:
    """Turn contiguous logits (n, w) in place into dL/dlogits = m * (softmax - onehot), per row;
    return the loss. Few numpy calls: this runs once for every class of every batch.
    ``shifted``: each row's largest logit was subtracted (``fused_output.floor_shifted``)."""
    n, width = logits.shape
    flat = logits.reshape(-1)  # a view
    at = np.arange(n) * width + correct_col  # (n,): each row's target in flat
    correct = flat[at]  # (n,)
    if shifted:
        floor_shifted(logits)
    np.exp(logits, out=logits)
    z = logits.sum(axis=1)  # (n,)
    loss = -float(np.dot(m, correct - np.log(z)))
    flat[at] -= z
    logits *= (m / z)[:, None]
    return loss


def _run_worker(S, V, Vc, pos, cls, m, row_starts, starts, first, last, dS, dV, with_grad,
                shift):
    """Classes first..last-1 and their rows: class logits, then each class's word logits."""
    K, H = Vc.shape
    r0, r1 = row_starts[first], row_starts[last]
    dVc = np.zeros((K, H), dtype=S.dtype) if with_grad else None
    if r1 == r0:
        if with_grad:
            dV[starts[first] : starts[last]] = 0
        return 0.0, dVc
    rows = slice(r0, r1)
    A = S[rows] @ Vc.T  # (n, K): the class logits of these rows
    if shift:
        A -= A.max(axis=1, keepdims=True)
    loss = _softmax_errors(A, cls[rows], m[rows], shift)
    if with_grad:
        np.matmul(A, Vc, out=dS[rows])
        dVc += A.T @ S[rows]
    for k in range(first, last):
        loss += _class_words(S, V, pos, m, row_starts, starts, k, dS, dV, with_grad, shift)
    return loss, dVc


def _class_words(S, V, pos, m, row_starts, starts, k, dS, dV, with_grad, shift):
    """P(word | class k) for the rows whose target is in class k; adds to dS, writes dV's block."""
    r0, r1, c0, c1 = row_starts[k], row_starts[k + 1], starts[k], starts[k + 1]
    if r1 == r0 or c1 - c0 == 1:  # no row, or a one-word class: P(word | class) = 1
        if with_grad:
            dV[c0:c1] = 0
        return 0.0
    logits = _logits_buffer(r1 - r0, c1 - c0, S.dtype)  # (n, width)
    Sk, Vk = S[r0:r1], V[c0:c1]  # (n, H), (width, H)
    np.matmul(Sk, Vk.T, out=logits)
    if shift:
        logits -= logits.max(axis=1, keepdims=True)
    loss = _softmax_errors(logits, pos[r0:r1] - c0, m[r0:r1], shift)
    if with_grad:
        dS[r0:r1] += logits @ Vk
        np.matmul(logits.T, Sk, out=dV[c0:c1])
    return loss


def _thread_runs(work: np.ndarray, threads: int) -> list[tuple[int, int]]:
    """Split classes 0..K-1 into ``threads`` contiguous runs of about equal total ``work``."""
    K = len(work)
    cumulative = np.concatenate([[0.0], np.cumsum(work, dtype=np.float64)])
    cuts = [0]
    for t in range(1, threads):
        cut = int(np.searchsorted(cumulative, cumulative[-1] * t / threads))
        cuts.append(min(max(cut, cuts[-1]), K))
    cuts.append(K)
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:])]


def _threads_for(work: np.ndarray, threads: int | None) -> int:
    """Threads for a call whose classes hold ``work`` logits: ``threads`` when given, else as
    many as the work pays for (``MIN_LOGITS_PER_THREAD``); never more than the busy classes."""
    if threads is None:
        threads = min(num_threads(), max(1, int(work.sum() // MIN_LOGITS_PER_THREAD)))
    return max(1, min(threads, int((work > 0).sum())))


def class_cross_entropy(S, V, Vc, target, m, word_class, position, starts, with_grad=True,
                        threads=None):
    """Return ``(loss, dS, dV, dVc)`` (or ``loss`` alone) of the class layer for states S (N, H).

    V (C, H) is sorted by class (row j is word ``order[j]``), so dV comes back in that order too;
    ``position`` (C,) is each word's row in V, ``starts`` (K + 1,) where each class begins.
    """
    N, H = S.shape
    K = Vc.shape[0]
    real = np.flatnonzero(m)
    cls_of_row = word_class[target[real]]  # (n,)
    rows = real[np.argsort(cls_of_row, kind="stable")]  # real rows grouped by class, in order
    Ss = np.ascontiguousarray(S[rows])  # (n, H)
    cls, pos, ms = word_class[target[rows]], position[target[rows]], m[rows]
    row_starts = np.searchsorted(cls, np.arange(K + 1))  # (K + 1,)
    sizes = np.diff(starts)
    rows_per_class = np.diff(row_starts)
    work = rows_per_class * (K + np.where(sizes > 1, sizes, 0))  # logits per class's rows
    threads = _threads_for(work, threads)
    dS_sorted = np.empty_like(Ss) if with_grad else None
    dV = np.empty_like(V) if with_grad else None
    shift = len(rows) > 0 and (_needs_shift(Ss, V) or _needs_shift(Ss, Vc))
    args = (Ss, V, Vc, pos, cls, ms, row_starts, starts)
    runs = _thread_runs(work, threads)
    if threads == 1:
        parts = [_run_worker(*args, 0, K, dS_sorted, dV, with_grad, shift)]
    else:
        parts = run_shares(_run_worker, [(*args, a, b, dS_sorted, dV, with_grad, shift)
                                         for a, b in runs])
    loss = sum(part[0] for part in parts)
    if not with_grad:
        return loss
    dVc = parts[0][1]
    for _, partial in parts[1:]:
        dVc += partial
    dS = np.zeros_like(S)
    dS[rows] = dS_sorted
    return loss, dS, dV, dVc


class ClassCrossEntropy(Op):
    """PyTensor Op around ``class_cross_entropy``: inputs S, V (sorted by class), Vc, target,
    mask, word_class, position, starts; outputs loss (and dS, dV, dVc when ``with_grad``)."""

    __props__ = ("with_grad",)

    def __init__(self, with_grad=True):
        self.with_grad = with_grad
        super().__init__()

    def make_node(self, S, V, Vc, target, mask, word_class, position, starts):
        S, V, Vc = (pt.as_tensor_variable(a) for a in (S, V, Vc))
        ints = [pt.as_tensor_variable(a) for a in (target, word_class, position, starts)]
        mask = pt.as_tensor_variable(mask).astype(S.dtype)
        if S.ndim != 2 or V.ndim != 2 or Vc.ndim != 2 or mask.ndim != 1 or \
                any(a.ndim != 1 for a in ints):
            raise TypeError("ClassCrossEntropy takes S (N, H), V (C, H), Vc (K, H), target (N,), "
                            "mask (N,), word_class (C,), position (C,), starts (K + 1,)")
        if not all(a.dtype.startswith(("int", "uint")) for a in ints) or \
                not S.dtype == V.dtype == Vc.dtype:
            raise TypeError("indices must be integers and S, V, Vc of one float dtype")
        target, word_class, position, starts = ints
        outputs = [pt.scalar(dtype=S.dtype)]
        if self.with_grad:
            outputs += [pt.matrix(dtype=S.dtype) for _ in range(3)]
        return Apply(self, [S, V, Vc, target, mask, word_class, position, starts], outputs)

    def perform(self, node, inputs, output_storage):
        result = class_cross_entropy(*inputs, with_grad=self.with_grad)
        loss = result[0] if self.with_grad else result
        if self.with_grad:
            for k in (1, 2, 3):
                output_storage[k][0] = result[k]
        output_storage[0][0] = np.asarray(loss, dtype=node.outputs[0].dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        S_shape, V_shape, Vc_shape = input_shapes[:3]
        return [()] + ([S_shape, V_shape, Vc_shape] if self.with_grad else [])
