"""Preprocessing a corpus in a worker: CSV -> rnncore.preprocess -> report on the corpus row.

``ensure_preprocessed`` is shared with training, which needs the corpus at its own vocabulary
size. The text is read once per (column, text options): into a base file whose vocabulary is
BASE_VOCABULARY_SIZE (or every word, if fewer), from which any smaller vocabulary is a
re-indexing (``PreprocessedCorpus.with_vocabulary_size``) that takes a moment, not a pass over
the text. The corpus's own size is also kept as a file of its own. ``PreprocessedCorpus.save``
writes under a temporary name and renames it into place, so two jobs asking for the same file at
once both end with a complete one. The upload comes from the artifact store and the preprocessed
files go back to it, so a worker on another host finds them done.

Preprocessing tasks arrive on their own queue ("preprocess", see ``worker.celery_app``), which
the Procfile's small preprocessing worker serves, so a corpus is never stuck behind training.
"""
from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from rnncore.errors import Cancelled, CorpusError
from rnncore.memorisation import NgramIndex
from rnncore.preprocess import PreprocessedCorpus, preprocess_csv
from rnncore.sample_corpus import write_sample_corpus
from rnncore.text import TextOptions
from webapp.artifacts import ArtifactMissing, ArtifactStore
from webapp.records import Corpus, DataPaths, storage_problem, utcnow
from worker.claims import Heartbeat, claim, guarded_update
from worker.context import WorkerContext

log = logging.getLogger(__name__)

# The largest vocabulary a job may ask for (webapp.hyperparameters holds the form's bound; a test
# holds the two equal): every job's vocabulary is then a re-indexing of the base file.
BASE_VOCABULARY_SIZE = 20_000
MISSING_UPLOAD = ("The uploaded file is not in the artifact store this worker reads. The web app "
                  "and every worker must share one store (RNNLAB_ARTIFACT_STORE); the "
                  "administrator should check their settings.")


def _load(store: ArtifactStore, path: Path) -> PreprocessedCorpus | None:
    """The preprocessed file at ``path``; None when there is none, or when it was made before
    markers were kept whole (its report has no vocabulary candidates): then the text is read
    again, once, and the file replaced."""
    key = store.key(path)
    if path.exists() or store.exists(key):
        corpus = PreprocessedCorpus.load(store.fetch(key))
        if "vocabulary_candidates" in corpus.report:
            return corpus
        log.info("%s was preprocessed by an older version; preprocessing again", path.name)
    return None


def _save(store: ArtifactStore, corpus: PreprocessedCorpus, path: Path) -> None:
    corpus.save(path)  # atomic: a full disk leaves neither a partial file nor a temporary one
    store.put_file(path, store.key(path))


def ensure_preprocessed(paths: DataPaths, corpus_id: str, vocabulary_size: int,
                        column: str | None, progress=None, should_stop=None,
                        store: ArtifactStore | None = None, text_options: dict | None = None,
                        keep: bool = False) -> PreprocessedCorpus:
    """The corpus preprocessed at ``vocabulary_size``: its own file, a re-indexing of the base
    file, or the text read now (into the base file).

    ``store`` (default: the data folder) is where the upload is read from and the results put;
    ``text_options`` are the corpus's (``Corpus.text_options``); ``keep`` also saves the result
    as its own file (the corpus's choice; a job of another size is re-indexed when it starts).
    """
    store = store or ArtifactStore(paths.root)
    target = paths.corpus_preprocessed(corpus_id, vocabulary_size, column, text_options)
    corpus = _load(store, target)
    if corpus is not None:
        return corpus
    base_path = paths.corpus_preprocessed(corpus_id, max(vocabulary_size, BASE_VOCABULARY_SIZE),
                                          column, text_options)
    base = _load(store, base_path)
    if base is None or not base.can_reindex(vocabulary_size):
        source = store.fetch(store.key(paths.corpus_source(corpus_id)))
        base = preprocess_csv(source, vocabulary_size=max(vocabulary_size, BASE_VOCABULARY_SIZE),
                              column=column, progress=progress, should_stop=should_stop,
                              options=TextOptions.from_dict(text_options))
        _save(store, base, base_path)
        # The memorisation check's index, made once from the text as read (every word kept).
        ngrams = paths.corpus_ngrams(corpus_id, column, text_options)
        NgramIndex.build(base.sentences, base.vocabulary).save(ngrams)
        store.put_file(ngrams, store.key(ngrams))
    corpus = base.with_vocabulary_size(vocabulary_size)
    if (keep or (target.exists() or store.exists(store.key(target)))) and target != base_path:
        _save(store, corpus, target)  # the corpus's own size, or an older version's file replaced
    return corpus


