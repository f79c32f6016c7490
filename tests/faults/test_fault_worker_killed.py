"""A worker process killed with SIGKILL in the middle of training (what the kernel's out-of-memory
killer does): Celery puts the message back (late acknowledgement, reject on worker lost), the
next attempt waits until the dead claim is stale, resumes from the last checkpoint and finishes.
The history says where it resumed, holds each evaluation once with nothing repeated, and the
result equals an uninterrupted run of the same settings bit for bit.
"""
from __future__ import annotations

import os
import signal
import urllib.request

import numpy as np
import pytest

from faultkit import (history, page, pool_children, preprocessed, reddit_or_generated,
                      start_job, until_final, wait_job)
from rnncore.checkpoint import load_checkpoint
from rnncore.config import ModelConfig, TrainConfig
from rnncore.preprocess import PreprocessedCorpus
from rnncore.models import build_model
from rnncore.train import train_with_sgd

pytestmark = pytest.mark.integration

STALE_AFTER_S = 10  # the smallest the settings allow: the second attempt starts ~12 s later
NEPOCH = 6


def reference_run(stack, corpus: dict, job: dict):
    """The same job trained in this process without interruption."""
    files = list((stack.data_dir / "corpora" / corpus["id"]).glob("vocab-500-*.npz"))
    assert len(files) == 1
    data = PreprocessedCorpus.load(files[0])
    model_config = ModelConfig.from_dict(job["model_config"])
    train_config = TrainConfig.from_dict(job["train_config"])
    return train_with_sgd(build_model(model_config, train_config), data, train_config)


def test_a_job_whose_worker_was_killed_resumes_from_its_checkpoint(live_stack_factory, tmp_path):
    stack = live_stack_factory(RNNLAB_STALE_AFTER_S=STALE_AFTER_S)
    corpus = preprocessed(stack, reddit_or_generated(tmp_path))
    job = start_job(stack, corpus["id"], nepoch=NEPOCH)
    checkpoint = stack.data_dir / "jobs" / job["id"] / "checkpoint.npz"
    wait_job(stack, job["id"], lambda j: j["epoch"] >= 2 and checkpoint.exists())
    children = pool_children(stack.worker.popen.pid)
    assert len(children) == 1  # WORKER_CONCURRENCY=1
    os.kill(children[0], signal.SIGKILL)
    resumed_from = load_checkpoint(checkpoint).state

    final = until_final(stack, job["id"])
    assert final["state"] == "finished", final["error"]
    assert final["attempts"] == 2 and stack.worker.alive()
    said = (f"resumed from epoch {resumed_from['epoch']}, batch {resumed_from['batch_index']}, "
            f"after its worker stopped")
    assert final["message"] == f"Finished ({said})"
    assert said in page(stack, f"/jobs/{job['id']}")[1]
    assert "WorkerLostError" in stack.worker.log() or "SIGKILL" in stack.worker.log()

    events = history(stack, job["id"])
    resumed = [e for e in events if e["event"] == "resumed"]
    assert len(resumed) == 1
    assert (resumed[0]["epoch"], resumed[0]["examples_seen"]) == (
        resumed_from["epoch"], resumed_from["examples_seen"])
    before = events[:events.index(resumed[0])]
    assert all(e["examples_seen"] <= resumed_from["examples_seen"] for e in before)
    seen = [e["examples_seen"] for e in events]
    assert seen == sorted(seen)  # nothing repeated, nothing from the lost stretch kept
    evaluations = [e for e in events if e["event"] == "evaluation"]
    assert [e["epoch"] for e in evaluations] == list(range(NEPOCH + 1))

    reference = reference_run(stack, corpus, final)
    assert [e["train_loss"] for e in evaluations] == \
        [h["train_loss"] for h in reference.loss_history]
    assert [e["valid_loss"] for e in evaluations] == \
        [h["valid_loss"] for h in reference.loss_history]
    model = tmp_path / "model.npz"
    with urllib.request.urlopen(f"{stack.base_url}/models/{final['model_id']}/download") as r:
        model.write_bytes(r.read())
    for name in "UVW":
        assert np.array_equal(load_checkpoint(model).params[name], reference.params[name]), name
    assert checkpoint.exists()  # kept beside the model, so the job can be continued
