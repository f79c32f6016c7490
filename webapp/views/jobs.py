"""Training jobs: the settings form with a time estimate, the live job page, cancelling."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from sqlalchemy import select

from webapp import actions, continuation, runs
from webapp.engines import engine_choice
from webapp.errors import UserError
from webapp.estimate import describe_seconds
from webapp.extensions import db
from webapp.forms import ButtonForm, ContinueForm, NameForm, TrainForm, add_errors
from webapp.hyperparameters import FIELDS, InvalidInput
from webapp.records import Corpus, Job
from webapp.serialize import job_dict
from webapp.visitors import may_change
from webapp.workers import missing_worker_note

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


def _ready_corpora() -> list[Corpus]:
    return db.session.scalars(select(Corpus).where(Corpus.state == "ready").order_by(
        Corpus.created_at.desc())).all()


def _estimate_text(corpus: Corpus | None, values: dict) -> str | None:
    if corpus is None:
        return None
    try:
        _, _, guess = actions.plan_job(corpus, values)
    except InvalidInput as exc:
        return " ".join(exc.errors.values())
    return (f"About {guess['tokens_per_second']:,.0f} words per second ({guess['note']}): "
            f"{describe_seconds(guess['epoch_seconds'])} per epoch, "
            f"{describe_seconds(guess['total_seconds'])} in all.")


def _render_form(form, corpora: list[Corpus], status: int = 200, loose: list[str] = ()):
    form.corpus_id.choices = [(c.id, f"{c.name} ({(c.report or {}).get('tokens', 0):,} words)")
                              for c in corpora]
    chosen = next((c for c in corpora if c.id == form.corpus_id.data), None)
    values = {f.name: getattr(form, f.name).data for f in FIELDS}
    engines = engine_choice(wait=False)
    form.engine.choices = list(engines.engines)
    return render_template("jobs/new.html", form=form, corpora=corpora, fields=FIELDS,
                           estimate_text=_estimate_text(chosen, values),
                           engine_note=engines.note, worker_note=missing_worker_note(),
                           loose_errors=list(loose)), status


@bp.get("/new")
def new():
    """The training form."""
    corpora = _ready_corpora()
    corpus_id = request.args.get("corpus") or (corpora[0].id if corpora else None)
    chosen = next((c for c in corpora if c.id == corpus_id), None)
    # The vocabulary the corpus was preprocessed at: the tutorial's 8000 is more words than a
    # small corpus has, which the form would refuse.
    start = {"vocabulary_size": str(chosen.vocabulary_size)} if chosen else {}
    form = TrainForm(corpus_id=corpus_id, **start)
    return _render_form(form, corpora)


@bp.post("/new")
def create():
    """Queue a job and go to its page."""
    corpora = _ready_corpora()
    form = TrainForm()
    form.corpus_id.choices = [(c.id, c.name) for c in corpora]
    loose = []
    if form.validate_on_submit():
        values = {f.name: getattr(form, f.name).data for f in FIELDS}
        try:
            job = actions.create_job(form.corpus_id.data or "", values,
                                     runs.clean_name(form.name.data))
        except UserError as exc:
            if exc.status not in (400, 404, 409):
                raise
            loose = add_errors(form, exc.errors) if exc.errors else [exc.message]
        else:
            return redirect(url_for("jobs.detail", job_id=job.id))
    return _render_form(form, corpora, 400, loose)


def _render_detail(job: Job, continue_form=None, status: int = 200, name_form=None):
    corpus = db.session.get(Corpus, job.corpus_id)
    shown = job_dict(job, history_since=0)
    shown["can_continue"] = continuation.checkpoint_kept(job)
    if continue_form is None:
        again = min(int(job.train_config.get("nepoch", 5)), 20)  # as many again, at most 20
        continue_form = ContinueForm(formdata=None, epochs=str(again))
    name_form = name_form or NameForm(formdata=None, name=job.name or "")
    return render_template("jobs/detail.html", job=shown, corpus=corpus,
                           cancel_form=ButtonForm(), continue_form=continue_form,
                           name_form=name_form, fields=FIELDS, can_change=may_change(job)), status


@bp.get("/<job_id>")
def detail(job_id: str):
    """A job's live page."""
    return _render_detail(actions.get_or_404(Job, job_id, "job"))


@bp.post("/<job_id>/name")
def rename(job_id: str):
    """Name the run (its owner only), then back to its page."""
    job = actions.get_or_404(Job, job_id, "job")
    form = NameForm()
    if form.validate_on_submit():
        runs.rename_job(job.id, form.name.data)
        return redirect(url_for("jobs.detail", job_id=job.id))
    return _render_detail(job, status=400, name_form=form)


@bp.post("/<job_id>/continue")
def continue_training(job_id: str):
    """Start a job that trains this one's run for more epochs, and go to its page."""
    job = actions.get_or_404(Job, job_id, "job")
    form = ContinueForm()
    if form.validate_on_submit():
        try:
            new = continuation.continue_job(job.id, form.epochs.data)
        except UserError as exc:
            if exc.status not in (400, 409, 429):
                raise
            add_errors(form, exc.errors or {"epochs": exc.message})
            return _render_detail(job, form, exc.status)
        return redirect(url_for("jobs.detail", job_id=new.id))
    return _render_detail(job, form, 400)


@bp.post("/<job_id>/cancel")
def cancel(job_id: str):
    """Cancel a queued job, or ask its worker to stop."""
    if not ButtonForm().validate_on_submit():
        raise UserError("The form could not be read; reload the page and try again.")
    actions.cancel_job(job_id)
    return redirect(url_for("jobs.detail", job_id=job_id))
