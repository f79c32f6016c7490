"""The training loop: the tutorial's ``train_with_sgd`` with minibatches, validation and resuming.

As in the tutorial, every ``evaluate_loss_after`` epochs the loss over the training sentences is
measured and the learning rate halved if it went up. On top of that: a held-out validation split
fixed by the seed (reported as perplexity), padded minibatches in a seeded random order, divergence
detection, throttled progress callbacks with a few sampled sentences at each evaluation,
cooperative cancellation, and atomic checkpoints from which a run resumes bit for bit: the
checkpoint holds the batch-order generator as it was when the epoch began plus how many batches of
that epoch are done, so a resumed run replays the same order and skips what was already learned.
"""
from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from rnncore import safeguards, timeline
from rnncore.batching import iter_batches
from rnncore.checkpoint import save_checkpoint
from rnncore.config import ModelConfig, TrainConfig
from rnncore.models import (BATCH_STREAM, DROPOUT_STREAM, SAMPLE_STREAM, model_config_of,
                            split_corpus)
from rnncore.errors import Cancelled, TrainingDiverged
from rnncore.evaluation import eval_batches, mean_loss, train_sample, validation_loss
from rnncore.generate import LanguageModel
from rnncore.novel_words import NovelWords
from rnncore.safeguards import Diverged, Snapshot
from rnncore.vocabulary import SENTENCE_START

log = logging.getLogger(__name__)

# Largest trigram counts a checkpoint keeps (bytes): about 1.5 million distinct n-grams.
MAX_TRIGRAM_BYTES = 24 * 1024**2
# During a loss evaluation, should_stop is polled this often (seconds), between batches.
EVAL_STOP_CHECK_S = 0.5


@dataclass
class TrainResult:
    """What a finished run returns; ``state`` is what the final checkpoint holds."""

    params: dict
    state: dict
    loss_history: list = field(default_factory=list)
    train_loss: float | None = None
    valid_loss: float | None = None
    valid_perplexity: float | None = None
    samples: list = field(default_factory=list)
    skipped_sentences: int = 0
    best_epoch: int | None = None  # the evaluation whose weights ``params`` are
    stopped_early: bool = False  # patience ran out before nepoch
    baselines: dict = field(default_factory=dict)  # counting models' validation perplexities


def _kept_counts(trigram) -> dict | None:
    """The trigram's arrays for every checkpoint (so that the model can be mixed with it), unless
    they would outweigh the network: a corpus of millions of words has millions of distinct
    trigrams, and a model file must stay small enough to download and import again."""
    if trigram is None:
        return None
    arrays = trigram.to_arrays()
    return arrays if sum(a.nbytes for a in arrays.values()) <= MAX_TRIGRAM_BYTES else None


