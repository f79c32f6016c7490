"""Importing a model: the tutorial's own ``.npz`` (U, V, W, as ``save_model_parameters_theano``
wrote them) with its vocabulary file, or a model rnnlab let someone download.

The files are read with rnncore's loaders (``load_checkpoint``, ``load_tutorial_model``; never
unpickling), checked the way the playground will use them (a LanguageModel is built from them),
and saved again as an rnnlab model file under a new id, so the playground, download and delete
work on it as on a trained one. It belongs to no job and no corpus. What is wrong with a file is
said in words, naming the file as it was uploaded, never a server path. A compressed member that
would unpack to more than MAX_UNPACKED_BYTES is refused before anything is unpacked.
"""
from __future__ import annotations

import logging
import shutil
import zipfile
from pathlib import Path

from werkzeug.datastructures import FileStorage

from rnncore.checkpoint import CheckpointError, load_checkpoint, load_tutorial_model, save_checkpoint
from rnncore.generate import LanguageModel
from webapp import actions, files
from webapp.errors import UserError
from webapp.extensions import db
from webapp.records import TrainedModel, new_id, storage_is_full, storage_problem
from webapp.visitors import current_owner

log = logging.getLogger(__name__)

MAX_UNPACKED_BYTES = 1024**3  # a model's arrays once unpacked (8000 x 100 floats are 3 MB)
MAX_NAME_CHARS = 120


def _refuse(message: str, field: str = "model") -> UserError:
    return UserError(message, errors={field: message})


def _check_zip(path: Path, shown: str) -> None:
    """An .npz is a zip of arrays: refuse anything else, and members that unpack too large."""
    if not zipfile.is_zipfile(path):
        raise _refuse(f"{shown} is not an .npz file (a zip of numpy arrays), so it cannot be a "
                      f"model. Upload the .npz that rnnlab or the tutorial saved.")
    with zipfile.ZipFile(path) as archive:
        unpacked = sum(member.file_size for member in archive.infolist())
    if unpacked > MAX_UNPACKED_BYTES:
        raise _refuse(f"{shown} would unpack to {unpacked / 1024**3:.1f} GB, more than the "
                      f"{MAX_UNPACKED_BYTES / 1024**3:.0f} GB a model may take here.")


def _has_member(path: Path, name: str) -> bool:
    with zipfile.ZipFile(path) as archive:
        return f"{name}.npy" in archive.namelist()


def _load(model_path: Path, shown: str, vocabulary_path: Path | None, vocabulary_shown: str):
    """The Checkpoint in the uploaded files; UserError in words for what is wrong with them."""
    _check_zip(model_path, shown)
    own = _has_member(model_path, "format")  # rnnlab's own files say which format they are
    if not own and vocabulary_path is None:
        raise _refuse(f"{shown} holds no vocabulary: for the tutorial's U, V and W file, upload "
                      f"its vocabulary file too (one word per line, or a JSON list).",
                      "vocabulary")
    try:
        checkpoint = (load_checkpoint(model_path) if own
                      else load_tutorial_model(model_path, vocabulary_path))
        if own:  # as the playground will read it
            LanguageModel.of_checkpoint(checkpoint, model_path)
        else:
            LanguageModel.from_params(checkpoint.model_params, checkpoint.vocabulary)
    except (CheckpointError, ValueError) as exc:
        # rnncore names the files by their paths here; the person knows them by their names.
        message = str(exc).replace(str(model_path), shown)
        if vocabulary_path is not None:
            message = message.replace(str(vocabulary_path), vocabulary_shown)
        raise _refuse(f"This model cannot be imported: {message}.") from None
    return checkpoint


def _save_upload(upload: FileStorage, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    upload.save(target)


def import_model(model_file: FileStorage | None, vocabulary_file: FileStorage | None = None,
                 name: str | None = None) -> TrainedModel:
    """Make a model from uploaded files (see the module docstring); return its row."""
    if model_file is None or not model_file.filename:
        raise _refuse("Choose the model's .npz file to import.")
    has_vocabulary = vocabulary_file is not None and bool(vocabulary_file.filename)
    shown = actions.display_name(model_file.filename, "the model file")
    vocabulary_shown = actions.display_name(vocabulary_file.filename if has_vocabulary else "",
                                            "the vocabulary file")
    model_id = new_id()
    work = files.paths().root / "imports" / model_id
    model_path = files.paths().model_file(model_id)
    try:
        _save_upload(model_file, work / "model.npz")
        if has_vocabulary:
            _save_upload(vocabulary_file, work / "vocabulary.txt")
        checkpoint = _load(work / "model.npz", shown,
                           work / "vocabulary.txt" if has_vocabulary else None, vocabulary_shown)
        state = {k: v for k, v in checkpoint.state.items()
                 if k not in ("optimizer_state", "rng_state", "best_params")}
        model_path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(model_path, checkpoint.model_params, checkpoint.vocabulary,
                        checkpoint.model_config, checkpoint.train_config, state)
        files.store().put_file(model_path)
    except OSError as exc:
        log.error("could not store an imported model: %s", exc)
        model_path.unlink(missing_ok=True)
        message = storage_problem(exc, "the model")
        raise UserError(message, status=507 if storage_is_full(exc) else 500) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    try:
        return _record(model_id, model_path, checkpoint, name or shown)
    except BaseException:
        db.session.rollback()
        files.delete_model_file(model_id)
        raise


def _record(model_id: str, model_path: Path, checkpoint, name: str) -> TrainedModel:
    best = checkpoint.state.get("best") or {}
    config = checkpoint.model_config
    model = TrainedModel(
        id=model_id, job_id=None, corpus_id=None,
        name=" ".join(name.split())[:MAX_NAME_CHARS] or "imported model",
        model_config=config.to_dict(),
        train_config=checkpoint.train_config.to_dict() if checkpoint.train_config else {},
        valid_perplexity=best.get("valid_perplexity"), valid_loss=best.get("valid_loss"),
        best_epoch=best.get("epoch"), baselines=checkpoint.state.get("baselines") or None,
        tokens_seen=int(checkpoint.state.get("tokens_seen") or 0),
        size_bytes=model_path.stat().st_size, owner=current_owner(create=True))
    db.session.add(model)
    db.session.commit()
    return model
