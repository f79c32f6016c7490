"""A corpus's preprocessing choices: reading them from a form or JSON, suggesting them at upload,
the queue preprocessing goes to, and the vocabulary a job on the corpus really gets.

The choices are rnncore's ``TextOptions`` (one sentence per row, already tokenized, lowercase),
stored on the corpus row as a dict only when they differ from the tutorial's defaults, so the
files of corpora preprocessed before the choices existed keep their names.
"""
from __future__ import annotations

from dataclasses import replace

from flask import current_app

from rnncore.config import ModelConfig
from rnncore.corpus import CsvPreview
from rnncore.text import TextOptions, suggest_options
from webapp.errors import UserError
from webapp.settings import QUEUE_CPU, QUEUE_PREPROCESS

OPTION_NAMES = ("one_sentence_per_row", "pretokenized", "lowercase")
PREVIEW_ROWS = 5  # rows of the upload shown on the corpus page
WAITING = ("Waiting for the preprocessing worker (it preprocesses one corpus at a time and never "
           "waits for training jobs)")
WAITING_ON_CPU = ("Waiting for a worker: none listens on the preprocessing queue, so this waits "
                  "for a training worker's free slot")


def parse_options(data: dict) -> dict | None:
    """The choices in a JSON body or form (booleans; a form's missing checkbox is False)."""
    values = {}
    for name in OPTION_NAMES:
        if name in data:
            value = data[name]
            if isinstance(value, str) and value.lower() in ("y", "yes", "true", "on", "1"):
                value = True
            elif isinstance(value, str) and value.lower() in ("", "n", "no", "false", "off", "0"):
                value = False
            values[name] = value
    try:
        options = TextOptions.from_dict(values)
    except ValueError as exc:
        raise UserError(f"The preprocessing choices {exc}.",
                        errors={n: str(exc) for n in values}) from None
    return stored(options)


def stored(options: TextOptions) -> dict | None:
    """What the corpus row keeps: None for the tutorial's defaults."""
    return None if options == TextOptions() else options.to_dict()


def chosen(corpus) -> TextOptions:
    return TextOptions.from_dict(corpus.text_options)


def upload_preview(preview: CsvPreview) -> dict:
    """What the corpus page shows of an upload, read once: first rows, a suggestion per column."""
    suggestions = {}
    for i, column in enumerate(preview.columns):
        suggestions[column] = suggest_options(row[i] for row in preview.rows if i < len(row))
    return {"columns": list(preview.columns), "rows": preview.rows[:PREVIEW_ROWS],
            "text_column": preview.text_column, "message": preview.message,
            "suggestions": suggestions, "plain_text": preview.plain_text}


def preprocess_queue() -> tuple[str, str]:
    """The queue to send preprocessing to, and the waiting message that goes with it.

    "preprocess", unless the last look at the workers found some on "cpu" and none on
    "preprocess" (workers from before that queue existed): then "cpu", saying so.
    """
    listening = current_app.extensions["rnnlab_queue"].worker_queues(wait=False)
    if listening and QUEUE_CPU in listening and QUEUE_PREPROCESS not in listening:
        return QUEUE_CPU, WAITING_ON_CPU
    return QUEUE_PREPROCESS, WAITING


def fit_vocabulary(model_config: ModelConfig, report: dict) -> tuple[ModelConfig, str]:
    """The job's vocabulary as the corpus can give it, and a remark when it is less than asked."""
    most = int(report.get("max_vocabulary_size") or 0)
    if not most or model_config.vocabulary_size <= most:
        return model_config, ""
    remark = (f"the corpus has only {most:,} different words with the markers and UNKNOWN_TOKEN, "
              f"so that is the vocabulary, not {model_config.vocabulary_size:,}")
    return replace(model_config, vocabulary_size=most), remark
