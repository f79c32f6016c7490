"""``python -m rnncore.bench_quality``: per seed its split's counting baselines, then each run's
best validation perplexity, its multiple of the trigram's, and its mixture with the trigram."""
from __future__ import annotations

import re

from conftest import write_corpus
from rnncore import bench_quality


def test_each_seed_prints_its_baselines_and_each_run_its_mixture(tmp_path, capsys):
    csv = write_corpus(tmp_path / "corpus.csv", rows=120)
    assert bench_quality.main([str(csv), "--cells", "rnn", "--seeds", "0,1", "--vocabulary-size",
                               "60", "--set", "engine=numpy", "--set", "hidden_dim=8",
                               "--set", "nepoch=2", "--set", "dtype=float64"]) == 0
    out = capsys.readouterr().out
    for seed in (0, 1):
        trigram = float(re.search(rf"trigram \(counting\) seed {seed}\s+([\d.]+)", out).group(1))
        row = re.search(rf"rnn seed {seed}\s+([\d.]+)\s+([\d.]+)\s+[\d.]+\s+([\d.]+)\s+([\d.]+)",
                        out)
        assert row, out
        network, multiple, mixed, mixed_multiple = map(float, row.groups())
        for value, printed in ((network, multiple), (mixed, mixed_multiple)):
            # Both figures are printed to one decimal, the multiple to three.
            rounding = printed * (0.05 / value + 0.05 / trigram) + 5e-4
            assert abs(value / trigram - printed) <= rounding
        # The mixture's weight is fitted on these tokens: never worse than either model.
        assert mixed <= min(network, trigram) + 0.05
