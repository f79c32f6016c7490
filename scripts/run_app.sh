#!/bin/sh
# Start Redis, the web app, a Celery worker that trains and one that only preprocesses (the four
# lines of the Procfile) with honcho, so a corpus is preprocessed at once even while the training
# worker's slots are busy. The app is then at http://127.0.0.1:5000 (RNNLAB_PORT); Ctrl-C stops all.
set -e
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
exec honcho start -f Procfile "$@"
