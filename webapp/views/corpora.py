"""Corpora: upload a CSV, see its first rows, choose the column, preprocess, read the report."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from rnncore.corpus import preview_csv
from rnncore.errors import CorpusError
from webapp import actions, files
from webapp.errors import UserError
from webapp.forms import PreprocessForm, SampleForm, UploadForm, add_errors
from webapp.records import Corpus

bp = Blueprint("corpora", __name__, url_prefix="/corpora")


@bp.get("/upload")
def upload():
    """The upload form."""
    return render_template("corpora/upload.html", form=UploadForm(), sample_form=SampleForm())


@bp.post("/upload")
def upload_post():
    """Store the file and show its preview, or say what is wrong with it."""
    form = UploadForm()
    if form.validate_on_submit():
        try:
            corpus = actions.save_upload(form.file.data, form.name.data)
        except UserError as exc:
            add_errors(form, exc.errors or {"file": exc.message})
        else:
            return redirect(url_for("corpora.detail", corpus_id=corpus.id))
    return render_template("corpora/upload.html", form=form, sample_form=SampleForm()), 400


@bp.post("/sample")
def sample():
    """Build and preprocess the sample corpus."""
    form = SampleForm()
    if not form.validate_on_submit():
        raise UserError("The form could not be read; reload the page and try again.")
    corpus = actions.create_sample_corpus(form.vocabulary_size.data or 8000)
    return redirect(url_for("corpora.detail", corpus_id=corpus.id))


def _preview(corpus: Corpus):
    """The first rows, or the reason they cannot be shown."""
    source = files.corpus_source(corpus.id)
    if source is None:
        return None, None
    try:
        return preview_csv(source), None
    except CorpusError as exc:
        return None, str(exc)


def _render_detail(corpus: Corpus, form: PreprocessForm | None = None, status: int = 200):
    preview, preview_error = _preview(corpus)
    if form is None:
        form = PreprocessForm(column=corpus.text_column, vocabulary_size=str(corpus.vocabulary_size))
    form.column.choices = [(c, c) for c in corpus.columns or []]
    return render_template("corpora/detail.html", corpus=corpus, preview=preview,
                           preview_error=preview_error, form=form,
                           can_preprocess=corpus.state in actions.REPREPROCESSABLE), status


@bp.get("/<corpus_id>")
def detail(corpus_id: str):
    """A corpus: preview, column choice, preprocessing progress and report."""
    return _render_detail(actions.get_or_404(Corpus, corpus_id, "corpus"))


@bp.post("/<corpus_id>/preprocess")
def preprocess(corpus_id: str):
    """Queue preprocessing with the chosen column and vocabulary size."""
    corpus = actions.get_or_404(Corpus, corpus_id, "corpus")
    form = PreprocessForm()
    if form.validate_on_submit():
        try:
            actions.request_preprocessing(corpus.id, form.column.data, form.vocabulary_size.data)
        except UserError as exc:
            if exc.status != 400:
                raise
            add_errors(form, exc.errors or {"column": exc.message})
        else:
            return redirect(url_for("corpora.detail", corpus_id=corpus.id))
    return _render_detail(corpus, form, 400)
