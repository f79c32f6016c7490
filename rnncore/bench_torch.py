"""A PyTorch version of the model for ``python -m rnncore.bench --compare`` only.

torch is not a requirement of rnnlab; importing this module without it raises ImportError, which the
benchmark reports as a skipped row. Written as a practitioner would: as many threads as cores, the
output layer as one product over the batch's real words only (padding rows left out before the
product), with autograd and PyTorch's fused cross-entropy; the recurrence's backward pass is
written out with the same per-output truncation as the tutorial (autograd has no per-output cut),
so both engines do the same arithmetic. torch.compile is not used: its loops over time unroll
for every sentence length, so it would compile again for each of the 41 lengths of the
benchmark's batches, and the output product, the time that matters, is one library call already.
``TorchGRU`` is the gated rows' reference, ``nn.GRU`` as a practitioner uses it.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rnncore.optimizers import clipped_words


class TorchRNN:
    """Float32 copy of U, V, W trained with plain SGD on padded batches."""

    def __init__(self, params, bptt_truncate, threads=None):
        if threads:
            torch.set_num_threads(threads)
        self.U, self.V, self.W = (torch.tensor(np.asarray(params[p], dtype=np.float32))
                                  for p in ("U", "V", "W"))
        self.bptt_truncate = bptt_truncate

    def _states(self, x):
        T, B = x.shape
        Ux = self.U.T[x]  # (T, B, H)
        s = torch.empty((T, B, self.W.shape[0]))
        prev = torch.zeros((B, self.W.shape[0]))
        for t in range(T):
            prev = torch.tanh(Ux[t] + prev @ self.W.T)
            s[t] = prev
        return s

    def _recurrence_grads(self, x, s, ds):
        """dL/d(U x_t) for every time step and word (T*B, H), and dL/dW, with each output's delta
        carried at most bptt_truncate steps back."""
        T, B, H = s.shape
        dtanh = 1 - s * s
        ages = min(self.bptt_truncate, T - 1) + 1
        carried = torch.zeros((ages, B, H))
        dpre = torch.empty((T, B, H))
        for t in range(T - 1, -1, -1):
            older = (carried[:-1] @ self.W) * dtanh[t]
            carried = torch.cat([(ds[t] * dtanh[t])[None], older])
            dpre[t] = carried.sum(0)
        flat = dpre.reshape(T * B, H)
        s_prev = torch.cat([torch.zeros((1, B, H)), s[:-1]]).reshape(T * B, H)
        dW = flat.T @ s_prev
        return flat, dW  # U's gradient is flat's rows added to the columns of U that x names

    def train_step(self, x, y, mask, learning_rate):
        x = torch.from_numpy(np.ascontiguousarray(x.T, dtype=np.int64))  # (T, B)
        y = torch.from_numpy(np.ascontiguousarray(y.T, dtype=np.int64)).reshape(-1)
        m = torch.from_numpy(np.ascontiguousarray(mask.T, dtype=np.float32)).reshape(-1)
        with torch.no_grad():
            s = self._states(x)  # (T, B, H)
        T, B, H = s.shape
        real = torch.nonzero(m).squeeze(1)  # rows of real words, time-major
        S = s.reshape(T * B, H)[real].requires_grad_()  # (words, H)
        V = self.V.requires_grad_()
        loss = F.cross_entropy(S @ V.T, y[real], reduction="sum")
        loss.backward()
        with torch.no_grad():
            ds = torch.zeros((T * B, H)).index_copy_(0, real, S.grad).reshape(T, B, H)
            dUx, dW = self._recurrence_grads(x, s, ds)
            self.V -= learning_rate * V.grad
            # Only the looked-up columns of U change, as in the PyTensor engine's SGD.
            self.U.T.index_add_(0, x.reshape(-1), dUx, alpha=-learning_rate)
            self.W -= learning_rate * dW
        V.grad = None
        V.requires_grad_(False)
        return float(loss.detach())

    def get_params(self):
        return {"U": self.U.numpy().copy(), "V": self.V.detach().numpy().copy(),
                "W": self.W.numpy().copy()}


class TorchGRU(torch.nn.Module):
    """A GRU language model as a practitioner writes it in PyTorch, for the gated rows of the
    benchmark: an embedding, ``nn.GRU`` over the padded batch, dropout on its inputs and outputs as
    in rnnlab, an output layer without bias over the real words only, summed cross-entropy,
    gradient clipping per word and plain SGD. Packing the sentences (``pack_padded_sequence``)
    was slower in batches of 8 (7.4-8.0k against 8.3-8.8k words/s on 2 cores) and no faster in
    batches of 32; a sparse embedding gradient was no faster and cannot be clipped.

    ``nn.GRU`` applies its reset gate after the recurrent product (cuDNN's variant) where the
    tutorial applies it before; the arithmetic per word is the same, so the speeds compare.
    """

    def __init__(self, word_dim, hidden_dim, dropout=0.0, clip_norm=None, threads=None, seed=0):
        super().__init__()
        if threads:
            torch.set_num_threads(threads)
        torch.manual_seed(seed)
        self.embed = torch.nn.Embedding(word_dim, hidden_dim)
        self.gru = torch.nn.GRU(hidden_dim, hidden_dim, batch_first=True)
        self.out = torch.nn.Linear(hidden_dim, word_dim, bias=False)
        self.drop = torch.nn.Dropout(dropout)
        self.clip_norm = clip_norm

    def loss(self, x, y, mask):
        """Summed cross-entropy of a padded batch (x, y, mask (B, T)) over its real words."""
        inputs = self.drop(self.embed(torch.from_numpy(x.astype(np.int64))))  # (B, T, H)
        states, _ = self.gru(inputs)  # (B, T, H); padding comes last, so it changes no real state
        real = torch.from_numpy(mask.reshape(-1)) > 0
        states = states.reshape(-1, states.shape[-1])[real]  # (words, H)
        targets = torch.from_numpy(y.astype(np.int64)).reshape(-1)[real]  # (words,)
        return F.cross_entropy(self.out(self.drop(states)), targets, reduction="sum")

    def train_step(self, x, y, mask, learning_rate):
        loss = self.loss(x, y, mask)
        self.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip_norm:
            words = float(clipped_words(mask, np))
            torch.nn.utils.clip_grad_norm_(self.parameters(), self.clip_norm * words)
        with torch.no_grad():
            for p in self.parameters():
                p -= learning_rate * p.grad
        return float(loss.detach())
