"""Serve the web app with gunicorn: `python -m scripts.run_web` (the Procfile's web line).

Binds RNNLAB_HOST:RNNLAB_PORT (127.0.0.1:5000 by default) with RNNLAB_WEB_WORKERS processes of a
few threads each, so the job pages' once-a-second polling never waits behind a playground answer.
For debugging only: `flask --app webapp:create_app run --debug`.
"""
from __future__ import annotations

import os
import shutil
import sys

from webapp.settings import load_settings

THREADS = 4


def gunicorn_command(host: str, port: int, workers: int) -> list[str]:
    gunicorn = shutil.which("gunicorn") or os.path.join(os.path.dirname(sys.executable), "gunicorn")
    return [gunicorn, "--bind", f"{host}:{port}", "--workers", str(workers), "--threads",
            str(THREADS), "--timeout", "120", "--access-logfile", "-", "--no-control-socket",
            "webapp:create_app()"]


def main() -> None:
    settings = load_settings()
    command = gunicorn_command(settings.host, settings.port, settings.web_workers)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
