"""What keeps a run's own settings from ruining it: the best model so far, early stopping, rolling
back a diverged run, and the counting models it has to beat.

- The best evaluation (lowest validation loss) is remembered with its weights; that model is the
  one a finished run returns and a web page serves, while the last weights stay in the checkpoint
  only for resuming. ``patience`` evaluations without a better one stop the run early.
- A loss that turns NaN or rises far above uniform guessing sends the run back to its last
  checkpointed state (the same state a checkpoint file holds) with half the learning rate, as
  RNNLM does; after MAX_ROLLBACKS it fails with a sentence saying what happened.
- Before training, an interpolated Kneser-Ney trigram and an add-one unigram are fitted on the
  training split and scored on the validation split, over the same events the RNN predicts, so
  every page can say how the network compares with counting; at the end the chosen model and the
  trigram are mixed with the weight that fits the validation split (``rnncore.mixture``).
"""
from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass

from rnncore.generate import LanguageModel
from rnncore.mixture import fit_weight, rnn_log_probs
from rnncore.ngram import fit_kneser_ney, unigram_perplexity

log = logging.getLogger(__name__)

# Roll-backs a run may take before it fails: each halves the learning rate, so the third try
# runs at an eighth of the rate that first diverged.
MAX_ROLLBACKS = 3
# A batch whose loss per word is this many times uniform guessing (ln V) means the weights blew
# up; so does a whole training split's loss this many times it, once training has begun (a slow
# start may stay a little above ln V, so not any loss above it).
BATCH_DIVERGENCE_FACTOR = 2.0
EVALUATION_DIVERGENCE_FACTOR = 1.5
# A validation loss must improve by this much (nats per word) to count as a new best.
MIN_IMPROVEMENT = 1e-4


class Diverged(Exception):
    """Raised inside the loop; the loop rolls back or, out of tries, fails in words."""

    def __init__(self, loss_per_word: float, where: str):
        self.loss_per_word, self.where = loss_per_word, where
        super().__init__(f"loss per word {loss_per_word:.4g} {where}")


@dataclass
class Snapshot:
    """A run as a checkpoint holds it: weights, optimizer state, batch-order RNG and the state."""

    params: dict
    optimizer_state: dict
    rng_state: dict
    state: dict

    @classmethod
    def take(cls, model, state: dict, rng_state: dict) -> "Snapshot":
        return cls(model.get_params(), model.get_optimizer_state(), copy.deepcopy(rng_state),
                   copy.deepcopy(state))

    def restore(self, model) -> dict:
        """Put the weights and optimizer back; return a fresh copy of the state."""
        model.set_params(self.params)
        model.set_optimizer_state(self.optimizer_state)
        return copy.deepcopy(self.state)


def check_batch_loss(loss_per_word: float, uniform_loss: float, where: str) -> None:
    if not (math.isfinite(loss_per_word) and loss_per_word <= BATCH_DIVERGENCE_FACTOR * uniform_loss):
        raise Diverged(loss_per_word, where)


def check_evaluation_loss(loss_per_word: float, uniform_loss: float, trained: bool,
                          where: str) -> None:
    """Before any training the loss is about uniform guessing; after, it must stay near or below."""
    factor = EVALUATION_DIVERGENCE_FACTOR if trained else BATCH_DIVERGENCE_FACTOR
    limit = factor * uniform_loss
    if not (math.isfinite(loss_per_word) and loss_per_word <= limit):
        raise Diverged(loss_per_word, where)


def out_of_tries_message(rollbacks: list, error: Diverged, uniform_loss: float) -> str:
    lr = rollbacks[-1]["learning_rate"] if rollbacks else None
    tried = (f"; it went back to its last good checkpoint and halved the learning rate "
             f"{len(rollbacks)} times, down to {lr:g}") if rollbacks else ""
    return (f"training diverged {error.where}: the loss per word became "
            f"{error.loss_per_word:.4g} (guessing uniformly gives {uniform_loss:.2f}){tried}. "
            f"Try a smaller learning rate (for example {(lr or 0.01) / 4:g}) or gradient clipping")


def update_best(state: dict, valid_loss: float | None) -> bool:
    """Record this evaluation as the best if its validation loss is lower; True if it is."""
    history = state["loss_history"]
    best = state.get("best")
    if valid_loss is None or not math.isfinite(valid_loss):
        return False
    if best is not None and valid_loss > best["valid_loss"] - MIN_IMPROVEMENT:
        state["evaluations_since_best"] = state.get("evaluations_since_best", 0) + 1
        return False
    last = history[-1]
    state["best"] = {"epoch": last["epoch"], "examples_seen": last["examples_seen"],
                     "valid_loss": valid_loss, "valid_perplexity": math.exp(valid_loss)}
    state["evaluations_since_best"] = 0
    return True


def should_stop_early(state: dict, patience: int | None) -> bool:
    return patience is not None and state.get("evaluations_since_best", 0) >= patience


def counting_baselines(train: list, valid: list, vocabulary_size: int):
    """An interpolated Kneser-Ney trigram fitted on ``train`` (None without a validation split),
    and its validation perplexity with an add-one unigram's."""
    if not valid:
        return None, {}
    started = time.monotonic()
    trigram = fit_kneser_ney(train, vocabulary_size, order=3)
    result = {"trigram_perplexity": float(trigram.perplexity(valid)),
              "unigram_perplexity": float(unigram_perplexity(train, valid, vocabulary_size))}
    log.info("counting baselines on %d validation sentences in %.2f s: trigram %.1f, unigram %.1f",
             len(valid), time.monotonic() - started, result["trigram_perplexity"],
             result["unigram_perplexity"])
    return trigram, result


def mixture_on(params: dict, vocabulary, trigram, valid: list, novel=None) -> dict | None:
    """The RNN (these weights, smoothed by ``novel``) and the trigram mixed with the weight that
    fits ``valid`` best."""
    if trigram is None or not valid:
        return None
    lm = LanguageModel.from_params(params, vocabulary, novel)
    fitted = fit_weight(rnn_log_probs(lm, valid), trigram.log_probs(valid))
    return {"rnn_weight": fitted["rnn_weight"], "perplexity": fitted["mixture_perplexity"]}


