"""Keep one process running: start it again whenever it exits, until told to stop.

    python -m scripts.supervise COMMAND [ARGS...]

The Procfile runs the web server and the worker through this, because honcho stops every process
as soon as one exits: one crash would take the whole app down. The crash that made this necessary:
a Celery worker that loses Redis while a job trains logs "Unrecoverable error:
AttributeError('NoneType' object has no attribute 'hostname')" (kombu's Redis transport, while it
puts the running job's message back; see celery/celery#9250), lets the running task finish, and
exits; new jobs then waited for good. Started again, the worker reconnects and takes them; the
job's state lives in the database, so nothing else is lost.

A process that ends is started again after a pause that doubles from MIN_DELAY_S up to
MAX_DELAY_S while it keeps ending quickly, and is back to MIN_DELAY_S once it has run for
STEADY_S. SIGTERM and SIGINT (honcho's stop, Ctrl-C) are passed on to the process (honcho signals
the whole process group, and Celery and gunicorn take a second SIGTERM as the first); the
supervisor waits for it to end and exits with its status. Each start and end is logged on
stderr, where honcho shows it beside the process's own lines.
"""
from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time

log = logging.getLogger("supervise")

MIN_DELAY_S = 1.0
MAX_DELAY_S = 30.0
STEADY_S = 60.0


class Supervisor:
    """Runs ``command`` again and again; ``stop(sig)`` ends it and the loop."""

    def __init__(self, command: list[str], min_delay_s: float = MIN_DELAY_S,
                 max_delay_s: float = MAX_DELAY_S, steady_s: float = STEADY_S):
        self.command = command
        self.min_delay_s, self.max_delay_s, self.steady_s = min_delay_s, max_delay_s, steady_s
        self.child: subprocess.Popen | None = None
        self.stopping = False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(sig)

    def run(self) -> int:
        delay = self.min_delay_s
        while True:
            started = time.monotonic()
            self.child = subprocess.Popen(self.command)  # same process group: honcho's
            log.info("supervise: started %s (pid %d)", self.command[0], self.child.pid)
            status = self.child.wait()
            if self.stopping:
                return status
            ran = time.monotonic() - started
            if ran >= self.steady_s:
                delay = self.min_delay_s
            log.warning("supervise: %s exited with status %s after %.0f s; starting it again "
                        "in %.0f s", self.command[0], status, ran, delay)
            if self._sleep(delay):
                return status
            delay = min(delay * 2, self.max_delay_s)

    def _sleep(self, seconds: float) -> bool:
        """Pause before the next start; True when asked to stop meanwhile."""
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, deadline - time.monotonic()))
        return self.stopping


def main(argv: list[str] | None = None) -> int:
    command = list(sys.argv[1:] if argv is None else argv)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        print(__doc__, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    supervisor = Supervisor(command)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, _frame: supervisor.stop(number))
    status = supervisor.run()
    return 128 - status if status < 0 else status  # killed by a signal: the shell's convention


if __name__ == "__main__":
    sys.exit(main())
