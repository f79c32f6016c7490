"""Time-to-a-good-model benchmark: ``python -m rnncore.bench_convergence`` races the optimizers.

The corpus is preprocessed once; then, for each optimizer and learning rate, a fresh model (same
seed, so same initial weights, validation split and batch order) is trained with ``train_with_sgd``
under an equal wall-time budget, evaluating every epoch. Each evaluation's time, epoch and
validation perplexity are recorded, and the table reports the best validation perplexity a run
reached and the wall time until it first came within 5% of that best. A run stops at its budget,
or early once ``patience`` evaluations pass without a new best (the small corpus overfits, so the
best is behind it). Times start after the engine's functions are compiled and exclude
preprocessing; they include the evaluations, which the tutorial's schedule needs anyway. CPU
seconds are reported too, since the machine may be shared. For reference the table also gives the
perplexity of an add-one smoothed unigram model fitted on the same training split.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rnncore.batching import pad_batch
from rnncore.config import ModelConfig, TrainConfig
from rnncore.errors import Cancelled, TrainingDiverged
from rnncore.optimizers import OPTIMIZERS
from rnncore.models import build_model, split_corpus
from rnncore.train import train_with_sgd

DEFAULT_CORPUS = (Path(__file__).resolve().parents[2] / "shared" / "corpora"
                  / "reddit-comments-2015-08-sample.csv")
# SGD as the tutorial; RMSprop and Adam normalise the step, so the rate is the step size itself.
# 0.003 beat 0.001 and 0.002 for both on the reddit sample (docs/benchmarks.md).
DEFAULT_LEARNING_RATES = {"sgd": (0.005,), "rmsprop": (0.003,), "adam": (0.003,)}
TOLERANCE = 0.05  # "a good model": validation perplexity within 5% of the run's best


@dataclass
class Evaluation:
    """One validation measurement, timed from the start of the run (compilation excluded)."""

    seconds: float
    cpu_seconds: float
    epoch: int
    valid_perplexity: float


@dataclass
class ConvergenceRun:
    """One optimizer at one learning rate: its evaluations and how the run ended."""

    optimizer: str
    learning_rate: float
    batch_size: int
    evaluations: list = field(default_factory=list)
    epochs: int = 0  # finished epochs
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    tokens: int = 0  # training words seen
    compile_seconds: float = 0.0
    stopped: str = ""  # "time", "patience", "epochs" or "diverged"
    load_average: float | None = None  # one-minute load average when the run ended

    @property
    def best(self) -> Evaluation | None:
        return min(self.evaluations, key=lambda e: e.valid_perplexity, default=None)

    def first_within(self, target: float) -> Evaluation | None:
        """The first evaluation whose validation perplexity is at most ``target``."""
        return next((e for e in self.evaluations if e.valid_perplexity <= target), None)

    def within(self, tolerance: float = TOLERANCE) -> Evaluation | None:
        """The first evaluation within ``tolerance`` of the run's best perplexity."""
        best = self.best
        return None if best is None else self.first_within(best.valid_perplexity * (1 + tolerance))

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def unigram_perplexity(train, valid, vocabulary_size: int) -> float:
    """Perplexity on ``valid`` of add-one smoothed word frequencies counted on ``train``.

    Sentences are index arrays ``[START, ..., END]``; as for the RNN, every word after START is
    predicted, SENTENCE_END included.
    """
    counts = Counter()
    for s in train:
        counts.update(s[1:].tolist())
    total = sum(counts.values()) + vocabulary_size
    targets = [w for s in valid for w in s[1:].tolist()]
    if not targets:
        raise ValueError("the validation split is empty")
    log_p = sum(math.log((counts[w] + 1) / total) for w in targets)
    return math.exp(-log_p / len(targets))


def warm_up(model, sentences, batch_size: int) -> float:
    """Compile the training and loss functions on one batch, then undo the step; returns seconds."""
    started = time.perf_counter()
    params, state = model.get_params(), model.get_optimizer_state()
    batch = sentences[:batch_size]
    x, y, mask = pad_batch([s[:-1] for s in batch], [s[1:] for s in batch], dtype=model.dtype)
    model.train_step(x, y, mask, 0.0)
    model.batch_loss(x, y, mask)
    model.set_params(params)
    model.set_optimizer_state(state)
    return time.perf_counter() - started


