#!/bin/sh
# Start Redis, a Celery worker and the web app (the three lines of the Procfile) with honcho.
# The app is then at http://127.0.0.1:5000 (RNNLAB_PORT); Ctrl-C stops all three.
set -e
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
exec honcho start -f Procfile "$@"
