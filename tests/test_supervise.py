"""scripts.supervise: a process that ends is started again, with a growing pause while it keeps
failing; SIGTERM reaches the process and ends the supervisor too."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from scripts.supervise import Supervisor

REPO = Path(__file__).resolve().parents[1]


def test_a_process_that_ends_is_started_again(tmp_path):
    starts = tmp_path / "starts"
    command = [sys.executable, "-c", f"open({str(starts)!r}, 'a').write('x'); raise SystemExit(3)"]
    supervisor = Supervisor(command, min_delay_s=0.05, max_delay_s=0.2, steady_s=60)
    runner = threading.Thread(target=supervisor.run)
    runner.start()
    deadline = time.monotonic() + 30
    while (len(starts.read_text()) if starts.exists() else 0) < 4:
        assert time.monotonic() < deadline, "not started again"
        time.sleep(0.05)
    supervisor.stop()
    runner.join(timeout=10)
    assert not runner.is_alive()


def test_sigterm_stops_the_process_and_the_supervisor(tmp_path):
    ready = tmp_path / "ready"
    child = (f"import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); "
             f"open({str(ready)!r}, 'w').close(); time.sleep(60)")
    supervisor = subprocess.Popen([sys.executable, "-m", "scripts.supervise", sys.executable,
                                   "-c", child], cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert time.monotonic() < deadline and supervisor.poll() is None
        time.sleep(0.05)
    supervisor.send_signal(signal.SIGTERM)  # only to the supervisor, as `kill <pid>` would
    with supervisor.stderr:
        assert supervisor.wait(timeout=10) == 0
        assert "supervise: started" in supervisor.stderr.read()
