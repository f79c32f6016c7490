"""Workers as separate hosts: each worker process has its own data folder, and shares with the web
app (a third folder) only Redis, the database and a file:// artifact store. Two jobs train at once,
one on each worker, and the web app generates from both models; the same on PostgreSQL; a GPU
worker (listening on the "gpu" queue) takes the JAX engine's jobs while a CPU worker takes the
rest; and a job whose host died resumes on another host from the checkpoint in the store.
"""
from __future__ import annotations

import signal
import time

import pytest

from conftest import write_corpus
from integration.hosts import HostsStack, postgres_server, postgres_unavailable
from rnncore.checkpoint import load_checkpoint
from rnncore.generate import LanguageModel

pytestmark = pytest.mark.integration

FINAL = ("finished", "failed", "cancelled")
# A few seconds per job with the numpy engine on the generated corpus (about 30 ms an epoch).
SMALL = {"vocabulary_size": 60, "hidden_dim": 16, "bptt_truncate": 3, "nepoch": 120,
         "evaluate_loss_after": 20, "batch_size": 8, "engine": "numpy", "dtype": "float32",
         "learning_rate": 0.01, "seed": 1, "clip_norm": 0.01,
         "cell": "rnn", "dropout": 0.0}


@pytest.fixture
def hosts_factory(tmp_path):
    stacks = []

    def start(database_url: str | None = None, workers=None, names=(), **env) -> HostsStack:
        database_url = database_url or f"sqlite:///{tmp_path / 'db' / 'rnnlab.sqlite3'}"
        (tmp_path / "db").mkdir(exist_ok=True)
        stack = HostsStack(tmp_path / f"hosts{len(stacks)}", database_url,
                           workers or {"a": "cpu,preprocess", "b": "cpu,preprocess"}, **env)
        stacks.append(stack)
        return stack.start(*names)

    yield start
    for stack in stacks:
        stack.stop()


def ready_corpus(stack, tmp_path) -> dict:
    corpus = stack.upload(write_corpus(tmp_path / "sentences.csv", rows=600))
    stack.post(f"/api/corpora/{corpus['id']}/preprocess", {"vocabulary_size": 60}, expect=202)
    ready = stack.wait_for(f"/api/corpora/{corpus['id']}",
                           lambda c: c["state"] in ("ready", "failed"), timeout=120)
    assert ready["state"] == "ready", ready["error"]
    return ready


def run_together(stack, job_ids, timeout=240) -> tuple[list[dict], bool]:
    """Poll the jobs until all end; whether they were ever all training at the same moment."""
    together, deadline = False, time.monotonic() + timeout
    while True:
        jobs = [stack.get(f"/api/jobs/{job_id}") for job_id in job_ids]
        together |= all(j["state"] == "training" for j in jobs)
        if all(j["state"] in FINAL for j in jobs):
            return jobs, together
        assert time.monotonic() < deadline, f"jobs still running\n{stack.logs()}"
        time.sleep(0.1)


def generates_like_the_stored_model(stack, model_id: str) -> None:
    answer = stack.post(f"/api/models/{model_id}/generate",
                        {"prefix": "the cat", "num_samples": 2, "seed": 5, "max_length": 10},
                        expect=200)
    reference = LanguageModel.from_checkpoint(stack.shared / "models" / f"{model_id}.npz")
    assert answer == reference.continue_prefix("the cat", num_samples=2, seed=5, max_length=10)


def two_jobs_on_two_hosts(stack, tmp_path) -> None:
    corpus = ready_corpus(stack, tmp_path)
    assert "none is now" in stack.get_page(f"/jobs/new?corpus={corpus['id']}")
    job_ids = [stack.post("/api/jobs", {"corpus_id": corpus["id"], **SMALL, "seed": seed},
                          expect=202)["id"] for seed in (1, 2)]
    jobs, together = run_together(stack, job_ids)
    assert [j["state"] for j in jobs] == ["finished", "finished"], [j["error"] for j in jobs]
    assert together, "the two jobs never trained at the same time"
    assert sorted(j["worker_host"].split("@")[0] for j in jobs) == ["a", "b"]
    assert {j["queue"] for j in jobs} == {"cpu"}
    web_models = stack.data_dir / "models"
    for job in jobs:
        name = job["worker_host"].split("@")[0]
        other = "b" if name == "a" else "a"
        model_file = f"{job['model_id']}.npz"
        # Computed on its worker's host, published to the store, nowhere else yet.
        assert (stack.host_dir(name) / "models" / model_file).exists()
        assert not (stack.host_dir(other) / "models" / model_file).exists()
        assert not (web_models / model_file).exists()
        generates_like_the_stored_model(stack, job["model_id"])
        assert (web_models / model_file).read_bytes() == \
            (stack.shared / "models" / model_file).read_bytes()


