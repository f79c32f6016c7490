"""PyTensor's C code linked to scipy's OpenBLAS (rnncore.pytensor_blas): no BLAS warning at the
first compilation, the products right in both precisions, and a user's own choice kept."""
import os
import shlex
import subprocess
import sys
from pathlib import Path

from conftest import REPO
from rnncore.pytensor_blas import BLAS_FUNCTIONS, link_flags, scipy_openblas

COMPILE_AND_COMPARE = """
import numpy as np, pytensor, pytensor.tensor as pt
import rnncore.rnn_pytensor
rng = np.random.default_rng(0)
for dtype in ("float32", "float64"):
    A, B, x = pt.matrix(dtype=dtype), pt.matrix(dtype=dtype), pt.vector(dtype=dtype)
    f = pytensor.function([A, B, x], [A @ B, A @ x, x @ x, pt.outer(x, x) + A], mode="CVM")
    a, b = (rng.standard_normal((37, 37)).astype(dtype) for _ in range(2))
    v = rng.standard_normal(37).astype(dtype)
    for got, want in zip(f(a, b, v), [a @ b, a @ v, v @ v, np.outer(v, v) + a]):
        assert np.allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12), dtype
    ops = {type(node.op).__name__ for node in f.maker.fgraph.toposort()}
print(repr(pytensor.config.blas__ldflags), sorted(ops))
"""


def _run(code, **env):
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO), **env},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def test_first_compilation_links_scipys_openblas_without_a_warning():
    out = _run(COMPILE_AND_COMPARE)
    assert "could not link to a BLAS" not in out and "Using NumPy C-API" not in out
    library = scipy_openblas()
    if library is not None:  # a Linux wheel of scipy: PyTensor's BLAS ops run in C
        assert str(library) in out and "CGemv" in out and "CGer" in out
    else:
        assert out.startswith("''")


def test_a_blas_the_user_names_is_kept():
    out = _run("import pytensor, rnncore.rnn_pytensor; print(repr(pytensor.config.blas__ldflags))",
               PYTENSOR_FLAGS="blas__ldflags=")
    assert out.strip() == "''"


def test_link_flags_survive_spaces_in_the_path():
    flags = shlex.split(link_flags(Path("/opt/my env/scipy.libs/libscipy_openblas-abc.so")))
    assert flags[:3] == ["-Wl,--no-as-needed", "/opt/my env/scipy.libs/libscipy_openblas-abc.so",
                         "-Wl,-rpath,/opt/my env/scipy.libs"]
    assert flags[3:] == [f"-D{name}_=scipy_{name}_" for name in BLAS_FUNCTIONS]
