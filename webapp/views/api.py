"""The JSON API: everything the pages do, for scripts and for the pages' own JavaScript.

Cross-site protection: a request that changes something (POST, DELETE) must either carry a valid
CSRF token in the ``X-CSRFToken`` header (``GET /api/csrf-token`` hands one out with its session
cookie), or be JSON (``Content-Type: application/json``, which a cross-site HTML form cannot send)
and not come from another origin (the ``Origin`` header and ``Sec-Fetch-Site``, when present).
File uploads are multipart, so they need the token. See docs/api.md.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, current_app, request
from flask_wtf.csrf import generate_csrf, validate_csrf
from sqlalchemy import select
from wtforms.validators import ValidationError

from webapp import actions, continuation, deletion, memorised, model_import, playground, runs
from webapp import corpus_options
from webapp.engines import engine_choice
from webapp.errors import UserError
from webapp.extensions import db
from webapp.hyperparameters import FIELDS, InvalidInput
from webapp.records import JOB_FINAL_STATES, Corpus, Job, TrainedModel
from webapp.serialize import corpus_dict, job_dict, model_dict
from webapp.views.models import language_model
from webapp.workers import missing_worker_note

bp = Blueprint("api", __name__, url_prefix="/api")

LIST_LIMIT = 200
_EVENT_ID = re.compile(r"[0-9]{1,18}")


def _same_origin() -> bool:
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return False
    origin = request.headers.get("Origin")
    if not origin:
        return True
    here, there = urlsplit(request.host_url), urlsplit(origin)
    return (here.scheme, here.netloc) == (there.scheme, there.netloc)


@bp.before_request
def refuse_cross_site():
    """Let a change through only with a CSRF header, or as same-origin JSON."""
    if request.method in ("GET", "HEAD", "OPTIONS") or not current_app.config.get(
            "WTF_CSRF_ENABLED", True):
        return None
    token = request.headers.get("X-CSRFToken") or request.headers.get("X-CSRF-Token")
    if token:
        try:
            validate_csrf(token)
        except ValidationError as exc:
            raise UserError(f"The X-CSRFToken header is not valid ({exc}); get a fresh one from "
                            f"/api/csrf-token with the same session cookie.", status=400) from None
        return None
    if not request.is_json:
        raise UserError("Send JSON (Content-Type: application/json), or the X-CSRFToken header "
                        "from /api/csrf-token for uploads.", status=400)
    if not _same_origin():
        raise UserError("Requests from other sites are refused.", status=403)
    return None


def _json_body() -> dict:
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # json.loads recurses once per bracket; silent=True covers ValueError
        raise UserError("The JSON body is nested too deeply; send a flat JSON object.") from None
    if data is None and request.content_length:
        raise UserError("The body is not valid JSON.")
    if data is None:
        data = request.form.to_dict() if request.form else {}
    if not isinstance(data, dict):
        raise UserError("The body must be a JSON object.")
    return data


@bp.get("/csrf-token")
def csrf_token():
    """A CSRF token for the X-CSRFToken header (valid with this session's cookie)."""
    return {"csrf_token": generate_csrf()}


@bp.get("/hyperparameters")
def hyperparameters():
    """The training settings: defaults, bounds and explanations; the engines usable now."""
    engines = engine_choice(wait=False)
    return {"fields": [{"name": f.name, "label": f.label, "type": f.kind.__name__,
                        "default": f.default, "min": f.lo, "max": f.hi,
                        "choices": list(engines.engines if f.name == "engine" else f.choices),
                        "help": f.help} for f in FIELDS], "engine_note": engines.note,
            "worker_note": missing_worker_note()}


@bp.get("/corpora")
def list_corpora():
    """All corpora, newest first."""
    rows = db.session.scalars(select(Corpus).order_by(Corpus.created_at.desc()).limit(LIST_LIMIT))
    return {"corpora": [corpus_dict(c) for c in rows]}


@bp.post("/corpora")
def upload_corpus():
    """Upload a CSV or a .txt (multipart field ``file``, optional ``name``)."""
    corpus = actions.save_upload(request.files.get("file"), request.form.get("name"))
    return corpus_dict(corpus), 201


@bp.post("/corpora/sample")
def sample_corpus():
    """Build and preprocess the sample corpus."""
    data = _json_body()
    return corpus_dict(actions.create_sample_corpus(data.get("vocabulary_size", 8000))), 202


@bp.get("/corpora/<corpus_id>")
def get_corpus(corpus_id: str):
    """One corpus, with its report once preprocessed."""
    return corpus_dict(actions.get_or_404(Corpus, corpus_id, "corpus"))


@bp.delete("/corpora/<corpus_id>")
def delete_corpus(corpus_id: str):
    """Delete a corpus with its files and every job and model made from it."""
    return deletion.delete_corpus(corpus_id)


@bp.get("/corpora/<corpus_id>/runs")
def corpus_runs(corpus_id: str):
    """Every run on a corpus: settings, best perplexity, validation curve; the trigram lines."""
    return runs.corpus_runs(actions.get_or_404(Corpus, corpus_id, "corpus").id)


@bp.post("/corpora/<corpus_id>/preprocess")
def preprocess_corpus(corpus_id: str):
    """Queue preprocessing: ``column`` (default: detected), ``vocabulary_size`` (8000), and the
    choices ``one_sentence_per_row``, ``pretokenized``, ``lowercase`` (default: the corpus's)."""
    data = _json_body()
    choices = {k: data[k] for k in corpus_options.OPTION_NAMES if k in data}
    corpus = actions.request_preprocessing(corpus_id, data.get("column"),
                                           data.get("vocabulary_size", 8000), choices or None)
    return corpus_dict(corpus), 202


@bp.get("/jobs")
def list_jobs():
    """Jobs, newest first; ``?active=1`` for those not finished, failed or cancelled."""
    query = select(Job).order_by(Job.created_at.desc()).limit(LIST_LIMIT)
    if request.args.get("active") in ("1", "true"):
        query = query.where(Job.state.not_in(JOB_FINAL_STATES))
    return {"jobs": [job_dict(j) for j in db.session.scalars(query)]}


@bp.post("/jobs")
def create_job():
    """Queue a training job: ``corpus_id`` plus any of the training settings."""
    data = _json_body()
    corpus_id = data.pop("corpus_id", None)
    if not isinstance(corpus_id, str) or not corpus_id:
        raise UserError("Give the corpus_id to train on.", errors={"corpus_id": "is required"})
    name = runs.clean_name(data.pop("name", None))
    return job_dict(actions.create_job(corpus_id, data, name), history_since=0), 202


@bp.get("/jobs/<job_id>")
def get_job(job_id: str):
    """A job; with ``?since=N`` also its loss history after event N (0: all of it)."""
    since = request.args.get("since")
    # ASCII digits only ("²".isdigit() is true), and few enough to fit the database's integer.
    if since is not None and not _EVENT_ID.fullmatch(since):
        raise UserError("since must be an event id (a whole number).")
    job = actions.get_or_404(Job, job_id, "job")
    answer = job_dict(job, history_since=int(since) if since is not None else None)
    answer["can_continue"] = continuation.checkpoint_kept(job)
    return answer


@bp.patch("/jobs/<job_id>")
def rename_job(job_id: str):
    """Name a run (``{"name": "..."}``; empty or null takes the name away); its owner only."""
    data = _json_body()
    if "name" not in data:
        raise UserError("Send the run's new name as {\"name\": \"...\"}.",
                        errors={"name": "is required"})
    return job_dict(runs.rename_job(job_id, data["name"]))


@bp.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str):
    """Cancel a queued job, or ask its worker to stop."""
    return job_dict(actions.cancel_job(job_id))


