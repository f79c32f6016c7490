"""Deleting from the pages: each delete link opens a page that says what will go, and only its
button (``confirm=yes``, with the CSRF token) deletes. What goes with what: ``webapp.deletion``.
"""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from webapp import deletion
from webapp.actions import get_or_404
from webapp.errors import UserError
from webapp.forms import ButtonForm
from webapp.records import JOB_FINAL_STATES, Corpus, Job, TrainedModel
from webapp.visitors import require_owner

bp = Blueprint("deletion", __name__)


def _confirmed() -> bool:
    """The confirmation page's button was pressed (a stray or old form shows the page first)."""
    if request.method == "GET":
        return False
    if not ButtonForm().validate_on_submit():
        raise UserError("The form could not be read; reload the page and try again.")
    return request.form.get("confirm") == "yes"


def _ask(title: str, action: str, back: str, goes: list[str], notes: list[str] = (),
         links: list[tuple[str, str]] = ()):
    return render_template("deletion/confirm.html", title=title, action=action, back=back,
                           goes=goes, notes=list(notes), links=list(links), form=ButtonForm())


@bp.route("/corpora/<corpus_id>/delete", methods=["GET", "POST"])
def corpus(corpus_id: str):
    """Delete a corpus and everything made from it, once confirmed."""
    row = get_or_404(Corpus, corpus_id, "corpus")
    require_owner(row, "corpus", "delete")
    if _confirmed():
        deletion.delete_corpus(row.id)
        return redirect(url_for("home.index"))
    contents = deletion.corpus_contents(row)
    goes = [f"the uploaded file ({row.size_bytes:,} bytes) and its preprocessed copies"]
    if contents.jobs:
        goes.append(_count(len(contents.jobs), "training job") + " trained on it, with their "
                    "loss histories and checkpoints")
    if contents.models:
        goes.append(_count(len(contents.models), "trained model") + ": " +
                    ", ".join(m.name for m in contents.models))
    notes = []
    if contents.unfinished:
        notes.append(f"{_count(len(contents.unfinished), 'job')} still queued or running "
                     f"will be cancelled first.")
    if others := contents.not_mine():
        notes.append(f"{others} of these {'was' if others == 1 else 'were'} made by another "
                     f"browser.")
    return _ask(f"Delete the corpus “{row.name}”?", url_for("deletion.corpus", corpus_id=row.id),
                url_for("corpora.detail", corpus_id=row.id), goes, notes)


@bp.route("/jobs/<job_id>/delete", methods=["GET", "POST"])
def job(job_id: str):
    """Delete a training job (cancelling it first), once confirmed."""
    row = get_or_404(Job, job_id, "job")
    require_owner(row, "job", "delete")
    if _confirmed():
        deletion.delete_job(row.id)
        return redirect(url_for("home.index"))
    notes = [] if row.state in JOB_FINAL_STATES else [
        f"It is {row.state}: it will be cancelled first."]
    model = deletion.live_model(row)
    if model is not None:
        notes.append("Its trained model stays; delete it from its own page:")
    return _ask("Delete this training job?", url_for("deletion.job", job_id=row.id),
                url_for("jobs.detail", job_id=row.id),
                ["its settings, loss history and samples", "its checkpoint"], notes,
                [(url_for("models.playground_page", model_id=model.id), model.name)]
                if model is not None else [])


@bp.route("/models/<model_id>/delete", methods=["GET", "POST"])
def model(model_id: str):
    """Delete a trained model and its file, once confirmed."""
    row = get_or_404(TrainedModel, model_id, "model")
    require_owner(row, "model", "delete")
    if _confirmed():
        deletion.delete_model(row.id)
        return redirect(url_for("home.index"))
    notes = ["Its training job stays, and no longer offers the model."] if row.job_id else []
    return _ask(f"Delete the model “{row.name}”?", url_for("deletion.model", model_id=row.id),
                url_for("models.playground_page", model_id=row.id),
                [f"the model's file ({row.size_bytes:,} bytes), so it can no longer be played "
                 f"with or downloaded"], notes)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one}" if n == 1 else f"{n} {many or one + 's'}"
