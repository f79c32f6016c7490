"""Several hosts on one machine: the web app and each worker in its own process with its own data
folder (RNNLAB_DATA_DIR), sharing only Redis, the database and a file:// artifact store, which is
all that workers on other machines share. Also a throwaway PostgreSQL server (Debian's
`postgresql` package, run as the `postgres` user when the tests run as root).
"""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from integration.stack import LiveStack, Process, free_port


class HostsStack(LiveStack):
    """Redis and the web app (data folder ``root/data``) plus one worker per entry of ``workers``
    (name -> queues it listens on), each on ``root/host-<name>``, all on ``database_url`` and the
    artifact store ``root/shared``."""

    def __init__(self, root: Path, database_url: str, workers: dict[str, str], **env):
        super().__init__(root, **env)
        self.shared = self.root / "shared"
        self.env.update(DATABASE_URL=database_url, RNNLAB_ARTIFACT_STORE=f"file://{self.shared}")
        del self.processes["worker"]
        celery = str(Path(sys.executable).parent / "celery")
        self.workers = []
        for name, queues in workers.items():
            worker_env = {**self.env, "RNNLAB_DATA_DIR": str(self.host_dir(name)),
                          "RNNLAB_WORKER_QUEUES": queues}
            command = [celery, "-A", "worker.celery_app", "worker", "--loglevel", "INFO",
                       "--without-mingle", "--without-gossip", "-n", f"{name}@%h"]
            self.processes[f"worker-{name}"] = Process(
                f"worker-{name}", command, worker_env, self.root / "logs" / f"worker-{name}.log")
            self.workers.append(f"worker-{name}")

    def host_dir(self, name: str) -> Path:
        return self.root / f"host-{name}"

    @property
    def worker(self) -> Process:
        """The first worker (what LiveStack's messages quote when something times out)."""
        return self.processes[self.workers[0]]

    def start(self, *names: str, timeout: float = 90) -> "HostsStack":
        """Start the named processes (default: Redis, the web app, then every worker)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "redis").mkdir(exist_ok=True)
        for name in names or ("redis", "web", *self.workers):
            process = self.processes[name]
            mark = len(process.log())
            process.start()
            if name.startswith("worker-"):
                self._wait(name, lambda p=process, m=mark: " ready." in p.log()[m:], timeout,
                           process)
            else:
                getattr(self, f"_wait_for_{name}")(timeout, mark)
        return self

    def stop(self) -> None:
        for name in (*self.workers, "web", "redis"):
            self.processes[name].kill(signal.SIGTERM)

    def get_page(self, path: str) -> str:
        """An HTML page's text (200 only)."""
        with self._opener.open(self.base_url + path, timeout=30) as response:
            assert response.status == 200, response.status
            return response.read().decode("utf-8")

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{p.log()[-2000:]}" for n, p in self.processes.items())


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def postgres_unavailable() -> str | None:
    """Why no PostgreSQL server can be started here; None when one can."""
    if _postgres_bin() is None:
        return ("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); "
                "scripts/install_test_services.sh installs Debian's package")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


@contextlib.contextmanager
def postgres_server():
    """A PostgreSQL cluster in a temporary folder on a free loopback port; yields its URL.

    Trust authentication, reachable only on 127.0.0.1 and through a socket in that folder; fsync
    off because the data is thrown away.
    """
    bin_dir = _postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="rnnlab-postgres-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # root may not run postgres
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = root / "data"

    def run(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, capture_output=True, timeout=120,
                       cwd=root)

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "rnnlab",
            "--no-sync", "-E", "UTF8")
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w",
            "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "rnnlab",
            "rnnlab")
        yield f"postgresql+psycopg://rnnlab@127.0.0.1:{port}/rnnlab"
    finally:
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError):
                run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
