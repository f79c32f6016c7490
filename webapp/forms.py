"""The HTML forms (Flask-WTF, so each carries a CSRF token).

Numbers are text inputs of type "number" here and are checked by ``webapp.hyperparameters`` and
``webapp.playground``, the same code the JSON API uses, so a form and an API call get the same
answer for the same values. ``add_errors`` puts those answers back beside their fields.
"""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from webapp.hyperparameters import FIELDS


def _number(label: str, description: str = "", default=None, **bounds) -> StringField:
    render = {"type": "number", "step": bounds.pop("step", "any"), **bounds}
    return StringField(label, description=description, default=default, render_kw=render,
                       validators=[Optional()])


class UploadForm(FlaskForm):
    file = FileField("CSV or text file",
                     validators=[FileRequired("Choose a CSV or text file to upload.")],
                     description="UTF-8. A CSV: a header row, then one text per row. A .txt: "
                                 "each paragraph is one text (each line, without blank lines).",
                     render_kw={"accept": ".csv,.txt,text/csv,text/plain"})
    name = StringField("Name (optional)", validators=[Optional(), Length(max=120)],
                       description="Shown in lists; the file's name when empty.")


class ImportForm(FlaskForm):
    model = FileField("Model file (.npz)", validators=[FileRequired("Choose the model's .npz file.")],
                      description="A model downloaded from rnnlab, or the tutorial's "
                                  "trained-model-theano.npz (U, V and W).",
                      render_kw={"accept": ".npz"})
    vocabulary = FileField("Vocabulary file (for the tutorial's .npz)",
                           description="One word per line in the model's order, or a JSON list; "
                                       "rnnlab's own files carry theirs.")
    name = StringField("Name (optional)", validators=[Optional(), Length(max=120)],
                       description="Shown in lists; the file's name when empty.")


class PreprocessForm(FlaskForm):
    column = SelectField("Text column", choices=[], validate_choice=False,
                         description="The column that holds the text (detected by default).")
    vocabulary_size = _number("Vocabulary size",
                              "Words kept; the report compares 2,000 to 16,000 words and shows "
                              "how many become UNKNOWN_TOKEN at each.",
                              default="8000", min=50, max=20000, step=1)
    one_sentence_per_row = BooleanField(
        "Each row is one sentence", description="Do not split rows into sentences.")
    pretokenized = BooleanField(
        "The text is already tokenized (split on spaces)",
        description="Words are separated by spaces as they are; NLTK's tokenizer is not used.")
    lowercase = BooleanField("Lowercase the text", default=True,
                             description="As in the tutorial; markers such as <unk> keep their case.")


class ButtonForm(FlaskForm):
    """A form that is only a button (and its CSRF token)."""


class ContinueForm(FlaskForm):
    epochs = _number("More epochs", "Trains on from the last checkpoint, as a new job; this "
                     "one and its model stay as they are.", default="5", min=1, max=200, step=1)


class NameForm(FlaskForm):
    name = StringField("Name of this run", validators=[Optional(), Length(max=120)],
                       description="Shown on cards and in the corpus's comparison of runs.")


class SampleForm(ButtonForm):
    vocabulary_size = StringField(default="8000", validators=[Optional()])


def _train_form_class() -> type:
    attrs = {"corpus_id": SelectField("Corpus", choices=[], validate_choice=False,
                                      description="A preprocessed corpus to train on."),
             "name": StringField("Name of this run (optional)",
                                 validators=[Optional(), Length(max=120)],
                                 description="Shown on cards and when comparing runs.")}
    for field in FIELDS:
        if field.choices:
            attrs[field.name] = SelectField(field.label, choices=list(field.choices),
                                            default=field.default, description=field.help)
        else:
            step = 1 if field.kind is int else "any"
            attrs[field.name] = _number(field.label, field.help, default=str(field.default),
                                        min=field.lo, max=field.hi, step=step)
    return type("TrainForm", (FlaskForm,), attrs)


TrainForm = _train_form_class()


def _mix_field(form_id: str):
    # The page shows the three forms together, so each checkbox needs its own HTML id.
    return BooleanField("Mix with the trigram counter", id=form_id, default=False,
                        description="The network's probabilities mixed with the counter's, "
                                    "by the weight that fitted the validation split best.")


class GenerateForm(FlaskForm):
    prefix = StringField("Prefix", validators=[Optional(), Length(max=2000)],
                         description="The start of a sentence; the model continues it.")
    num_samples = _number("Samples", default="3", min=1, max=10, step=1)
    temperature = _number("Temperature", "Below 1: safer words; above 1: more surprising.",
                          default="1.0", min=0.05, max=5)
    top_k = _number("Top-k", "Sample only among the k most probable words (empty: all).",
                    min=1, step=1)
    max_length = _number("Max words", default="20", min=1, max=100, step=1)
    seed = _number("Seed", "The same seed gives the same samples (empty: random).", min=0,
                   step=1)
    mix = _mix_field("generate_mix")


class NextWordsForm(FlaskForm):
    # Its own HTML id: the page shows this form beside GenerateForm, which has a prefix too.
    prefix = StringField("Prefix", id="next_prefix", validators=[Optional(), Length(max=2000)])
    k = _number("How many", default="10", min=1, max=50, step=1)
    mix = _mix_field("next_mix")


class ScoreForm(FlaskForm):
    sentences = TextAreaField("Sentences, one per line", validators=[Optional()],
                              description="Ranked by probability, with each word's surprisal.")
    mix = _mix_field("score_mix")


class HiddenStatesForm(FlaskForm):
    text = StringField("A sentence", validators=[Optional(), Length(max=2000)],
                       description="Its hidden state after each word is drawn, units by words.")


class NearestWordsForm(FlaskForm):
    word = StringField("A word", validators=[Optional(), Length(max=100)],
                       description="The words whose input embeddings point the same way.")
    # Its own HTML id: the page has NextWordsForm's k too.
    k = StringField("How many", id="nearest_k", default="10", validators=[Optional()],
                    render_kw={"type": "number", "step": 1, "min": 1, "max": 50})


def add_errors(form: FlaskForm, errors: dict[str, str]) -> list[str]:
    """Attach per-field messages to the form; return those that belong to no field."""
    loose = []
    for name, message in errors.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + [message]
        else:
            loose.append(f"{name}: {message}")
    return loose
