"""The benchmark's PyTorch references: the vanilla one trains the same model as the numpy
reference, the GRU one counts only real words and clips as rnnlab does (skipped where torch is
not installed: it is never a requirement of rnnlab)."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0 "
                                            "by hand)")

from rnncore.batching import pad_batch  # noqa: E402
from rnncore.bench_torch import TorchRNN  # noqa: E402
from rnncore.rnn_numpy import RNNNumpy  # noqa: E402
from test_engines import random_sentences  # noqa: E402


@pytest.mark.parametrize("bptt_truncate", [1, 3, 100])
def test_torch_reference_makes_the_numpy_references_sgd_steps(bptt_truncate):
    rng = np.random.default_rng(300)
    reference = RNNNumpy(50, 8, bptt_truncate, rng=rng)
    model = TorchRNN(reference.get_params(), bptt_truncate, threads=1)
    xs, ys = random_sentences(rng, 50, [5, 9, 3, 9])  # padding in three of four rows
    x, y, mask = pad_batch(xs, ys, dtype=np.float64)
    for _ in range(3):
        assert model.train_step(x, y, mask.astype(np.float32), 0.1) == pytest.approx(
            reference.train_step(x, y, mask, 0.1), rel=1e-5)
    for name, value in reference.get_params().items():
        np.testing.assert_allclose(model.get_params()[name], value, rtol=1e-4, atol=1e-6)


def _batch(rng):
    xs, ys = random_sentences(rng, 50, [5, 9, 3, 9])
    x, y, mask = pad_batch(xs, ys)
    return x, y, mask.astype(np.float32)


def test_torch_gru_counts_the_real_words_only_and_learns():
    from rnncore.bench_torch import TorchGRU

    x, y, mask = _batch(np.random.default_rng(301))
    model = TorchGRU(50, 8, threads=1)
    with torch.no_grad():
        model.out.weight.zero_()  # a uniform softmax: ln 50 for each real word, padding none
    first = model.train_step(x, y, mask, 0.5)
    assert first == pytest.approx(mask.sum() * math.log(50), rel=1e-5)  # float32 sums
    losses = [model.train_step(x, y, mask, 0.5) for _ in range(30)]
    assert losses[-1] < 0.7 * first


def test_torch_gru_clips_its_step_per_word():
    from rnncore.bench_torch import TorchGRU
    from rnncore.optimizers import clipped_words

    x, y, mask = _batch(np.random.default_rng(302))
    model = TorchGRU(50, 8, clip_norm=1e-3, threads=1)
    before = [p.detach().clone() for p in model.parameters()]
    model.train_step(x, y, mask, 1.0)
    step = math.sqrt(sum(float(((p.detach() - b) ** 2).sum())
                         for p, b in zip(model.parameters(), before)))
    assert step == pytest.approx(1e-3 * float(clipped_words(mask, np)), rel=1e-4)
