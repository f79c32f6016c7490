#!/usr/bin/env bash
# Device check of the pytensor-jax engine on a machine with an NVIDIA GPU (driver installed) and no
# network: installs rnnlab from wheels carried with it, runs the JAX engine's gradient and
# equivalence tests on the GPU, then prints training tokens/s for batches of 32, 128, 512 and 2048
# at vocabulary 8000, hidden 100 and 1000.
#
# Two steps:
#   1. On a machine with network and the same Python (3.11) and platform (Linux x86_64), from the
#      repository root, fetch every wheel (jax[cuda12] brings NVIDIA's CUDA libraries, a few GB):
#          pip download -d wheels -r requirements-gpu.txt
#      (On another platform add: --only-binary=:all: --python-version 3.11
#       --platform manylinux_2_27_x86_64 --platform manylinux2014_x86_64)
#   2. Carry the repository with its wheels/ folder to the GPU machine and run there:
#          bash scripts/gpu_check.sh            # or: WHEELS=/path/to/wheels bash scripts/gpu_check.sh
#
# It makes its own virtual environment (.venv-gpu) and installs with pip --no-index, so nothing is
# fetched. Extra arguments go to the benchmark (e.g. --hidden 100 --batches 32 128).
# To rehearse on a machine without a GPU: a wheelhouse of requirements-dev.txt (jax's CPU build)
# and REQUIREMENTS=requirements-dev.txt ALLOW_CPU=1 bash scripts/gpu_check.sh --quick
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=${WHEELS:-wheels}
VENV=${VENV:-.venv-gpu}
PYTHON=${PYTHON:-python3}
REQUIREMENTS=${REQUIREMENTS:-requirements-gpu.txt}
export ALLOW_CPU=${ALLOW_CPU:-0}

if [ ! -d "$WHEELS" ]; then
    echo "No $WHEELS/ folder of wheels: make it first, as the top of scripts/gpu_check.sh says." >&2
    exit 2
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --no-index --find-links "$WHEELS" -r "$REQUIREMENTS"

echo "== Which device JAX computes on"
"$VENV/bin/python" - <<'EOF'
import os
import sys

import jax

devices = jax.devices()
print(f"jax {jax.__version__}: {[f'{d.platform}:{d.id} {d.device_kind}' for d in devices]}")
if devices[0].platform != "gpu" and os.environ["ALLOW_CPU"] != "1":
    sys.exit("JAX sees no GPU: is the NVIDIA driver loaded, and were the jax[cuda12] wheels installed?")
EOF

echo "== Gradient and equivalence tests of the JAX engine, on the GPU"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/test_engine_jax.py

echo "== Training speed"
"$VENV/bin/python" -m scripts.gpu_bench "$@"
