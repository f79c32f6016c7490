"""scripts/bench_revisions: a revision's rnncore exported and trained in its own process."""
from scripts import bench_revisions


def test_a_revision_is_exported_as_it_was_committed(tmp_path):
    folder = bench_revisions.export("HEAD", tmp_path)
    assert (folder / "rnncore" / "rnn_pytensor.py").is_file()
    assert not (folder / "webapp").exists()  # the engine only
    assert bench_revisions.export("worktree", tmp_path) == bench_revisions.REPO


def test_two_revisions_take_turns_and_report_each_round():
    rates = bench_revisions.compare(["HEAD", "worktree"], "rnn32", rounds=2, seconds=0.2)
    assert list(rates) == ["HEAD", "worktree"]
    assert all(len(values) == 2 and min(values) > 0 for values in rates.values())
