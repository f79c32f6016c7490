"""The output layer of a training step as one fused, blocked PyTensor Op: softmax, cross-entropy
and both gradients, a block of rows of logits at a time, the blocks shared out over the CPU cores.

Almost all the work of a step is here: the logits S @ V.T are (T*B, word_dim), far larger than the
CPU caches. Written as separate graph nodes, the logits would go to memory and back for the maximum,
the exponential, the sum, the normalisation and the two gradient products. Here a block of rows is
projected, turned into dL/dlogits in place while it sits in cache, and consumed at once by the two
gradient products (dS = delta @ V, dV += delta.T @ S), all through numpy's BLAS, so PyTensor needs
no linked BLAS for the big products.

Each core takes whole blocks with single-threaded BLAS, rather than letting OpenBLAS split every
product: the exponential and the reductions then run in parallel too, and OpenBLAS's spinning
threads no longer stall when other processes share the cores.

The result is deterministic: thread k always gets the same contiguous run of blocks, walks it in
order, and the per-thread loss and dV partial sums are added in thread order. Which thread finishes
first never changes a bit, so one seed gives one model however loaded the machine is (float32 sums
in a different order differ in the last bits, and training amplifies that into another model).
"""
from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from threadpoolctl import ThreadpoolController

# Rows of logits per block, at most: 128 x 8000 float32 is 4 MB per core, which stays in the caches
# while the block is used three times; much smaller blocks make the BLAS calls inefficient.
BLOCK_ROWS = 128

# Shifted logits (their row's largest is 0) are raised to at least this before exp: exp(-80) is
# 1.8e-35, a normal float32, where exp(-87.4) and below are subnormal. Intel cores compute and
# multiply subnormals in microcode: on a 2-core Xeon, exp over a block of such logits took 9x as
# long and the gradient product that reads them 30x, which made the benchmark's vanilla model,
# whose logits spread over 100, train at less than half its speed. A word that far below the
# best has a probability under 1e-35 either way; the loss still uses its true logit.
LOWEST_SHIFTED_LOGIT = -80.0

_local = threading.local()  # per-thread scratch buffers, reused from call to call
_pool = {"pid": None, "executor": None, "controller": None}


def num_threads() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _executor():
    """The thread pool and BLAS controller, made again in a forked child (threads do not fork)."""
    if _pool["pid"] != os.getpid():
        _pool.update(pid=os.getpid(), executor=ThreadPoolExecutor(num_threads()),
                     controller=ThreadpoolController())
    return _pool["executor"], _pool["controller"]


def one_blas_thread():
    """A context in which every BLAS library of the process runs one thread.

    The compiled engine calls its functions inside it: the recurrence's small products, (32, 100)
    @ (100, 100), lose more to OpenBLAS waking its threads than they gain, and the output layers
    share their blocks over the cores themselves. On the 2-core machine this made training in
    batches of 32 1.8 times faster (10.3k -> 18.4k tokens/s, softmax; 45k -> 78k, class layer).
    """
    return _executor()[1].limit(limits=1, user_api="blas")


def run_shares(function, shares):
    """``[function(*share) for share in shares]``, the shares run at once on the pool's threads
    with one BLAS thread each; the results come back in the order of ``shares``."""
    executor, controller = _executor()
    with controller.limit(limits=1, user_api="blas"):
        # The calling thread runs the first share itself instead of waiting: one thread fewer to
        # wake, and its core holds what the step just computed. In batches of 8 that made the
        # form's default step 7% faster on two cores.
        futures = [executor.submit(function, *share) for share in shares[1:]]
        first = function(*shares[0])
        return [first] + [future.result() for future in futures]  # whichever ends first


def _scratch(name, shape, dtype):
    array = getattr(_local, name, None)
    if array is None or array.shape != shape or array.dtype != dtype:
        array = np.empty(shape, dtype=dtype)
        setattr(_local, name, array)
    return array


def _blocks_worker(S, V, target, m, dS, starts, block_rows, with_grad, shift):
    """Compute the blocks that begin at ``starts``, in order; return (loss, partial dV or None)."""
    C, H = V.shape
    buffer = _scratch("logits", (block_rows, C), S.dtype)
    # The partial dV is returned, so it is fresh: one pool thread may run two of these calls.
    # The first block's product is written straight into it: in batches of 8 a thread has one
    # block, and zeroing dV and adding that block to it cost 6% of the layer.
    dV = (np.empty if starts else np.zeros)((C, H), dtype=S.dtype) if with_grad else None
    dV_block = _scratch("dV_block", (C, H), S.dtype) if with_grad and len(starts) > 1 else None
    rows = np.arange(block_rows)
    loss = 0.0
    for start in starts:
        Sb = S[start : start + block_rows]  # (n, H)
        n = Sb.shape[0]
        logits, r = buffer[:n], rows[:n]
        tb, mb = target[start : start + n], m[start : start + n]
        np.matmul(Sb, V.T, out=logits)  # (n, C)
        if shift:  # only when exp could overflow: the shift cancels in the softmax
            logits -= logits.max(axis=1, keepdims=True)
        correct = logits[r, tb]  # (n,)
        if shift:
            floor_shifted(logits)
        np.exp(logits, out=logits)
        z = logits.sum(axis=1)  # (n,)
        loss -= float(np.dot(mb, correct - np.log(z)))
        if not with_grad:
            continue
        # dL/dlogits = w * (exp(logits) - z * onehot) with w = mask / z; the small factor w is
        # applied to the (n, H) operands and results instead of to the (n, C) block.
        w = (mb / z)[:, None]  # (n, 1)
        logits[r, tb] -= z
        np.matmul(logits, V, out=dS[start : start + n])
        dS[start : start + n] *= w
        if start == starts[0]:
            np.matmul(logits.T, w * Sb, out=dV)
        else:
            np.matmul(logits.T, w * Sb, out=dV_block)
            dV += dV_block
    return loss, dV