class _Recorder:
    """The run's callback (records evaluations) and should_stop (budget and patience)."""

    def __init__(self, run: ConvergenceRun, seconds: float, patience: int | None):
        self.run, self.seconds, self.patience = run, seconds, patience
        self.best_index, self.last = 0, {"epoch": 0, "tokens_seen": 0}
        self.start, self.cpu_start = time.perf_counter(), time.process_time()

    def callback(self, progress: dict) -> None:
        self.last = progress
        if progress["event"] != "evaluation" or progress["valid_perplexity"] is None:
            return
        evaluations = self.run.evaluations
        evaluations.append(Evaluation(time.perf_counter() - self.start,
                                      time.process_time() - self.cpu_start,
                                      progress["epoch"], progress["valid_perplexity"]))
        if evaluations[-1].valid_perplexity < evaluations[self.best_index].valid_perplexity:
            self.best_index = len(evaluations) - 1

    def should_stop(self) -> bool:
        since_best = len(self.run.evaluations) - 1 - self.best_index
        if time.perf_counter() - self.start >= self.seconds:
            self.run.stopped = "time"
        elif self.patience and self.run.evaluations and since_best >= self.patience:
            self.run.stopped = "patience"
        return bool(self.run.stopped)


def train_for(corpus, model_config: ModelConfig, train_config: TrainConfig, seconds: float,
              patience: int | None = None) -> ConvergenceRun:
    """Train one fresh model for at most ``seconds`` of wall time, recording every evaluation."""
    run = ConvergenceRun(train_config.optimizer, train_config.learning_rate, train_config.batch_size)
    model = build_model(model_config, train_config)
    run.compile_seconds = warm_up(model, corpus.sentences, train_config.batch_size)
    recorder = _Recorder(run, seconds, patience)
    state = None
    try:
        state = train_with_sgd(model, corpus, train_config, recorder.callback,
                               recorder.should_stop, num_samples=0).state
        run.stopped = "epochs"
    except Cancelled as stopped:
        state = stopped.state
    except TrainingDiverged:
        run.stopped = "diverged"
    run.seconds = time.perf_counter() - recorder.start
    run.cpu_seconds = time.process_time() - recorder.cpu_start
    state = state or recorder.last  # a diverged run leaves only its last progress report
    run.epochs, run.tokens = state["epoch"], state["tokens_seen"]
    if hasattr(os, "getloadavg"):
        run.load_average = os.getloadavg()[0]
    return run


def run_benchmark(corpus, model_config: ModelConfig, base_config: TrainConfig,
                  learning_rates: dict, seconds_per_run: float, patience: int | None = None,
                  report=None) -> list[ConvergenceRun]:
    """One ConvergenceRun per (optimizer, learning rate); ``report(run)`` after each, if given."""
    runs = []
    for optimizer, rates in learning_rates.items():
        for rate in rates:
            config = dataclasses.replace(base_config, optimizer=optimizer, learning_rate=rate)
            runs.append(train_for(corpus, model_config, config.validate(), seconds_per_run, patience))
            if report is not None:
                report(runs[-1])
    return runs


def chosen_runs(runs) -> dict:
    """Per optimizer, the run whose best validation perplexity is lowest; diverged runs only
    when every rate of that optimizer diverged."""
    chosen = {}
    for run in runs:
        if run.best is None:
            continue
        key = (run.stopped == "diverged", run.best.valid_perplexity)
        held = chosen.get(run.optimizer)
        if held is None or key < (held.stopped == "diverged", held.best.valid_perplexity):
            chosen[run.optimizer] = run
    return chosen


def _cell(evaluation: Evaluation | None, value: str) -> str:
    return "never" if evaluation is None else value


