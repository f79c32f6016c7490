"""Which BLAS PyTensor's C code links: the OpenBLAS in scipy's wheel, chosen before compiling.

Left alone, PyTensor searches for a system BLAS at its first compilation and, in a pip install,
finds none and warns that "operations will be severely degraded" (then does its products
through numpy, one Python call each). numpy's wheel does ship OpenBLAS, but built for 64-bit
integers with renamed symbols (``scipy_sgemm_64_``, see ``nm -D numpy.libs/*.so``), which
PyTensor's C code, written against the Fortran BLAS with 32-bit integers (``sgemm_``), cannot
call. scipy, a requirement of PyTensor itself, ships the same OpenBLAS built for 32-bit integers
with its symbols prefixed ``scipy_`` (``scipy_sgemm_``): PyTensor links that one, its calls
renamed by preprocessor definitions. The products inside the recurrence's scans then run in C;
measured on one core (``python -m rnncore.bench``), the class-factored output layer trained
5-15% faster and the full softmax up to 5% (its output layer calls numpy's BLAS either way).

Where scipy's library is missing or lacks those functions (another platform, another wheel),
``blas__ldflags`` is set empty instead: numpy's BLAS through Python, as before, without the
search and its warning. A BLAS the user names (PYTENSOR_FLAGS or .pytensorrc, which PyTensor
itself reads) is always kept.
"""
from __future__ import annotations

import ctypes
import importlib.util
import shlex
from pathlib import Path

import pytensor

# The Fortran BLAS functions PyTensor's C code calls (Gemm, Gemv, Ger, Dot for float32 and float64).
BLAS_FUNCTIONS = ("sgemm", "dgemm", "sgemv", "dgemv", "sger", "dger", "sdot", "ddot")


def scipy_openblas() -> Path | None:
    """scipy's OpenBLAS of 32-bit integers, if it is there and has every function PyTensor calls."""
    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.origin:
        return None
    found = sorted((Path(spec.origin).parent.parent / "scipy.libs").glob("libscipy_openblas-*.so"))
    if len(found) != 1:
        return None
    try:
        library = ctypes.CDLL(str(found[0]))
    except OSError:
        return None
    if not all(hasattr(library, f"scipy_{name}_") for name in BLAS_FUNCTIONS):
        return None
    return found[0]


def link_flags(library: Path) -> str:
    """``blas__ldflags`` linking ``library`` with PyTensor's BLAS calls renamed to its symbols.

    The library is named by its path (its file name has a hash, so ``-l`` cannot name it), and
    ``--no-as-needed`` keeps it although the path comes before the code that calls it.
    """
    renames = " ".join(f"-D{name}_=scipy_{name}_" for name in BLAS_FUNCTIONS)
    return (f"-Wl,--no-as-needed {shlex.quote(str(library))} "
            f"{shlex.quote(f'-Wl,-rpath,{library.parent}')} {renames}")


def configure_blas() -> str:
    """Set PyTensor's ``blas__ldflags`` unless the user chose it; return what it is now."""
    setting = type(pytensor.config).blas__ldflags  # the setting itself: reading its value searches
    if setting.is_default and not hasattr(setting, "val"):
        library = scipy_openblas()
        pytensor.config.blas__ldflags = link_flags(library) if library is not None else ""
    return pytensor.config.blas__ldflags
