"""Checkpoints into the artifact store while a job trains, so a job resumed on another host
starts from its last one rather than from zero.

rnncore writes the checkpoint locally (atomically) at each evaluation, just after it reports the
evaluation, and again when it stops. ``CheckpointPublisher`` stands in rnncore's ``callback``:
it passes each report on to the job's progress writer, then looks at the checkpoint file and
puts it into the store when it has changed since the last put (the next report comes within
about a second). With the default store (the data folder) there is nothing to publish.
A worker that has lost its claim publishes nothing, so it cannot overwrite the checkpoint of the
worker that took the job over.
"""
from __future__ import annotations

import logging
from pathlib import Path

from webapp.artifacts import ArtifactStore
from worker.progress import JobProgress

log = logging.getLogger(__name__)


class CheckpointPublisher:
    """rnncore's ``callback``: progress first, then the checkpoint when it has changed."""

    def __init__(self, store: ArtifactStore, path: Path, progress: JobProgress):
        self.store, self.path, self.progress = store, Path(path), progress
        self.key = store.key(self.path)
        # A checkpoint fetched to resume from is in the store already.
        self.published = self._stamp()

    def _stamp(self) -> tuple[int, int, int] | None:
        """Which file is there: a new checkpoint is a new inode (written, then renamed)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def __call__(self, report: dict) -> None:
        self.progress(report)
        self.publish()

    def publish(self) -> None:
        """Put the checkpoint into the store if it changed and this worker still holds the job."""
        if not self.store.shared or self.progress.claim_lost:
            return
        stamp = self._stamp()
        if stamp is not None and stamp != self.published:
            self.store.put_file(self.path, self.key)
            self.published = stamp

    def publish_quietly(self) -> None:
        """``publish`` on the way out of a stopped run: a failure is logged, never raised."""
        try:
            self.publish()
        except Exception:
            log.warning("could not publish the checkpoint of job %s to %r",
                        self.progress.job_id, self.store, exc_info=True)