def format_table(runs, unigram: float, title: str, notes=()) -> str:
    """The results as a Markdown table, a line per run, the chosen rate per optimizer marked *."""
    chosen = set(map(id, chosen_runs(runs).values()))
    bests = [r.best.valid_perplexity for r in runs if id(r) in chosen]
    common = (1 + TOLERANCE) * max(bests) if bests else math.inf
    lines = [title, "",
             "| optimizer | learning rate | batch | best valid ppl (epoch) | s to within 5% (epoch) "
             f"| CPU s to 5% | s to ppl ≤ {common:.1f} | epochs | s run | tokens/s | stopped | load |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in runs:
        best, within, hit = r.best, r.within(), r.first_within(common)
        mark = " *" if id(r) in chosen else ""
        load = "" if r.load_average is None else f"{r.load_average:.1f}"
        lines.append(
            f"| {r.optimizer}{mark} | {r.learning_rate:g} | {r.batch_size} | "
            + (f"{best.valid_perplexity:.1f} ({best.epoch})" if best else "none") + " | "
            + _cell(within, f"{within.seconds:.1f} ({within.epoch})" if within else "") + " | "
            + _cell(within, f"{within.cpu_seconds:.1f}" if within else "") + " | "
            + _cell(hit, f"{hit.seconds:.1f}" if hit else "")
            + f" | {r.epochs} | {r.seconds:.0f} | {r.tokens_per_second:.0f} | {r.stopped} | {load} |")
    lines += ["", f"Unigram model (add-one smoothed, same training split) validation perplexity: "
                  f"{unigram:.1f}.",
              f"`*` marks each optimizer's chosen learning rate (lowest best validation perplexity). "
              f"`s to ppl ≤ {common:.1f}`: wall seconds until the run first reached 5% above the "
              f"worst of the chosen runs' bests, a level every chosen run reaches."]
    lines.extend(notes)
    return "\n".join(lines)


def parse_learning_rates(optimizers, specs) -> dict:
    """``{optimizer: (rates...)}`` from ``--optimizers`` and ``--learning-rates OPT=LR[,LR...]``."""
    rates = {}
    for spec in specs or ():
        name, sep, values = spec.partition("=")
        if not sep or name not in OPTIMIZERS:
            raise ValueError(f"--learning-rates takes OPTIMIZER=RATE[,RATE...] with an optimizer "
                             f"among {', '.join(OPTIMIZERS)}, not {spec!r}")
        rates[name] = tuple(float(v) for v in values.split(","))
    return {opt: rates.get(opt, DEFAULT_LEARNING_RATES[opt]) for opt in optimizers}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="CSV corpus")
    p.add_argument("--minutes", type=float, default=5.0,
                   help="total training budget, shared equally by the runs (default 5)")
    p.add_argument("--vocabulary-size", type=int, default=2000)
    p.add_argument("--hidden-dim", type=int, default=50)
    p.add_argument("--bptt-truncate", type=int, default=4)
    p.add_argument("--optimizers", nargs="+", choices=OPTIMIZERS, default=list(OPTIMIZERS))
    p.add_argument("--learning-rates", nargs="+", metavar="OPT=LR[,LR...]",
                   help="rates to try (default sgd=0.005 rmsprop=0.003 adam=0.003)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--patience", type=int, default=10,
                   help="stop a run after this many evaluations without a new best (0: never)")
    p.add_argument("--max-epochs", type=int, default=10_000)
    p.add_argument("--clip-norm", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engine", choices=("pytensor", "numpy"), default="pytensor")
    return p


def main(argv=None) -> None:
    args = _parser().parse_args(argv)
    from rnncore.preprocess import preprocess_csv

    learning_rates = parse_learning_rates(args.optimizers, args.learning_rates)
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    corpus = preprocess_csv(args.corpus, vocabulary_size=args.vocabulary_size)
    model_config = ModelConfig(vocabulary_size=len(corpus.vocabulary), hidden_dim=args.hidden_dim,
                               bptt_truncate=args.bptt_truncate, engine=args.engine).validate()
    base = TrainConfig(nepoch=args.max_epochs, batch_size=args.batch_size, seed=args.seed,
                       clip_norm=args.clip_norm, evaluate_loss_after=1).validate()
    train, valid, _ = split_corpus(corpus.sentences, base)
    unigram = unigram_perplexity(train, valid, len(corpus.vocabulary))
    n_runs = sum(len(r) for r in learning_rates.values())
    seconds = args.minutes * 60 / n_runs

    def report(run):
        best = run.best.valid_perplexity if run.best else float("nan")
        print(f"{run.optimizer} lr {run.learning_rate:g}: best {best:.1f} after {run.epochs} "
              f"epochs, {run.seconds:.0f} s ({run.stopped})", file=sys.stderr, flush=True)

    runs = run_benchmark(corpus, model_config, base, learning_rates, seconds,
                         args.patience or None, report)
    title = (f"Time to a good model on {args.corpus.name}: {len(train)} training / {len(valid)} "
             f"validation sentences, {sum(len(s) - 1 for s in train)} training words; vocabulary "
             f"{model_config.vocabulary_size}, hidden {args.hidden_dim}, bptt_truncate "
             f"{args.bptt_truncate}, {args.engine} {model_config.dtype}, evaluation every epoch, "
             f"{seconds:.0f} s budget per run, patience {args.patience}.")
    notes = ["Compilation (excluded): "
             + ", ".join(f"{r.optimizer} {r.compile_seconds:.1f} s" for r in runs) + "."]
    if load_start is not None:
        notes.append(f"{os.cpu_count()} cores; one-minute load average {load_start:.1f} at the "
                     f"start, {os.getloadavg()[0]:.1f} at the end (other processes slow the runs).")
    print(format_table(runs, unigram, title, notes))


if __name__ == "__main__":
    main()
