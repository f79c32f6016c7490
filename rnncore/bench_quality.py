"""Model-quality benchmark: ``python -m rnncore.bench_quality`` prints, per corpus, the counting
baselines (add-one unigram, interpolated Kneser-Ney trigram) and each cell's best validation
perplexity with the minutes it took to reach it, all on the same validation split.

Each run uses the recommended settings (the ones the web form offers) for its cell, with a wall-clock
budget (``--minutes``, 5 by default, as a person waiting for a model would give it): a run still
going then is stopped and its best evaluation so far is what counts. ``--set name=value`` changes
a setting for every run, to compare candidates for the defaults.
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
from rnncore.train import build_model, train_with_sgd

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


def configs(cell: str, settings: dict, seed: int, vocabulary_size: int):
    """The recommended settings (the form's) for this cell, with ``settings`` on top."""
    return recommended_configs(**{"cell": cell, "vocabulary_size": vocabulary_size, "seed": seed,
                                  **settings})


def run_one(corpus, cell: str, settings: dict, seed: int, minutes: float) -> dict:
    """Train with a time budget; the best evaluation and when it came."""
    model_config, train_config = configs(cell, settings, seed, len(corpus.vocabulary))
    started = time.monotonic()
    timeline = []  # (seconds, validation perplexity) at each evaluation

    def record(progress):
        if progress["event"] == "evaluation" and progress["valid_perplexity"]:
            timeline.append((time.monotonic() - started, progress["valid_perplexity"],
                             progress["epoch"]))

    model = build_model(model_config, train_config)
    outcome, baselines = "finished", {}
    try:
        result = train_with_sgd(model, corpus, train_config, callback=record, num_samples=0,
                                should_stop=lambda: time.monotonic() - started > 60 * minutes,
                                model_config=model_config)
        baselines, outcome = result.baselines, "stopped early" if result.stopped_early else outcome
    except Cancelled as stop:
        baselines, outcome = stop.state.get("baselines", {}), "out of time"
    except TrainingDiverged as exc:
        outcome = f"diverged: {exc}"
    best = min(timeline, key=lambda t: t[1]) if timeline else (math.nan, math.nan, None)
    return {"cell": cell, "seed": seed, "best_perplexity": best[1], "minutes_to_best": best[0] / 60,
            "best_epoch": best[2], "evaluations": len(timeline), "outcome": outcome,
            "baselines": baselines, "minutes": (time.monotonic() - started) / 60}


def _load(path: Path):
    from rnncore.preprocess import preprocess_csv

    return preprocess_csv(path, vocabulary_size=VOCABULARY_SIZE)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpora", nargs="*", type=Path, help="CSV files (default: ../shared/corpora)")
    parser.add_argument("--cells", default="rnn,gru,lstm", help="cells to train (default rnn,gru,lstm)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument("--minutes", type=float, default=5.0, help="budget per run (default 5)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="change a default for every run (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = _parse_settings(args.set)
    print(f"settings beyond the defaults: {settings or 'none'}; budget {args.minutes:g} min per run")
    print(f"{'corpus':28} {'model':28} {'valid ppl':>10} {'x trigram':>9} {'min to best':>11}  outcome")
    for path in args.corpora or [p for p in DEFAULT_CORPORA if p.exists()]:
        corpus = _load(path)
        for cell in args.cells.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                row = run_one(corpus, cell, settings, seed, args.minutes)
                base = row["baselines"]
                if cell == args.cells.split(",")[0] and seed == int(args.seeds.split(",")[0]):
                    for name in ("unigram", "trigram"):
                        value = base.get(f"{name}_perplexity", math.nan)
                        print(f"{path.stem[:28]:28} {name + ' (counting)':28} {value:10.1f}")
                trigram = base.get("trigram_perplexity", math.nan)
                print(f"{path.stem[:28]:28} {cell + f' seed {seed}':28} {row['best_perplexity']:10.1f} "
                      f"{row['best_perplexity'] / trigram:9.3f} {row['minutes_to_best']:11.2f}  "
                      f"{row['outcome']}, {row['evaluations']} evaluations", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
