"""The home page: corpora, jobs with live status, trained models."""
from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select

from webapp.extensions import db
from webapp.forms import SampleForm
from webapp.records import Corpus, Job, TrainedModel
from webapp.serialize import job_dict

bp = Blueprint("home", __name__)

LIST_LIMIT = 100


@bp.get("/")
def index():
    """Everything at a glance."""
    corpora = db.session.scalars(
        select(Corpus).order_by(Corpus.created_at.desc()).limit(LIST_LIMIT)).all()
    jobs = db.session.scalars(select(Job).order_by(Job.created_at.desc()).limit(LIST_LIMIT)).all()
    models = db.session.scalars(
        select(TrainedModel).order_by(TrainedModel.created_at.desc()).limit(LIST_LIMIT)).all()
    names = {c.id: c.name for c in corpora}
    return render_template("home/index.html", corpora=corpora, models=models,
                           jobs=[job_dict(j) for j in jobs], corpus_names=names,
                           sample_form=SampleForm())
