"""Writing files so that a reader sees the old file or the new one, never half of either.

Checkpoints and preprocessed corpora both go through here: a crash or a full disk mid-write leaves
the previous file intact and no temporary file behind.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np


def write_npz(fileobj, arrays: dict, texts: dict) -> None:
    """Arrays as ``.npy`` members, and ``texts`` (str) as NumPy string scalars."""
    # np.savez would pickle object arrays; writing each member with allow_pickle=False refuses them.
    with zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in list(arrays.items()) + [(k, np.array(v)) for k, v in texts.items()]:
            with zf.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def atomic_write(path: Path, write) -> None:
    """Write through ``write(fileobj)`` to a temp file beside ``path``, fsync, then rename over it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:
        # Make the rename itself durable; some filesystems refuse to open directories.
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
