"""Load test on loopback: many clients on the playground while a job trains.

    .venv/bin/python -m scripts.load_test                 # 50 clients, 30 s, own servers
    .venv/bin/python -m scripts.load_test --clients 20 --seconds 10
    .venv/bin/python -m scripts.load_test --url http://127.0.0.1:5000 --model <id>

Without --url it starts Redis, a Celery worker and gunicorn (RNNLAB_WEB_WORKERS processes, the
production default) on free loopback ports with a temporary data folder and the playground's rate
limit off, trains a playground model on the reddit sample, starts a long training job, and only
then lets the clients loose. Each client loops for --seconds: mostly "generate", some "next
words", now and then the playground page itself. It reports the latency percentiles and the
errors (anything but a 2xx, and connection failures), then cancels the job and stops everything.
It is bounded (at most 200 clients for 300 s), stops by itself, and speaks to loopback only.
The clients share the machine's cores with the servers, so on a small machine they slow them.
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpora" / "reddit-comments-2015-08-sample.csv"
PREFIXES = ["i think", "the", "what is", "this is a", "i do not know why", "my favourite",
            "people who", "it was", "you should", "the best way to"]
MODEL = {"vocabulary_size": 2000, "hidden_dim": 64, "nepoch": 1, "engine": "numpy",
         "dtype": "float32", "batch_size": 8, "learning_rate": 0.002, "seed": 1}
log = logging.getLogger("rnnlab.load_test")


def call(base: str, method: str, path: str, body: dict | None = None, timeout: float = 60):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        "Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
        return response.status, raw


class Recorder:
    """Latencies and errors per kind of request, from many threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}

    def add(self, kind: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies.setdefault(kind, []).append(seconds)
            if error:
                self.errors[error] = self.errors.get(error, 0) + 1


def client(base: str, model_id: str, deadline: float, seed: int, recorder: Recorder) -> None:
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        roll = rng.random()
        if roll < 0.7:
            kind, method, path = "generate", "POST", f"/api/models/{model_id}/generate"
            body = {"prefix": rng.choice(PREFIXES), "num_samples": 3, "max_length": 20}
        elif roll < 0.9:
            kind, method, path = "next-words", "POST", f"/api/models/{model_id}/next-words"
            body = {"prefix": rng.choice(PREFIXES), "k": 10}
        else:
            kind, method, path, body = "page", "GET", f"/models/{model_id}", None
        started, error = time.monotonic(), None
        try:
            status, _ = call(base, method, path, body)
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
            exc.close()
        except OSError as exc:
            error = type(exc).__name__
        recorder.add(kind, time.monotonic() - started, error)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run_clients(base: str, model_id: str, clients: int, seconds: float) -> dict:
    recorder = Recorder()
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=client, args=(base, model_id, deadline, i, recorder),
                                daemon=True) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    elapsed = time.monotonic() - started
    every = [v for values in recorder.latencies.values() for v in values]
    summary = {"clients": clients, "seconds": round(elapsed, 1), "requests": len(every),
               "requests_per_second": round(len(every) / elapsed, 1),
               "errors": sum(recorder.errors.values()), "error_kinds": recorder.errors}
    for kind, values in [("all", every)] + sorted(recorder.latencies.items()):
        if values:
            summary[kind] = {"count": len(values),
                             "p50_ms": round(1000 * statistics.median(values), 1),
                             "p99_ms": round(1000 * percentile(values, 0.99), 1),
                             "max_ms": round(1000 * max(values), 1)}
    return summary


def own_stack(root: Path):
    """Redis, a worker and gunicorn with the production number of web processes."""
    sys.path.insert(0, str(REPO / "tests"))
    from integration.stack import LiveStack, Process  # the test suite's process manager
    from scripts.run_web import gunicorn_command
    from webapp.settings import load_settings

    workers = load_settings().web_workers
    stack = LiveStack(root, RNNLAB_PLAYGROUND_RATE_LIMIT="off", RNNLAB_UPLOAD_RATE_LIMIT="off",
                      RNNLAB_JOB_RATE_LIMIT="off", RNNLAB_WEB_WORKERS=workers)
    stack.processes["web"] = Process("web", gunicorn_command("127.0.0.1", stack.web_port, workers),
                                     stack.env, stack.root / "logs" / "web.log")
    stack.start()
    log.info("servers up: web %s (%d gunicorn processes), redis %s", stack.base_url, workers,
             stack.redis_url)
    return stack, workers


def prepare(stack) -> tuple[str, str]:
    """Train a playground model, then start a long job; (model id, running job id)."""
    source = CORPUS
    if not source.exists():
        sys.path.insert(0, str(REPO / "tests"))
        from conftest import write_corpus
        source = write_corpus(stack.root / "generated.csv", rows=2000)
    corpus = stack.upload(source)
    stack.post(f"/api/corpora/{corpus['id']}/preprocess",
               {"vocabulary_size": MODEL["vocabulary_size"]}, expect=202)
    ready = stack.wait_for(f"/api/corpora/{corpus['id']}", lambda c: c["state"] != "queued"
                           and c["state"] != "preprocessing", timeout=300)
    vocabulary = min(MODEL["vocabulary_size"], ready["report"]["unique_words"] + 1)
    settings = {**MODEL, "vocabulary_size": vocabulary, "corpus_id": corpus["id"]}
    job = stack.post("/api/jobs", settings, expect=202)
    log.info("training the playground model (vocabulary %d, hidden %d)", vocabulary,
             MODEL["hidden_dim"])
    done = stack.wait_for(f"/api/jobs/{job['id']}", lambda j: j["state"] in (
        "finished", "failed", "cancelled"), timeout=600, interval=1)
    if done["state"] != "finished":
        raise SystemExit(f"the playground model did not train: {done['error']}")
    running = stack.post("/api/jobs", {**settings, "nepoch": 200}, expect=202)
    stack.wait_for(f"/api/jobs/{running['id']}", lambda j: j["state"] == "training",
                   timeout=120, interval=0.5)
    return done["model_id"], running["id"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--url", help="a running rnnlab on loopback (default: start one)")
    parser.add_argument("--model", help="with --url: the model id to ask")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not 1 <= args.clients <= 200 or not 1 <= args.seconds <= 300:
        parser.error("at most 200 clients for at most 300 seconds")
    if args.url:
        if urlsplit(args.url).hostname not in ("127.0.0.1", "localhost", "::1") or not args.model:
            parser.error("--url must be a loopback address, and --model is needed with it")
        summary = run_clients(args.url.rstrip("/"), args.model, args.clients, args.seconds)
    else:
        with tempfile.TemporaryDirectory(prefix="rnnlab-load-") as root:
            stack, workers = own_stack(Path(root))
            try:
                model_id, job_id = prepare(stack)
                log.info("%d clients for %.0f s while job %s trains", args.clients,
                         args.seconds, job_id)
                before = stack.get(f"/api/jobs/{job_id}")["examples_seen"]
                summary = run_clients(stack.base_url, model_id, args.clients, args.seconds)
                after = stack.get(f"/api/jobs/{job_id}")
                summary["web_processes"] = workers
                summary["training_job"] = {"state": after["state"],
                                           "examples_during_test": after["examples_seen"] - before}
                stack.post(f"/api/jobs/{job_id}/cancel", {})
            finally:
                stack.stop()
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