@bp.post("/jobs/<job_id>/continue")
def continue_job(job_id: str):
    """Queue a new job that trains this ended job's run for ``epochs`` more epochs."""
    data = _json_body()
    return job_dict(continuation.continue_job(job_id, data.get("epochs")), history_since=0), 202


@bp.delete("/jobs/<job_id>")
def delete_job(job_id: str):
    """Delete a job (cancelling it first if it runs), its history and its checkpoint."""
    deletion.delete_job(job_id)
    return {"deleted": job_id}


@bp.get("/estimate")
def estimate():
    """Time per epoch for ``?corpus_id=`` and training settings, before starting."""
    args = request.args.to_dict()
    corpus = actions.get_or_404(Corpus, args.pop("corpus_id", ""), "corpus")
    if corpus.state != "ready":
        raise UserError("This corpus is not preprocessed yet.", status=409)
    try:
        _, _, guess = actions.plan_job(corpus, args)
    except InvalidInput as exc:
        return {"error": str(exc), "errors": exc.errors}, 400
    return guess


@bp.get("/models")
def list_models():
    """Trained models, newest first."""
    rows = db.session.scalars(
        select(TrainedModel).order_by(TrainedModel.created_at.desc()).limit(LIST_LIMIT))
    return {"models": [model_dict(m) for m in rows]}


@bp.post("/models")
def import_model():
    """Import a model (multipart ``model``, ``vocabulary`` for the tutorial's .npz, ``name``)."""
    model = model_import.import_model(request.files.get("model"), request.files.get("vocabulary"),
                                      request.form.get("name"))
    return model_dict(model), 201


@bp.get("/models/<model_id>")
def get_model(model_id: str):
    """One trained model."""
    return model_dict(actions.get_or_404(TrainedModel, model_id, "model"))


@bp.delete("/models/<model_id>")
def delete_model(model_id: str):
    """Delete a model and its file."""
    deletion.delete_model(model_id)
    return {"deleted": model_id}


def _ask(model_id: str, answer) -> dict:
    model = actions.get_or_404(TrainedModel, model_id, "model")
    try:
        return answer(language_model(model), _json_body())
    except ValueError as exc:
        raise UserError(str(exc)) from None


@bp.post("/models/<model_id>/generate")
def generate(model_id: str):
    """Continuations of ``prefix`` (num_samples, temperature, top_k, max_length, seed)."""
    return _ask(model_id, playground.generate)


@bp.post("/models/<model_id>/next-words")
def next_words(model_id: str):
    """The ``k`` most probable next words after ``prefix``."""
    return _ask(model_id, playground.next_words)


@bp.post("/models/<model_id>/hidden-states")
def hidden_states(model_id: str):
    """The hidden state after each word of ``text``: ``states`` (words x hidden_dim)."""
    return _ask(model_id, playground.hidden_states)


@bp.post("/models/<model_id>/nearest-words")
def nearest_words(model_id: str):
    """The ``k`` words nearest ``word`` by the cosine of their input embeddings."""
    return _ask(model_id, playground.nearest_words)


@bp.post("/models/<model_id>/memorised")
def memorised_runs(model_id: str):
    """For each of ``texts``, the longest run of words it shares with the model's corpus."""
    model = actions.get_or_404(TrainedModel, model_id, "model")
    return memorised.check(model, language_model(model), _json_body())


@bp.post("/models/<model_id>/score")
def score(model_id: str):
    """``sentences`` ranked by probability, with per-word surprisal in bits."""
    return _ask(model_id, playground.score)
