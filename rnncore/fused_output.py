"""The output layer of a training step as one fused, blocked PyTensor Op: softmax, cross-entropy
and both gradients, a few rows of logits at a time.

Almost all the work of a step is here: the logits S @ V.T are (T*B, word_dim), far larger than the
CPU caches. Written as separate graph nodes, the logits would go to memory and back for the maximum,
the exponential, the sum, the normalisation and the two gradient products. Here a block of rows is
projected, turned into dL/dlogits in place while it sits in cache, and consumed at once by the two
gradient products (dS = delta @ V, dV += delta.T @ S), all through numpy's BLAS. The Op also saves
PyTensor from needing a linked BLAS for the big products.
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

# Rows of logits per block: 128 x 8000 float32 is 4 MB, which stays in the L2/L3 caches while the
# block is used three times; much smaller blocks make the BLAS calls inefficient.
BLOCK_ROWS = 128


def softmax_cross_entropy(S, V, target, m, with_grad=True, block_rows=BLOCK_ROWS):
    """Return ``(loss, dS, dV)`` (or ``loss`` alone) for hidden states S (N, H) and outputs V (C, H).

    ``loss`` is sum_i m_i * -log softmax(V S_i)[target_i]; dS (N, H) and dV (C, H) its gradients.
    """
    N, H = S.shape
    C = V.shape[0]
    dS = np.empty_like(S) if with_grad else None  # (N, H)
    dV = np.zeros_like(V) if with_grad else None  # (C, H)
    buffer = np.empty((min(block_rows, N), C), dtype=S.dtype)  # one block of logits
    rows = np.arange(min(block_rows, N))
    loss = 0.0
    for start in range(0, N, block_rows):
        Sb = S[start : start + block_rows]  # (n, H)
        n = Sb.shape[0]
        logits, r = buffer[:n], rows[:n]
        tb, mb = target[start : start + n], m[start : start + n]
        np.matmul(Sb, V.T, out=logits)
        # Shifting by the row maximum keeps exp finite; it cancels in the softmax.
        logits -= logits.max(axis=1, keepdims=True)
        correct = logits[r, tb]  # (n,)
        np.exp(logits, out=logits)
        z = logits.sum(axis=1)  # (n,)
        loss -= float(np.dot(mb, correct - np.log(z)))
        if not with_grad:
            continue
        logits *= (mb / z)[:, None]  # masked softmax ...
        logits[r, tb] -= mb  # ... minus the one-hot target: dL/dlogits
        np.matmul(logits, V, out=dS[start : start + n])
        dV += logits.T @ Sb
    return (loss, dS, dV) if with_grad else loss


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