def floor_shifted(logits) -> None:
    """Raise shifted logits below ``LOWEST_SHIFTED_LOGIT`` to it, in place: their exp stays a
    normal float, never a slow subnormal."""
    np.maximum(logits, LOWEST_SHIFTED_LOGIT, out=logits)


def _needs_shift(S, V) -> bool:
    """Whether exp(S @ V.T) could overflow or its row sums underflow: |logit| <= |S_i| |V_c|."""
    bound = np.sqrt(np.einsum("ij,ij->i", S, S).max() * np.einsum("ij,ij->i", V, V).max())
    # exp(60) * 1e5 words is far below float32's 3e38, and exp(-60) far above its 1e-38.
    return not bound < 60.0


def softmax_cross_entropy(S, V, target, m, with_grad=True, block_rows=BLOCK_ROWS, threads=None):
    """Return ``(loss, dS, dV)`` (or ``loss`` alone) for hidden states S (N, H) and outputs V (C, H).

    ``loss`` is sum_i m_i * -log softmax(V S_i)[target_i]; dS (N, H) and dV (C, H) its gradients.
    Rows with m_i = 0 (the padding of a batch) are skipped, not computed and multiplied by zero.
    """
    real = np.flatnonzero(m)
    if len(real) == len(m):
        return _dense(S, V, target, m, with_grad, block_rows, threads)
    if len(real) == 0:
        return (0.0, np.zeros_like(S), np.zeros_like(V)) if with_grad else 0.0
    result = _dense(S[real], V, target[real], m[real], with_grad, block_rows, threads)
    if not with_grad:
        return result
    loss, dS_real, dV = result
    dS = np.zeros_like(S)  # (N, H)
    dS[real] = dS_real
    return loss, dS, dV


def _thread_shares(starts: range, threads: int) -> list[range]:
    """Split the block starts into ``threads`` contiguous runs of (nearly) equal length."""
    per_thread, extra = divmod(len(starts), threads)
    shares, first = [], 0
    for k in range(threads):
        count = per_thread + (k < extra)
        shares.append(starts[first:first + count])
        first += count
    return shares


def _dense(S, V, target, m, with_grad, block_rows, threads):
    N = S.shape[0]
    threads = min(threads or num_threads(), math.ceil(N / block_rows))
    # Equal blocks, a multiple of the thread count, so that no core waits long for the last one.
    block_rows = math.ceil(N / (threads * math.ceil(N / (threads * block_rows))))
    dS = np.empty_like(S) if with_grad else None  # (N, H)
    args = (S, V, target, m, dS)
    rest = (block_rows, with_grad, _needs_shift(S, V))
    shares = _thread_shares(range(0, N, block_rows), threads)
    if threads == 1:
        parts = [_blocks_worker(*args, shares[0], *rest)]
    else:
        parts = run_shares(_blocks_worker, [(*args, share, *rest) for share in shares])
    loss = sum(part[0] for part in parts)
    if not with_grad:
        return loss
    dV = parts[0][1]  # (C, H)
    for _, partial in parts[1:]:
        dV += partial
    return loss, dS, dV


class SoftmaxCrossEntropy(Op):
    """PyTensor Op around ``softmax_cross_entropy``: inputs S, V, target, mask; outputs loss
    (and dS, dV when ``with_grad``). It is not differentiable itself: it returns its gradients."""

    __props__ = ("with_grad",)

    def __init__(self, with_grad=True):
        self.with_grad = with_grad
        super().__init__()

    def make_node(self, S, V, target, mask):
        S, V = pt.as_tensor_variable(S), pt.as_tensor_variable(V)
        target = pt.as_tensor_variable(target)
        mask = pt.as_tensor_variable(mask).astype(S.dtype)
        if S.ndim != 2 or V.ndim != 2 or target.ndim != 1 or mask.ndim != 1:
            raise TypeError("SoftmaxCrossEntropy takes S (N, H), V (C, H), target (N,), mask (N,)")
        if not target.dtype.startswith(("int", "uint")) or S.dtype != V.dtype:
            raise TypeError("target must be integer and S, V of the same float dtype")
        outputs = [pt.scalar(dtype=S.dtype)]
        if self.with_grad:
            outputs += [pt.matrix(dtype=S.dtype), pt.matrix(dtype=S.dtype)]
        return Apply(self, [S, V, target, mask], outputs)

    def perform(self, node, inputs, output_storage):
        S, V, target, mask = inputs
        dtype = node.outputs[0].dtype
        result = softmax_cross_entropy(S, V, target, mask, self.with_grad)
        if self.with_grad:
            loss, dS, dV = result
            output_storage[1][0], output_storage[2][0] = dS, dV
        else:
            loss = result
        output_storage[0][0] = np.asarray(loss, dtype=dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        S_shape, V_shape = input_shapes[0], input_shapes[1]
        return [()] + ([S_shape, V_shape] if self.with_grad else [])