class _Trainer:
    """One run of train_with_sgd; the state dict is exactly what a checkpoint stores."""

    def __init__(self, model, corpus, config, callback, should_stop, checkpoint_path,
                 vocabulary, model_config, progress_interval, num_samples):
        self.model, self.config = model, config.validate()
        self.callback, self.should_stop = callback, should_stop
        self.checkpoint_path, self.progress_interval = checkpoint_path, progress_interval
        self.vocabulary = vocabulary if vocabulary is not None else corpus.vocabulary
        if len(self.vocabulary) != model.word_dim:
            raise ValueError(f"the vocabulary has {len(self.vocabulary)} words but the model "
                             f"expects {model.word_dim}")
        self.model_config = model_config or model_config_of(model)
        self.num_samples = num_samples
        train, valid, self.skipped = split_corpus(corpus.sentences, config)
        self.X, self.Y = [s[:-1] for s in train], [s[1:] for s in train]
        self.train_tokens = sum(len(y) for y in self.Y)
        self.n_batches = math.ceil(len(self.X) / config.batch_size)
        self.train_eval = eval_batches(train_sample(train, config.seed), config.batch_size,
                                       model.dtype)
        self.novel = NovelWords.of_training(
            train, model.word_dim, never=[self.vocabulary.word_to_index[SENTENCE_START]])
        self.valid_eval = eval_batches(valid, config.batch_size, model.dtype)
        self.uniform_loss = math.log(model.word_dim)
        self.rng = np.random.default_rng([config.seed, BATCH_STREAM])
        self.corpus_size = {"sentences": len(corpus.sentences), "train_tokens": self.train_tokens}
        self.state = {"novel_words": self.novel.to_json() if self.novel else None,
                      "epoch": 0, "batch_index": 0, "learning_rate": config.learning_rate,
                      "examples_seen": 0, "tokens_seen": 0, "loss_history": [],
                      "epoch_loss": 0.0, "epoch_tokens": 0, "elapsed_seconds": 0.0,
                      "finished": False, "corpus": self.corpus_size, "best": None,
                      "evaluations_since_best": 0, "stopped_early": False, "rollbacks": [],
                      "baselines": {}}
        self.trigram, self.state["baselines"] = safeguards.counting_baselines(
            train, valid, model.word_dim)
        self.trigram_arrays = _kept_counts(self.trigram)
        self.valid = valid
        self.best_params: dict | None = None  # weights of the best evaluation so far
        self.samples: list[str] = []
        self.last_emit = -math.inf

    def resume(self, state: dict) -> None:
        if not state.get("rng_state") or "corpus" not in state:
            raise ValueError("this model file holds no training position, so it cannot be resumed")
        if state["corpus"] != self.corpus_size:
            raise ValueError("this checkpoint was trained on a different corpus or split; "
                             "resume it with the corpus and settings it started with")
        # A copy: the loss history grows in place and must not change the caller's dict.
        fresh = self.state
        self.state = copy.deepcopy({k: v for k, v in state.items() if k not in (
            "rng_state", "optimizer_state", "best_params", "trigram_arrays")})
        for key, value in fresh.items():  # checkpoints written before these were kept
            self.state.setdefault(key, value)
        self.state["finished"] = False
        self.best_params = state.get("best_params") or None
        self.rng.bit_generator.state = state["rng_state"]
        self.model.set_optimizer_state(state.get("optimizer_state") or {})

    # --- reporting ----------------------------------------------------------------------------

    def _progress(self, event: str, **extra) -> dict:
        st, now = self.state, time.monotonic()
        rate = self.tokens_this_run / max(now - self.started, 1e-9)
        total = self.train_tokens * self.config.nepoch
        last = st["loss_history"][-1] if st["loss_history"] else {}
        valid = last.get("valid_loss")
        running = st["epoch_loss"] / st["epoch_tokens"] if st["epoch_tokens"] else last.get("train_loss")
        return {"event": event, "epoch": st["epoch"], "nepoch": self.config.nepoch,
                "batch": st["batch_index"], "batches_per_epoch": self.n_batches,
                "examples_seen": st["examples_seen"], "tokens_seen": st["tokens_seen"],
                "train_loss": running, "valid_loss": valid,
                "valid_perplexity": math.exp(valid) if valid is not None else None,
                "learning_rate": st["learning_rate"], "tokens_per_second": rate,
                "eta_seconds": max(total - st["tokens_seen"], 0) / rate if rate > 0 else None,
                "fraction_done": min(st["tokens_seen"] / total, 1.0), "samples": [],
                "best": st["best"], "baselines": st["baselines"], **extra}

    def _emit(self, progress: dict) -> None:
        if self.callback is not None:
            self.callback(progress)

    def _checkpoint(self) -> None:
        """Write the checkpoint, and keep the same state in memory to roll back to."""
        self.good = Snapshot.take(self.model, self.state, self.epoch_start_rng)
        if self.checkpoint_path is None:
            return
        state = dict(self.state, rng_state=self.epoch_start_rng,
                     optimizer_state=self.model.get_optimizer_state(),
                     best_params=self.best_params, trigram_arrays=self.trigram_arrays,
                     elapsed_seconds=self.state["elapsed_seconds"] + time.monotonic() - self.started)
        save_checkpoint(self.checkpoint_path, self.model.get_params(), self.vocabulary,
                        self.model_config, self.config, state)

    # --- the loop -----------------------------------------------------------------------------

    def _roll_back(self, error: Diverged) -> None:
        """Go back to the last checkpointed state with half the learning rate, or fail in words."""
        rollbacks = list(self.state["rollbacks"])
        if len(rollbacks) >= safeguards.MAX_ROLLBACKS:
            raise TrainingDiverged(safeguards.out_of_tries_message(rollbacks, error,
                                                                   self.uniform_loss))
        learning_rate = self.state["learning_rate"] / 2
        rollbacks.append({"epoch": self.state["epoch"], "batch": self.state["batch_index"],
                          "where": error.where, "loss_per_word": error.loss_per_word,
                          "learning_rate": learning_rate})
        self.state = self.good.restore(self.model)
        self.rng.bit_generator.state = self.good.rng_state
        self.epoch_start_rng = self.rng.bit_generator.state
        self.state.update(learning_rate=learning_rate, rollbacks=rollbacks)
        log.warning("training diverged %s (loss per word %.4g); back to epoch %d, batch %d with "
                    "learning rate %g", error.where, error.loss_per_word, self.state["epoch"],
                    self.state["batch_index"], learning_rate)
        self._emit(self._progress("rolled_back", rollback=rollbacks[-1]))

    def _samples(self, params: dict | None = None) -> list[str]:
        lm = LanguageModel.from_params(params or self.model.get_params(), self.vocabulary,
                                       self.novel)
        # The learning timeline: the same prompts and seeds at every evaluation (rnncore.timeline).
        prompts = timeline.prompts(self.valid or self.X, self.vocabulary, self.num_samples)
        return timeline.samples(lm, prompts, self.config.seed, SAMPLE_STREAM)

    def _evaluate(self) -> None:
        st = self.state
        # Measuring the loss over a large corpus takes many seconds; a cancel must not wait for it.
        self.next_eval_check = time.monotonic() + EVAL_STOP_CHECK_S
        train_loss = mean_loss(self.model, self.train_eval, self._stop_if_asked_while_evaluating)
        valid_loss = validation_loss(self.model, self.valid_eval, self.novel,
                                     self._stop_if_asked_while_evaluating)
        safeguards.check_evaluation_loss(train_loss, self.uniform_loss, st["tokens_seen"] > 0,
                                         f"by epoch {st['epoch']}")
        history = st["loss_history"]
        history.append({"epoch": st["epoch"], "examples_seen": st["examples_seen"],
                        "train_loss": train_loss, "valid_loss": valid_loss,
                        "learning_rate": st["learning_rate"]})
        if safeguards.update_best(st, valid_loss):
            self.best_params = self.model.get_params()
        log.info("loss after num_examples_seen=%d epoch=%d: %f", st["examples_seen"], st["epoch"],
                 train_loss)
        self.samples = self._samples()
        progress = self._progress("evaluation", samples=self.samples)
        progress["train_loss"] = train_loss
        self._emit(progress)
        # The tutorial's schedule: halve the learning rate when the loss went up.
        if len(history) > 1 and history[-1]["train_loss"] > history[-2]["train_loss"]:
            st["learning_rate"] *= 0.5
            log.info("setting learning rate to %f", st["learning_rate"])
            self._emit(self._progress("lr_halved"))
        self._checkpoint()
        if safeguards.should_stop_early(st, self.config.patience):
            st["stopped_early"] = True
            log.info("no better validation loss in %d evaluations: stopping early",
                     self.config.patience)

    def _stop_if_asked_while_evaluating(self) -> None:
        """Poll should_stop about every EVAL_STOP_CHECK_S during an evaluation.

        An evaluation only reads the model, and nothing of it is kept until it ends, so stopping
        here checkpoints the state as it was before it began: a resumed run evaluates again and
        stays bit for bit the same. Polling by time rather than per batch keeps the number of
        calls of a short evaluation at zero, as before.
        """
        now = time.monotonic()
        if now >= self.next_eval_check:
            self.next_eval_check = now + EVAL_STOP_CHECK_S
            self._stop_if_asked()

    def _stop_if_asked(self) -> None:
        if self.should_stop is None or not self.should_stop():
            return
        self._checkpoint()
        st = self.state
        where = f"epoch {st['epoch']}, batch {st['batch_index']} of {self.n_batches}"
        saved = f"; checkpoint saved to {self.checkpoint_path}" if self.checkpoint_path else ""
        error = Cancelled(f"training stopped at {where}{saved}")
        error.state = dict(st, rng_state=self.epoch_start_rng,
                           optimizer_state=self.model.get_optimizer_state(),
                           best_params=self.best_params)
        raise error

    def _train_epoch(self) -> None:
        st = self.state
        dtype = self.model.dtype
        batches = iter_batches(self.X, self.Y, self.config.batch_size, self.rng, dtype=dtype)
        for index, (x, y, mask) in enumerate(batches):
            if index < st["batch_index"]:
                continue  # done before the checkpoint this run resumed from
            self._stop_if_asked()
            # Overflow in a diverging model is reported below in words, not as numpy warnings.
            with np.errstate(all="ignore"):
                loss = self.model.train_step(x, y, mask, st["learning_rate"], dropout_seed=(
                    self.config.seed, DROPOUT_STREAM, st["epoch"], index))
            words = int(mask.sum())
            safeguards.check_batch_loss(loss / words, self.uniform_loss,
                                        f"in epoch {st['epoch']}, batch {index}")
            st["batch_index"] = index + 1
            st["examples_seen"] += x.shape[0]
            st["tokens_seen"] += words
            st["epoch_loss"] += loss
            st["epoch_tokens"] += words
            self.tokens_this_run += words
            now = time.monotonic()
            if now - self.last_emit >= self.progress_interval:
                self.last_emit = now
                self._emit(self._progress("batch"))

    def _evaluated(self) -> bool:
        history = self.state["loss_history"]
        return bool(history) and history[-1]["epoch"] == self.state["epoch"]

    def _run_epochs(self) -> None:
        config = self.config
        while self.state["epoch"] < config.nepoch and not self.state["stopped_early"]:
            if self.state["epoch"] % config.evaluate_loss_after == 0 and not self._evaluated():
                self._evaluate()
                if self.state["stopped_early"]:
                    return
            self._train_epoch()
            self._stop_if_asked()
            self.state.update(epoch=self.state["epoch"] + 1, batch_index=0, epoch_loss=0.0,
                              epoch_tokens=0)
            self.epoch_start_rng = self.rng.bit_generator.state
        if not self._evaluated():
            self._evaluate()

    def run(self) -> TrainResult:
        self.started, self.tokens_this_run = time.monotonic(), 0
        self.epoch_start_rng = self.rng.bit_generator.state
        self.good = Snapshot.take(self.model, self.state, self.epoch_start_rng)
        while True:
            try:
                self._run_epochs()
                break
            except Diverged as error:
                self._roll_back(error)
        return self._finish()

    def _finish(self) -> TrainResult:
        st = self.state
        st["finished"] = True
        params = self.best_params if self.best_params is not None else self.model.get_params()
        self.samples = self._samples(params)
        mixture = safeguards.mixture_on(params, self.vocabulary, self.trigram, self.valid,
                                        self.novel)
        if mixture is not None:
            st["baselines"] = {**st["baselines"], "mixture": mixture}
        self._checkpoint()
        st["elapsed_seconds"] += time.monotonic() - self.started
        self._emit(self._progress("finished", samples=self.samples))
        state = dict(st, rng_state=self.epoch_start_rng, optimizer_state=self.model.get_optimizer_state(),
                     trigram_arrays=self.trigram_arrays)
        chosen = st["best"] or {"epoch": st["loss_history"][-1]["epoch"]}
        entry = next(e for e in st["loss_history"] if e["epoch"] == chosen["epoch"])
        valid = entry["valid_loss"]
        return TrainResult(params, state, list(st["loss_history"]), entry["train_loss"], valid,
                           math.exp(valid) if valid is not None else None, self.samples,
                           self.skipped, best_epoch=chosen["epoch"],
                           stopped_early=st["stopped_early"], baselines=st["baselines"])


def train_with_sgd(model, corpus, train_config: TrainConfig, callback=None, should_stop=None,
                   checkpoint_path=None, resume_state: dict | None = None, *, vocabulary=None,
                   model_config: ModelConfig | None = None, progress_interval: float = 1.0,
                   num_samples: int = 3) -> TrainResult:
    """Train ``model`` on ``corpus`` (a PreprocessedCorpus: ``sentences`` and ``vocabulary``).

    ``callback(progress)`` gets "batch" events at most every ``progress_interval`` seconds and
    every "evaluation", "lr_halved" and "finished" event. ``should_stop()`` is polled before each
    batch, and about every EVAL_STOP_CHECK_S seconds between the batches of a loss evaluation;
    when it returns True a checkpoint is written and Cancelled raised. To resume, set the
    model's parameters from the checkpoint and pass its ``state`` as ``resume_state``.
    """
    trainer = _Trainer(model, corpus, train_config, callback, should_stop, checkpoint_path,
                       vocabulary, model_config, progress_interval, num_samples)
    if resume_state is not None:
        trainer.resume(resume_state)
    return trainer.run()
