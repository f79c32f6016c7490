"""A full disk or a data folder that cannot be written: the upload or the job fails with a message
in words, nothing half-written stays behind, and the checkpoints written before stay intact
(they are written beside their final name and renamed over it).

A full disk is real here: a small tmpfs mounted over the folder (root may mount; elsewhere the
tests say why they skip). An unwritable folder is a regular file standing where a folder should
be, which refuses writes even to root.
"""
from __future__ import annotations

import errno
import io
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import TINY_TRAINING
from faultkit import files_under, preprocessed, reddit_or_generated, start_job, until_final, \
    wait_job
from rnncore.checkpoint import load_checkpoint


@contextmanager
def small_disk(path: Path, size: str):
    """A tmpfs of ``size`` mounted on ``path`` for the duration; skip where mounting is refused."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        why = mounted.stderr.strip() or "mount failed"
        pytest.skip(f"cannot mount a small tmpfs to fill up ({why}); this needs root with "
                    f"CAP_SYS_ADMIN")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder: Path) -> None:
    """Write into ``folder`` until its filesystem has not a byte left."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for chunk in (1 << 16, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def new_job(client, corpus_id: str) -> str:
    response = client.post("/api/jobs", json={"corpus_id": corpus_id, **TINY_TRAINING})
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def test_a_job_folder_that_is_a_file_fails_the_job_in_words(client, ready_corpus, worker_ctx,
                                                           data_dir):
    from worker.training import run_training_job

    job_id = new_job(client, ready_corpus["id"])
    (data_dir / "jobs").mkdir(exist_ok=True)
    (data_dir / "jobs" / job_id).write_text("in the way")
    assert run_training_job(worker_ctx, job_id) == "failed"
    job = client.get(f"/api/jobs/{job_id}").get_json()
    assert job["state"] == "failed"
    assert job["error"].startswith("The server's data folder is damaged (a file stands where a "
                                   "folder should be)")
    assert str(data_dir) not in job["error"]  # no server paths in what people read
    assert "data folder is damaged" in client.get(f"/jobs/{job_id}").get_data(as_text=True)


def test_a_model_that_cannot_be_saved_keeps_the_last_checkpoint(client, ready_corpus,
                                                               worker_ctx, data_dir):
    from worker.training import run_training_job

    job_id = new_job(client, ready_corpus["id"])
    (data_dir / "models").write_text("a file where the models folder should be")
    assert run_training_job(worker_ctx, job_id) == "failed"
    job = client.get(f"/api/jobs/{job_id}").get_json()
    assert "could not be saved" in job["error"] and "The last checkpoint is kept" in job["error"]
    kept = load_checkpoint(data_dir / "jobs" / job_id / "checkpoint.npz")
    assert kept.state["epoch"] == TINY_TRAINING["nepoch"] and kept.state["finished"] is True
    assert [p.name for p in (data_dir / "jobs" / job_id).iterdir()] == ["checkpoint.npz"]
    assert client.get("/api/models").get_json() == {"models": []}


def test_an_upload_into_a_damaged_data_folder_is_refused_in_words(client, data_dir, corpus_csv):
    (data_dir / "corpora").write_text("in the way")
    before = files_under(data_dir)
    response = client.post("/api/corpora", content_type="multipart/form-data",
                           data={"file": (io.BytesIO(corpus_csv.read_bytes()), "c.csv")})
    assert response.status_code == 500
    assert "data folder is damaged" in response.get_json()["error"]
    assert files_under(data_dir) == before
    assert client.get("/api/corpora").get_json() == {"corpora": []}


def test_an_upload_onto_a_full_disk_is_507_and_leaves_nothing(client, data_dir, corpus_csv):
    with small_disk(data_dir / "corpora", "64k") as folder:
        response = client.post("/api/corpora", content_type="multipart/form-data",
                               data={"file": (io.BytesIO(b"id,text\n" + b"1,some words\n" *
                                                         20_000), "big.csv")})
        assert response.status_code == 507
        assert response.get_json()["error"].startswith("The server's disk is full")
        assert list(folder.iterdir()) == []
    assert client.get("/api/corpora").get_json() == {"corpora": []}


@pytest.mark.integration
def test_a_disk_that_fills_up_during_training_fails_the_job_and_keeps_its_checkpoint(
        live_stack, tmp_path):
    stack = live_stack
    corpus = preprocessed(stack, reddit_or_generated(tmp_path))
    with small_disk(stack.data_dir / "jobs", "1m") as jobs:
        job = start_job(stack, corpus["id"], nepoch=200)
        checkpoint = jobs / job["id"] / "checkpoint.npz"
        wait_job(stack, job["id"], lambda j: checkpoint.exists() and load_checkpoint(
            checkpoint).state["epoch"] >= 1, interval=0.2)
        fill(jobs)
        final = until_final(stack, job["id"])
        assert final["state"] == "failed"
        assert final["error"].startswith("The server's disk is full, so the training's files "
                                         "could not be saved.")
        assert "The last checkpoint is kept." in final["error"]
        kept = load_checkpoint(checkpoint)  # whole and readable
        assert 1 <= kept.state["epoch"] <= final["epoch"]
        assert kept.state["examples_seen"] <= final["examples_seen"]
        assert sorted(p.name for p in (jobs / job["id"]).iterdir()) == ["checkpoint.npz"]
        assert stack.worker.alive()
