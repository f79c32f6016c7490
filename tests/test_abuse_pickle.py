"""Nothing rnnlab reads can run code: the workers accept JSON messages only (a pickled message is
refused by the real worker, and the code in it never runs), and every .npz is read with
allow_pickle=False (a crafted file with an object array is refused with a message).
"""
from __future__ import annotations

import ast
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, write_corpus
from rnncore.checkpoint import CheckpointError, load_checkpoint
from rnncore.preprocess import PreprocessedCorpus
from webapp.settings import QUEUE_CPU


class Planted:
    """Unpickling this creates ``path``: proof that a pickle was loaded."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def crafted_npz(path: Path, marker: Path, planted_as: str = "U", **arrays) -> Path:
    """An .npz with an object array holding a Planted (np.savez pickles object arrays)."""
    np.savez(path, **{planted_as: np.array([Planted(marker)], dtype=object)}, **arrays)
    return path


def test_celery_on_both_sides_speaks_json_only(app):
    from worker.celery_app import app as worker_app

    for conf in (worker_app.conf, app.extensions["rnnlab_queue"].celery.conf):
        assert conf.task_serializer == "json"
        assert list(conf.accept_content) == ["json"]
    assert worker_app.conf.result_serializer == "json"


def np_load_calls(root: Path):
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "load" and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in ("np", "numpy")):
                yield path, node


def test_every_np_load_refuses_pickles():
    calls = [(p, n) for d in ("rnncore", "webapp", "worker", "scripts")
             for p, n in np_load_calls(REPO / d)]
    assert len(calls) >= 2  # the checkpoint and preprocessed-corpus readers at least
    for path, node in calls:
        flags = {k.arg: k.value for k in node.keywords}
        assert isinstance(flags.get("allow_pickle"), ast.Constant), (path, node.lineno)
        assert flags["allow_pickle"].value is False, (path, node.lineno)


def test_a_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "planted"
    path = crafted_npz(tmp_path / "model.npz", marker, V=np.zeros((2, 2)), W=np.zeros((2, 2)))
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert "object" in str(error.value) or "pickle" in str(error.value)
    assert not marker.exists()


def test_a_crafted_preprocessed_corpus_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "planted"
    path = crafted_npz(tmp_path / "corpus.npz", marker, planted_as="tokens",
                       offsets=np.array([0, 1]), vocabulary=np.frombuffer(b'["UNKNOWN_TOKEN"]',
                                                                          dtype=np.uint8),
                       report=np.frombuffer(b"{}", dtype=np.uint8))
    with pytest.raises(ValueError, match="allow_pickle=False"):
        PreprocessedCorpus.load(path)
    assert not marker.exists()


def test_a_crafted_model_file_behind_the_playground_is_refused_in_words(client, trained_model,
                                                                        data_dir, tmp_path):
    marker = tmp_path / "planted"
    crafted_npz(data_dir / "models" / f"{trained_model['id']}.npz", marker)
    response = client.post(f"/api/models/{trained_model['id']}/generate", json={"prefix": "a"})
    assert response.status_code == 500
    assert "The model file cannot be read" in response.get_json()["error"]
    assert not marker.exists()


@pytest.mark.integration
def test_the_real_worker_refuses_a_pickled_message(live_stack, tmp_path):
    from celery import Celery

    stack = live_stack
    marker = tmp_path / "planted-by-worker"
    sender = Celery("attacker", broker=stack.redis_url, set_as_current=False)
    sender.conf.update(task_serializer="pickle", accept_content=["pickle", "json"])
    try:
        # On the queue the worker listens to, so the worker itself must refuse it.
        sender.send_task("worker.tasks.train_model", args=[Planted(marker)],
                         serializer="pickle", queue=QUEUE_CPU)
    finally:
        sender.close()
    # A JSON message sent after it: once it is done, the pickled one was dealt with.
    corpus = stack.upload(write_corpus(tmp_path / "c.csv"))
    stack.post(f"/api/corpora/{corpus['id']}/preprocess", {"vocabulary_size": 50}, expect=202)
    done = stack.wait_for(f"/api/corpora/{corpus['id']}", lambda c: c["state"] == "ready",
                          timeout=60)
    assert done["state"] == "ready"
    time.sleep(0.5)
    assert not marker.exists()
    log = stack.worker.log()
    assert "Refusing to deserialize untrusted content of type pickle" in log
    assert "worker.tasks.train_model[" not in log  # it never reached a task
