"""Model-quality benchmark: ``python -m rnncore.bench_quality`` prints, per corpus, the counting
baselines (add-one unigram, interpolated Kneser-Ney trigram) and each cell's best validation
perplexity with the minutes it took to reach it, and the network's best evaluation mixed with the
trigram (``rnncore.mixture``), all on the same validation split (each seed draws its own split,
so its baselines are printed again).

Each run uses the recommended settings (the ones the web form offers) for its cell, with a wall-clock
budget (``--minutes``, 5 by default, as a person waiting for a model would give it): a run still
going then is stopped and its best evaluation so far is what counts. ``--set name=value`` changes
a setting for every run, to compare candidates for the defaults. ``--outputs softmax,classes``
trains each cell with both output layers (the class layer's classes from the training split's
counts, as the command line does), ``--vocabulary-size`` chooses the corpus's vocabulary.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import time
from pathlib import Path

from rnncore.config import ModelConfig, TrainConfig, recommended_configs
from rnncore.errors import Cancelled, TrainingDiverged
from rnncore.ngram import fit_kneser_ney
from rnncore.safeguards import mixture_on
from rnncore.models import build_model, count_classes, split_corpus
from rnncore.train import train_with_sgd

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"
DEFAULT_CORPORA = (SHARED / "tinyshakespeare-speeches.csv", SHARED / "reddit-comments-2015-08-sample.csv")
VOCABULARY_SIZE = 8000


def _parse_settings(pairs: list[str]) -> dict:
    known = {f.name: f for f in dataclasses.fields(ModelConfig) + dataclasses.fields(TrainConfig)}
    settings = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        if name not in known:
            raise SystemExit(f"unknown setting {name!r}")
        value = TrainConfig().to_dict().get(name, ModelConfig().to_dict().get(name))
        kind = type(value) if value is not None else (float if "." in text else int)
        settings[name] = None if text == "None" else kind(text) if kind is not bool else text == "True"
    return settings


def configs(cell: str, settings: dict, seed: int, vocabulary_size: int, output: str = "softmax"):
    """The recommended settings (the form's) for this cell, with ``settings`` on top."""
    return recommended_configs(**{"cell": cell, "vocabulary_size": vocabulary_size,
                                  "output": output, "seed": seed, **settings})


def run_one(corpus, cell: str, settings: dict, seed: int, minutes: float,
            output: str = "softmax") -> dict:
    """Train with a time budget; the best evaluation and when it came."""
    model_config, train_config = configs(cell, settings, seed, len(corpus.vocabulary), output)
    started = time.monotonic()
    timeline = []  # (seconds, validation perplexity) at each evaluation

    def record(progress):
        if progress["event"] == "evaluation" and progress["valid_perplexity"]:
            timeline.append((time.monotonic() - started, progress["valid_perplexity"],
                             progress["epoch"]))

    model = build_model(model_config, train_config)
    count_classes(model, corpus.sentences, train_config)
    outcome, baselines = "finished", {}
    try:
        result = train_with_sgd(model, corpus, train_config, callback=record, num_samples=0,
                                should_stop=lambda: time.monotonic() - started > 60 * minutes,
                                model_config=model_config)
        baselines, outcome = result.baselines, "stopped early" if result.stopped_early else outcome
    except Cancelled as stop:
        baselines, outcome = stop.state.get("baselines", {}), "out of time"
        if stop.state.get("best_params"):  # the mixture a finished run would have reported
            baselines = {**baselines, "mixture": _mixture(corpus, train_config,
                                                          stop.state["best_params"])}
    except TrainingDiverged as exc:
        outcome = f"diverged: {exc}"
    best = min(timeline, key=lambda t: t[1]) if timeline else (math.nan, math.nan, None)
    return {"cell": cell, "seed": seed, "best_perplexity": best[1], "minutes_to_best": best[0] / 60,
            "best_epoch": best[2], "evaluations": len(timeline), "outcome": outcome,
            "baselines": baselines, "minutes": (time.monotonic() - started) / 60}


def _mixture(corpus, train_config, params) -> dict | None:
    train, valid, _ = split_corpus(corpus.sentences, train_config)
    trigram = fit_kneser_ney(train, len(corpus.vocabulary), order=3)
    return mixture_on(params, corpus.vocabulary, trigram, valid)


def _load(path: Path, vocabulary_size: int = VOCABULARY_SIZE):
    from rnncore.preprocess import preprocess_csv

    return preprocess_csv(path, vocabulary_size=vocabulary_size)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpora", nargs="*", type=Path, help="CSV files (default: ../shared/corpora)")
    parser.add_argument("--cells", default="rnn,gru,lstm", help="cells to train (default rnn,gru,lstm)")
    parser.add_argument("--outputs", default="softmax", help="output layers (default softmax; "
                        "softmax,classes compares them)")
    parser.add_argument("--vocabulary-size", type=int, default=VOCABULARY_SIZE,
                        help=f"words kept (default {VOCABULARY_SIZE}; more than the corpus "
                             f"has: all of them)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument("--minutes", type=float, default=5.0, help="budget per run (default 5)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="change a default for every run (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = _parse_settings(args.set)
    print(f"settings beyond the defaults: {settings or 'none'}; budget {args.minutes:g} min per run")
    print(f"{'corpus':28} {'model':28} {'valid ppl':>10} {'x trigram':>9} {'min to best':>11} "
          f"{'mixed':>7} {'x trigram':>9}  outcome")
    runs = [(cell, output, int(seed)) for cell in args.cells.split(",")
            for output in args.outputs.split(",") for seed in args.seeds.split(",")]
    for path in args.corpora or [p for p in DEFAULT_CORPORA if p.exists()]:
        corpus = _load(path, args.vocabulary_size)
        print(f"{path.stem[:28]:28} vocabulary {len(corpus.vocabulary)}")
        shown = set()  # seeds whose split's baselines are printed
        for cell, output, seed in runs:
            row = run_one(corpus, cell, settings, seed, args.minutes, output)
            base = row["baselines"]
            if seed not in shown:
                shown.add(seed)
                for name in ("unigram", "trigram"):
                    value = base.get(f"{name}_perplexity", math.nan)
                    label = f"{name} (counting) seed {seed}"
                    print(f"{path.stem[:28]:28} {label:28} {value:10.1f}")
            trigram = base.get("trigram_perplexity", math.nan)
            label = cell + ("" if output == "softmax" else f" {output}") + f" seed {seed}"
            mixed = (base.get("mixture") or {}).get("perplexity", math.nan)
            print(f"{path.stem[:28]:28} {label:28} {row['best_perplexity']:10.1f} "
                  f"{row['best_perplexity'] / trigram:9.3f} {row['minutes_to_best']:11.2f} "
                  f"{mixed:7.1f} {mixed / trigram:9.3f}  "
                  f"{row['outcome']}, {row['evaluations']} evaluations", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
