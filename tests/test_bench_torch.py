"""The benchmark's PyTorch reference trains the same model as the numpy reference (skipped where
torch is not installed: it is never a requirement of rnnlab)."""
import numpy as np
import pytest

pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0 by hand)")

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
