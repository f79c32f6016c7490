"""What the worker measures beside rnncore's own reports: at each evaluation, how the gradient
of the loss fades through time (``rnncore.gradients``), on a few validation sentences, added to
the evaluation's report before it is recorded (``JobEvent.gradient_norms``).

The probe stands in rnncore's ``callback`` in front of the checkpoint publisher. rnncore calls it
inside the evaluation, so the model's weights are those just evaluated; it only reads them, so a
run stays bit for bit the same with or without it. A failed measurement is logged, and the
evaluation recorded without it.
"""
from __future__ import annotations

import logging
import time

from rnncore.gradients import gradient_norms
from rnncore.vocabulary import SENTENCE_START

log = logging.getLogger(__name__)


class GradientProbe:
    """rnncore's ``callback``: evaluations get ``gradient_norms``, then ``inner`` gets them all."""

    def __init__(self, model, vocabulary, sentences, inner):
        self.model, self.vocabulary, self.sentences, self.inner = (model, vocabulary,
                                                                   sentences, inner)

    def __call__(self, report: dict) -> None:
        if report.get("event") == "evaluation" and self.sentences:
            started = time.monotonic()
            try:
                report = dict(report, gradient_norms=gradient_norms(
                    self.model.get_params(), self.sentences,
                    self.vocabulary.word_to_index[SENTENCE_START]))
            except Exception:  # a measurement must never stop the training it watches
                log.warning("the gradient measurement failed", exc_info=True)
            log.debug("gradient norms measured in %.2f s", time.monotonic() - started)
        self.inner(report)
