"""When a worker that trains comes up, compile the default model's functions in the background
(``python -m rnncore.warmup``, at low priority), so the first job does not wait for PyTensor's
compiler. A process of its own: compiling in the worker itself would hold its locks across the
pool's fork."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

from celery.signals import worker_ready

log = logging.getLogger(__name__)


@worker_ready.connect
def compile_the_default_model(sender=None, **_):
    queues = {q.name for q in getattr(getattr(sender, "task_consumer", None), "queues", [])}
    if not sender.app.conf.get("rnnlab_warmup", True) or "cpu" not in queues:
        return  # a preprocessing-only or GPU worker never trains on this engine
    process = subprocess.Popen([sys.executable, "-m", "rnncore.warmup"],
                               preexec_fn=lambda: os.nice(10), stdin=subprocess.DEVNULL)
    log.info("compiling the default model's functions in the background (pid %d)", process.pid)
