"""This web process's side of the artifact store (``webapp.artifacts``): uploads published to it,
models and uploaded files fetched from it into the local data folder, models deleted from it.

With the default store (the data folder) every call here is a check on a local file; with a
shared folder or bucket, a model trained on another host is downloaded once into this host's
data folder and read from there afterwards. Failures become sentences without server paths.
"""
from __future__ import annotations

import logging
from pathlib import Path

from flask import current_app

from webapp.artifacts import ArtifactMissing, ArtifactStore
from webapp.errors import UserError
from webapp.records import DataPaths, storage_is_full, storage_problem

log = logging.getLogger(__name__)


def store() -> ArtifactStore:
    return current_app.extensions["rnnlab_artifacts"]


def paths() -> DataPaths:
    return DataPaths(current_app.config["DATA_DIR"])


def publish_upload(source: Path) -> None:
    """Put a stored upload where the workers read it; UserError in words when that fails."""
    try:
        store().put_file(source)
    except OSError as exc:
        log.error("could not publish %s to %r: %s", source, store(), exc)
        message = storage_problem(exc, "the upload")
        raise UserError(message, status=507 if storage_is_full(exc) else 500) from None


def forget_upload(corpus_id: str) -> None:
    """Take back a published upload whose row could not be made."""
    try:
        store().delete(store().key(paths().corpus_source(corpus_id)))
    except OSError:
        log.warning("could not remove the upload of corpus %s from %r", corpus_id, store(),
                    exc_info=True)


def model_path(model_id: str) -> Path:
    """A local path to the model's file, fetched from the store when this host has none."""
    try:
        return store().fetch(store().key(paths().model_file(model_id)))
    except ArtifactMissing:
        raise UserError("The model's file is missing from the server.", status=404) from None
    except OSError as exc:
        log.error("could not fetch model %s from %r: %s", model_id, store(), exc)
        raise UserError("The model's file could not be read from the artifact store; try again "
                        "in a moment.", status=503) from None


def corpus_source(corpus_id: str) -> Path | None:
    """A local path to the uploaded (or built) CSV; None while nobody has stored it."""
    try:
        return store().fetch(store().key(paths().corpus_source(corpus_id)))
    except ArtifactMissing:
        return None
    except OSError as exc:
        log.warning("could not fetch the source of corpus %s: %s", corpus_id, exc)
        return None


def delete_model_file(model_id: str) -> None:
    """Remove the model's file from the store and from this host's data folder."""
    try:
        store().delete(store().key(paths().model_file(model_id)))
    except OSError:
        log.warning("could not delete the file of model %s from %r", model_id, store(),
                    exc_info=True)


def delete_folder(folder: Path) -> None:
    """Remove a corpus's or job's folder (``paths().corpus_dir(id)``, ``job_dir(id)``) from the
    store and from this host's data folder; a failure is logged (its row is gone already)."""
    try:
        store().delete_tree(store().key(folder))
    except OSError:
        log.warning("could not delete %s from %r", folder, store(), exc_info=True)
