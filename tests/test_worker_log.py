"""What a worker's log shows at INFO, the level the Procfile runs it at."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A fresh interpreter, logging at INFO to stderr as a Celery worker does, importing the worker's
# app and then the compiled engine, as the first training task does.
IMPORTS = """
import logging
logging.basicConfig(level=logging.INFO)
import worker.celery_app
import rnncore.rnn_pytensor
logging.getLogger("rnncore").info("imported")
"""


def test_importing_the_engine_in_a_worker_logs_none_of_pytensors_set_up_chatter():
    done = subprocess.run([sys.executable, "-c", IMPORTS], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "INFO:rnncore:imported" in done.stderr  # INFO lines do reach the log
    assert "PyTensorConfigParser" not in done.stderr
    assert "INFO:pytensor" not in done.stderr
