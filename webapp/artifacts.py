"""The artifact store: where uploads, preprocessed corpora, checkpoints and models are kept.

Workers compute on local files (rnncore reads and writes real paths), so every host has its
copies in its own data folder, laid out as ``webapp.records.DataPaths`` says; a file's key in the
store is its path under that folder (``corpora/<id>/source.csv``, ``models/<id>.npz``). Where the
store is depends on ``RNNLAB_ARTIFACT_STORE``:

- unset: the data folder itself. Nothing is copied; ``put_file`` and ``fetch`` only check.
- ``file:///mnt/shared``: a folder every host mounts. Puts are atomic (a temporary name beside
  the target, then a rename), so a reader on another host never sees half a file.
- ``s3://bucket/prefix``: an S3-compatible bucket through fsspec and s3fs
  (``RNNLAB_S3_ENDPOINT_URL`` for MinIO and the like; credentials from the usual AWS_* variables).
  An object appears whole when its upload ends.

With a shared store the local data folder is this host's cache: ``fetch`` downloads a key there
once (to a temporary name, then renamed) and later calls find it. Uploads, corpora and models
never change under a key, so a cached copy stays right; a checkpoint does change, and
``refresh`` makes the local copy equal to the store's before a job resumes from it.

The worker imports this module (with ``webapp.records`` and ``webapp.settings``), so it imports
nothing from Flask.
"""
from __future__ import annotations

import logging
import os
import secrets
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMES = ("file", "s3")


class ArtifactMissing(FileNotFoundError):
    """The key is in neither this host's data folder nor the store."""


class ArtifactStore:
    """Put, fetch, check and delete files by key; see the module docstring for where they go."""

    def __init__(self, data_dir, url: str | None = None, s3_endpoint_url: str | None = None):
        self.data_dir = Path(data_dir)
        self.url = url or None
        self.s3_endpoint_url = s3_endpoint_url or None
        self._fs = None
        self._fs_pid = None
        if self.url is not None:
            scheme = self.url.split("://", 1)[0]
            if scheme not in SCHEMES or "://" not in self.url:
                raise ValueError(f"an artifact store is file:// or s3://, not {self.url!r}")
            self._root = self.url.split("://", 1)[1].rstrip("/")

    @property
    def shared(self) -> bool:
        """True when the store is somewhere else than this host's data folder."""
        return self.url is not None

    def __repr__(self) -> str:
        return f"ArtifactStore({self.url or 'the data folder'})"

    # --- keys and local paths ------------------------------------------------------------------

    def key(self, path) -> str:
        """The key of a file in this host's data folder: its path relative to the folder."""
        relative = Path(path).relative_to(self.data_dir)
        return self._checked(relative.as_posix())

    def local_path(self, key: str) -> Path:
        """Where this host keeps (or would keep) the file of ``key``."""
        return self.data_dir / self._checked(key)

    @staticmethod
    def _checked(key: str) -> str:
        parts = key.split("/") if isinstance(key, str) else [""]
        if any(p in ("", ".", "..") or "\\" in p for p in parts):
            raise ValueError(f"not an artifact key: {key!r}")
        return key

    # --- the store itself ----------------------------------------------------------------------

    @property
    def fs(self):
        """The fsspec filesystem, made anew in each process (a forked worker must not share one)."""
        if self._fs is None or self._fs_pid != os.getpid():
            import fsspec  # only a shared store needs it

            options = {}
            if self.url.startswith("s3://"):
                # Other hosts write to the bucket too: a remembered listing could be stale.
                options["use_listings_cache"] = False
                if self.s3_endpoint_url:
                    options["endpoint_url"] = self.s3_endpoint_url
            self._fs = fsspec.filesystem(self.url.split("://", 1)[0], **options)
            self._fs_pid = os.getpid()
        return self._fs

    def _remote(self, key: str) -> str:
        return f"{self._root}/{self._checked(key)}"

    def _renames_atomically(self) -> bool:
        """A folder renames in place; an object store has no rename but writes whole objects."""
        return self.url.startswith("file://")

    def put_file(self, local_path, key: str | None = None) -> None:
        """Publish a finished local file under ``key`` (default: its own place in the data folder).

        Readers see the old file or the new one, never part of one. With the default store a file
        already in place is left alone (zero copies); one elsewhere is moved in by a rename.
        """
        local_path = Path(local_path)
        key = self.key(local_path) if key is None else self._checked(key)
        if not self.shared:
            target = self.local_path(key)
            if local_path.resolve() != target.resolve():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(local_path, target)
            return
        remote = self._remote(key)
        parent = remote.rsplit("/", 1)[0]
        if not self._renames_atomically():
            self.fs.put_file(str(local_path), remote)
            return
        self.fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.{remote.rsplit('/', 1)[1]}.{secrets.token_hex(6)}.tmp"
        try:
            self.fs.put_file(str(local_path), tmp)
            os.replace(tmp, remote)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def exists(self, key: str) -> bool:
        """Whether the store (not only this host's cache) has ``key``."""
        if not self.shared:
            return self.local_path(key).is_file()
        return bool(self.fs.exists(self._remote(key)))

    def fetch(self, key: str) -> Path:
        """A local path holding ``key``'s file: this host's copy, downloaded first if need be."""
        path = self.local_path(key)
        if path.is_file():
            return path
        if not self.shared:
            raise ArtifactMissing(f"{key} is not in the data folder")
        self._download(key, path)
        return path

    def refresh(self, key: str) -> Path | None:
        """Make this host's copy equal to the store's and return it; None when the store has none.

        For files that change under one key (a job's checkpoint): a copy left here by an earlier
        attempt may be older than the one another host published since.
        """
        path = self.local_path(key)
        if not self.shared:
            return path if path.is_file() else None
        try:
            self._download(key, path)
        except ArtifactMissing:
            path.unlink(missing_ok=True)
            return None
        return path

    def _download(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
        try:
            self.fs.get_file(self._remote(key), str(tmp))
            os.replace(tmp, path)
        except FileNotFoundError:
            raise ArtifactMissing(f"{key} is not in the artifact store {self.url}") from None
        finally:
            tmp.unlink(missing_ok=True)

    def delete_tree(self, key: str) -> None:
        """Remove the folder ``key`` and every file under it, from the store and from this
        host's cache; missing is fine. (Other hosts' caches keep their copies until wiped.)"""
        shutil.rmtree(self.local_path(key), ignore_errors=True)
        if self.shared:
            try:
                self.fs.rm(self._remote(key), recursive=True)
            except FileNotFoundError:
                pass

    def delete(self, key: str) -> None:
        """Remove ``key`` from the store and from this host's cache; missing is fine."""
        self.local_path(key).unlink(missing_ok=True)
        if self.shared:
            try:
                self.fs.rm_file(self._remote(key))
            except FileNotFoundError:
                pass