def test_two_workers_on_their_own_folders_train_at_once_and_the_web_app_plays_both(
        hosts_factory, tmp_path):
    two_jobs_on_two_hosts(hosts_factory(), tmp_path)


def test_the_same_on_postgresql(hosts_factory, tmp_path):
    why_not = postgres_unavailable()
    if why_not:
        pytest.skip(f"cannot start PostgreSQL here: {why_not}")
    with postgres_server() as database_url:
        stack = hosts_factory(database_url)
        two_jobs_on_two_hosts(stack, tmp_path)
        stack.stop()


def test_a_gpu_worker_takes_the_jax_jobs_and_a_cpu_worker_the_rest(hosts_factory, tmp_path):
    stack = hosts_factory(workers={"cpu1": "cpu,preprocess", "gpu1": "gpu"})
    corpus = ready_corpus(stack, tmp_path)
    # The form answers from a look at the workers a moment old: as a person would, reload.
    for _ in range(20):
        page = stack.get_page(f"/jobs/new?corpus={corpus['id']}")
        if "A GPU worker is connected" in page:
            break
        time.sleep(0.5)
    assert 'value="pytensor-jax"' in page and "A GPU worker is connected" in page
    settings = {"corpus_id": corpus["id"], **SMALL, "nepoch": 2, "evaluate_loss_after": 1}
    jax_job = stack.post("/api/jobs", {**settings, "engine": "pytensor-jax"}, expect=202)
    cpu_job = stack.post("/api/jobs", settings, expect=202)
    assert (jax_job["queue"], cpu_job["queue"]) == ("gpu", "cpu")
    jobs, _ = run_together(stack, [jax_job["id"], cpu_job["id"]])
    assert [j["state"] for j in jobs] == ["finished", "finished"], [j["error"] for j in jobs]
    assert [j["worker_host"].split("@")[0] for j in jobs] == ["gpu1", "cpu1"]
    # Each message reached only its own queue: the other worker never heard of the job.
    assert cpu_job["id"] not in stack.processes["worker-gpu1"].log()
    assert jax_job["id"] not in stack.processes["worker-cpu1"].log()
    assert "gpu1@" in stack.get_page(f"/jobs/{jax_job['id']}")
    generates_like_the_stored_model(stack, jobs[0]["model_id"])


@pytest.mark.slow
def test_a_job_whose_host_died_resumes_on_another_host(hosts_factory, tmp_path):
    stack = hosts_factory(names=("redis", "web", "worker-a"), RNNLAB_STALE_AFTER_S=10)
    corpus = ready_corpus(stack, tmp_path)
    job = stack.post("/api/jobs", {"corpus_id": corpus["id"], **SMALL, "nepoch": 200,
                                   "evaluate_loss_after": 10}, expect=202)
    stored = stack.shared / "jobs" / job["id"] / "checkpoint.npz"
    stack.wait_for(f"/api/jobs/{job['id']}", lambda j: stored.exists() and load_checkpoint(
        stored).state["epoch"] >= 20, timeout=120, interval=0.05)
    stack.processes["worker-a"].kill(signal.SIGKILL)
    resumed_from = load_checkpoint(stored).state["examples_seen"]
    assert not stack.host_dir("b").exists()  # host B has never seen this job
    stack.start("worker-b")
    final = stack.wait_for(f"/api/jobs/{job['id']}", lambda j: j["state"] in FINAL, timeout=180)
    assert final["state"] == "finished", final["error"]
    assert final["worker_host"].startswith("b@") and final["attempts"] == 2
    history = stack.get(f"/api/jobs/{job['id']}?since=0")["history"]
    resumed = [e for e in history if e["event"] == "resumed"]
    assert len(resumed) == 1 and resumed[0]["examples_seen"] >= resumed_from > 0
    assert [e["epoch"] for e in history if e["event"] == "evaluation"] == list(range(0, 201, 10))
    generates_like_the_stored_model(stack, final["model_id"])