def write_sample_source(path: Path) -> None:
    """Build the sample corpus CSV at ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        write_sample_corpus(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class _CorpusProgress:
    """preprocess_csv's ``progress`` for a corpus row, written about once a second."""

    def __init__(self, session_factory: sessionmaker, corpus_id: str, token: str):
        self.args = (session_factory, Corpus, corpus_id, token)
        self.last = 0.0
        self.lost = False

    def __call__(self, fraction_done: float, message: str) -> None:
        now = time.monotonic()
        if now - self.last < 1.0 and fraction_done < 1.0:
            return
        self.last = now
        if not guarded_update(*self.args, fraction_done=float(fraction_done), message=message,
                              heartbeat_at=utcnow(), updated_at=utcnow()):
            self.lost = True

    def should_stop(self) -> bool:
        return self.lost


def _fail(ctx: WorkerContext, corpus_id: str, token: str, error: str) -> str:
    guarded_update(ctx.session_factory, Corpus, corpus_id, token, state="failed", error=error,
                   message=None, updated_at=utcnow())
    return "failed"


def run_preprocessing(ctx: WorkerContext, corpus_id: str) -> str:
    """Preprocess a queued corpus; return what happened ("ready", "failed", "skipped", "lost")."""
    token = claim(ctx.session_factory, Corpus, corpus_id, "preprocessing", ("preprocessing",),
                  extra={"fraction_done": 0.0, "error": None, "message": "Reading the file",
                         "updated_at": utcnow()}, stale_after_s=ctx.stale_after_s)
    if token is None:
        log.info("corpus %s is not waiting for preprocessing; nothing to do", corpus_id)
        return "skipped"
    with ctx.session() as session:
        corpus = session.get(Corpus, corpus_id)
    progress = _CorpusProgress(ctx.session_factory, corpus_id, token)
    source = ctx.paths.corpus_source(corpus_id)
    with Heartbeat(ctx.session_factory, Corpus, corpus_id, token):
        try:
            if corpus.source == "sample" and not ctx.store.exists(ctx.store.key(source)):
                write_sample_source(source)
                ctx.store.put_file(source)
            result = ensure_preprocessed(ctx.paths, corpus_id, corpus.vocabulary_size,
                                         corpus.text_column, progress, progress.should_stop,
                                         store=ctx.store, text_options=corpus.text_options,
                                         keep=True)
        except Cancelled:
            return "lost"
        except ArtifactMissing as exc:
            log.error("corpus %s: %s", corpus_id, exc)
            return _fail(ctx, corpus_id, token, MISSING_UPLOAD)
        except CorpusError as exc:
            return _fail(ctx, corpus_id, token, str(exc))
        except OSError as exc:  # disk full, data folder not writable
            log.error("corpus %s could not be written: %s", corpus_id, exc)
            return _fail(ctx, corpus_id, token, storage_problem(exc, "the preprocessed corpus"))
        except Exception as exc:
            log.exception("preprocessing corpus %s failed", corpus_id)
            return _fail(ctx, corpus_id, token, f"Preprocessing stopped on an unexpected error "
                         f"({type(exc).__name__}: {exc}). The worker's log has the details.")
    report = dict(result.report)
    # From now on the corpus's vocabulary is the one it really has (fewer words than asked for,
    # perhaps), which the training form then offers and every page shows.
    done = guarded_update(ctx.session_factory, Corpus, corpus_id, token, state="ready",
                          report=report, text_column=report.get("text_column"),
                          vocabulary_size=len(result.vocabulary),
                          size_bytes=source.stat().st_size if source.exists() else
                          corpus.size_bytes, fraction_done=1.0, message=None,
                          updated_at=utcnow())
    return "ready" if done else "lost"
