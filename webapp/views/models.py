"""Trained models: the playground (sampling, next words, scoring), download (deleting is in
``webapp.views.deletion``)."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, send_file, url_for

from webapp import actions, files, memorised, model_import, playground
from webapp.errors import UserError
from webapp.forms import (GenerateForm, HiddenStatesForm, ImportForm, NearestWordsForm,
                           NextWordsForm, ScoreForm, add_errors)
from webapp.records import TrainedModel
from webapp.serialize import model_dict
from webapp.visitors import may_change

bp = Blueprint("models", __name__, url_prefix="/models")
# Surprisal colours, the same in the server-rendered answers and the page's script.
bp.add_app_template_global(playground.bit_band, "bit_band")
bp.add_app_template_global(playground.BIT_BANDS, "bit_bands")
bp.add_app_template_global(playground.bit_band_labels, "bit_band_labels")
bp.add_app_template_global(playground.activation_band, "activation_band")
bp.add_app_template_global(playground.ACTIVATION_BANDS, "activation_bands")

QUESTIONS = {"generate": (GenerateForm, playground.generate),
             "next-words": (NextWordsForm, playground.next_words),
             "score": (ScoreForm, playground.score),
             "hidden-states": (HiddenStatesForm, playground.hidden_states),
             "nearest-words": (NearestWordsForm, playground.nearest_words)}


def language_model(model: TrainedModel):
    """The model, loaded once per web process (LRU by id) from the artifact store."""
    cache = current_app.extensions["rnnlab_models"]
    return cache.get(model.id, files.model_path(model.id))


def _render(model: TrainedModel, forms: dict | None = None, results: dict | None = None,
            status: int = 200):
    forms = forms or {}
    return render_template(
        "models/playground.html", model=model,
        generate_form=forms.get("generate") or GenerateForm(formdata=None),
        next_form=forms.get("next-words") or NextWordsForm(formdata=None),
        score_form=forms.get("score") or ScoreForm(formdata=None), results=results or {},
        states_form=forms.get("hidden-states") or HiddenStatesForm(formdata=None),
        nearest_form=forms.get("nearest-words") or NearestWordsForm(formdata=None),
        comparison=model_dict(model)["comparison"], can_change=may_change(model),
        can_mix=_can_mix(model)), status


def _can_mix(model: TrainedModel) -> bool:
    """Whether the model file holds a trigram counter to mix with (see LanguageModel.mixed)."""
    try:
        return language_model(model).counter is not None
    except UserError:  # a missing or damaged file: the questions will say so
        return False


@bp.get("/import")
def import_page():
    """The form that imports a model file."""
    return render_template("models/import.html", form=ImportForm())


@bp.post("/import")
def import_post():
    """Import the uploaded model and go to its playground, or say what is wrong with it."""
    form = ImportForm()
    if form.validate_on_submit():
        try:
            model = model_import.import_model(form.model.data, form.vocabulary.data,
                                              form.name.data)
        except UserError as exc:
            if exc.status != 400:
                raise
            add_errors(form, exc.errors or {"model": exc.message})
        else:
            return redirect(url_for("models.playground_page", model_id=model.id))
    return render_template("models/import.html", form=form), 400


@bp.get("/<model_id>")
def playground_page(model_id: str):
    """The playground of one model."""
    return _render(actions.get_or_404(TrainedModel, model_id, "model"))


@bp.post("/<model_id>/<question>")
def ask(model_id: str, question: str):
    """Answer one playground form without JavaScript (the page's script uses the API)."""
    model = actions.get_or_404(TrainedModel, model_id, "model")
    if question not in QUESTIONS:
        raise UserError(f"The playground has no {question!r}.", status=404)
    form_class, answer = QUESTIONS[question]
    form = form_class()
    if not form.validate_on_submit():
        return _render(model, {question: form}, status=400)
    try:
        result = answer(language_model(model), form.data)
    except UserError as exc:
        if exc.status != 400:
            raise
        add_errors(form, exc.errors or {"prefix": exc.message})
        return _render(model, {question: form}, status=400)
    except ValueError as exc:
        add_errors(form, {"prefix": str(exc)})
        return _render(model, {question: form}, status=400)
    results = {question: result}
    if question == "generate":  # and whether the samples copy the corpus
        results["copies"] = memorised.check(model, language_model(model), {
            "texts": [s["text"] for s in result["samples"]]})
    return _render(model, {question: form}, results)


@bp.get("/<model_id>/download")
def download(model_id: str):
    """The model as .npz: U, V, W, vocabulary and hyperparameters."""
    model = actions.get_or_404(TrainedModel, model_id, "model")
    path = files.model_path(model.id)  # UserError 404 when the file is missing
    return send_file(path, mimetype="application/octet-stream", as_attachment=True,
                     download_name=f"rnnlab-model-{model.id}.npz")
