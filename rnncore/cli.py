"""The command line: ``python -m rnncore preprocess | train | generate | score``.

The same steps as the tutorial's scripts, for people who prefer a terminal to the web app:
preprocess a CSV into a corpus file, train with a progress bar (Ctrl-C saves a checkpoint that
``--resume`` continues exactly), sample sentences, and score sentences. Flag names follow the
tutorial's (``--vocabulary-size``, ``--hidden-dim``, ``--learning-rate``, ``--nepoch``...). Errors
are one line in words with exit status 2, never a traceback. This is the only rnncore module that
prints.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from dataclasses import fields

import numpy as np

from rnncore.cells import CELLS
from rnncore.config import ALL_ENGINES, DTYPES, ModelConfig, TrainConfig, recommended_configs
from rnncore.errors import Cancelled, RnnCoreError
from rnncore.word_classes import OUTPUTS
from rnncore.optimizers import CLIP_WORDS_PER_SENTENCE, OPTIMIZERS

TRAIN_FLAGS = {  # TrainConfig / ModelConfig field -> help line
    "hidden_dim": "size of the hidden state s_t (memory of earlier words)",
    "bptt_truncate": "steps each output back-propagates through time (rnn cell only)",
    "cell": "recurrent cell: rnn (the tutorial's), gru (tutorial part 4) or lstm",
    "dropout": "share of inputs and outputs dropped while training (0: none)",
    "learning_rate": "SGD step size; halved whenever the training loss goes up",
    "nepoch": "passes over the training sentences",
    "evaluate_loss_after": "epochs between loss evaluations and checkpoints",
    "batch_size": "sentences per update (1 is the tutorial's plain SGD)",
    "validation_fraction": "share of sentences held out to measure perplexity",
    "clip_norm": "rescale gradients whose joint norm exceeds this per word of the batch "
                 f"(at most {CLIP_WORDS_PER_SENTENCE} words counted per sentence)",
    "patience": "stop after this many evaluations without a better validation loss",
    "optimizer": "update rule",
    "max_sentence_length": "leave out longer sentences (words, markers included; default: none)",
    "seed": "fixes initial weights, validation split and batch order",
    "engine": "pytensor (compiled, fast), numpy (readable reference) or pytensor-jax (GPU through JAX)",
    "dtype": "float32 (half the memory) or float64",
    "output": "output layer: softmax over every word (the tutorial's) or classes (RNNLM's -class: "
              "a frequency class, then a word of it; much faster for large vocabularies)",
}
CHOICES = {"optimizer": OPTIMIZERS, "engine": ALL_ENGINES, "dtype": DTYPES, "cell": CELLS,
           "output": OUTPUTS}
# Settings whose flag is not their name: -o/--output names the model file.
FLAGS = {"output": "output-layer"}
# Settings that may differ when resuming: more epochs extend the run.
RESUME_MAY_CHANGE = {"nepoch"}


def _defaults() -> tuple[dict, dict]:
    """Each setting's declared type (as text) and default value."""
    model, train = recommended_configs()
    both = {**model.to_dict(), **train.to_dict()}
    return {f.name: str(f.type) for f in fields(ModelConfig) + fields(TrainConfig)}, both


def _flag(name: str) -> str:
    """The command-line flag (without --) of setting ``name``."""
    return FLAGS.get(name, name.replace("_", "-"))


def _add_train_parser(sub) -> None:
    types, defaults = _defaults()
    p = sub.add_parser("train", help="train a model on a preprocessed corpus",
                       description="Train the tutorial's RNN language model. Ctrl-C saves a "
                                   "checkpoint; --resume continues it exactly.")
    p.add_argument("corpus", help="corpus file made by `python -m rnncore preprocess`")
    p.add_argument("-o", "--output", help="model file to write (checkpoints go there too)")
    p.add_argument("--resume", metavar="MODEL", help="continue training from this checkpoint")
    for name, text in TRAIN_FLAGS.items():
        kind = str if name in CHOICES else float if "float" in types[name] else int
        p.add_argument("--" + _flag(name), dest=_flag(name).replace("-", "_"), type=kind,
                       default=None, choices=CHOICES.get(name),
                       help=text if defaults[name] is None else f"{text} (default {defaults[name]})")
    p.add_argument("--quiet", action="store_true", help="no progress bar, only evaluations")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rnncore", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("preprocess", help="tokenize a CSV or text corpus and choose the vocabulary",
                       description="Split a CSV's (or a text file's) text into sentences and "
                                   "words, keep the most frequent words and write a corpus file "
                                   "for `train`.")
    p.add_argument("csv", help="CSV file with a header row, or a plain-text .txt file (each "
                   "paragraph one text, or each line where it has no blank lines)")
    p.add_argument("--vocabulary-size", type=int, default=8000,
                   help="words kept, UNKNOWN_TOKEN and the sentence markers included (default 8000)")
    p.add_argument("--column", help="column holding the text (default: detected)")
    p.add_argument("--one-sentence-per-row", action="store_true",
                   help="each row is one sentence: do not split rows into sentences")
    p.add_argument("--pretokenized", action="store_true",
                   help="the text is already tokenized: split words on spaces only")
    p.add_argument("--keep-case", action="store_true",
                   help="do not lowercase (the tutorial lowercases); markers keep their case anyway")
    p.add_argument("-o", "--output", required=True, help="corpus file to write (.npz)")
    _add_train_parser(sub)
    p = sub.add_parser("generate", help="sample sentences from a trained model",
                       description="Sample sentences, or continue --prefix.")
    p.add_argument("model", help="model file written by `train` (or the tutorial's U/V/W .npz)")
    p.add_argument("--vocabulary", help="vocabulary file, only for the tutorial's .npz files")
    p.add_argument("--prefix", default=None, help="words to continue (default: a new sentence)")
    p.add_argument("--num-samples", type=int, default=5, help="sentences to print (default 5)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="below 1: safer, more repetitive; above 1: wilder (default 1)")
    p.add_argument("--top-k", type=int, default=None, help="sample only among the k likeliest words")
    p.add_argument("--max-length", type=int, default=30, help="words at most per sentence (default 30)")
    p.add_argument("--seed", type=int, default=None, help="fixes the samples (default: random)")
    p = sub.add_parser("score", help="how probable the model finds sentences",
                       description="Print log-probability and perplexity, most probable first.")
    p.add_argument("model", help="model file written by `train` (or the tutorial's U/V/W .npz)")
    p.add_argument("sentences", nargs="+", help="sentences to score (quote each one)")
    p.add_argument("--vocabulary", help="vocabulary file, only for the tutorial's .npz files")
    p.add_argument("--words", action="store_true", help="also print each word's surprisal in bits")
    return parser


def cmd_preprocess(args) -> int:
    from tqdm import tqdm

    from rnncore.plain_text import as_csv, reads_as_plain_text
    from rnncore.preprocess import preprocess_csv
    from rnncore.text import TextOptions

    options = TextOptions(args.one_sentence_per_row, args.pretokenized, not args.keep_case)
    print(f"Reading {'text' if reads_as_plain_text(args.csv) else 'CSV'} file...")
    with tqdm(total=100, unit="%", leave=False, disable=not sys.stderr.isatty()) as bar, \
            as_csv(args.csv) as csv_path:
        def progress(fraction, message):
            bar.n = round(100 * fraction)
            bar.set_description(message)

        corpus = preprocess_csv(csv_path, vocabulary_size=args.vocabulary_size,
                                column=args.column, progress=progress, options=options)
    r = corpus.report
    print(f"Parsed {r['sentences']} sentences.")
    print(f"Found {r['unique_words']} unique words tokens.")
    print(f"Using vocabulary size {r['vocabulary_size']}.")
    print(f"The least frequent word in our vocabulary is '{r['least_frequent_word']}' and appeared "
          f"{r['least_frequent_count']} times.")
    print(f"\nExample sentence: '{r['example_sentence']}'")
    print(f"\nExample sentence after Pre-processing: '{r['example_tokens']}'")
    print(f"\n{r['unknown_share']:.1%} of the {r['tokens']} tokens became UNKNOWN_TOKEN.")
    print(f"Sentence splitter: {r['sentence_splitter']}"
          + (f" ({r['sentence_splitter_source']})" if r.get("sentence_splitter_source") else ""))
    for c in r["vocabulary_candidates"]:
        print(f"  vocabulary {c['vocabulary_size']:>6,}: keeps {c['coverage']:.1%} of the words, "
              f"{c['unknown_share']:.1%} of the tokens become UNKNOWN_TOKEN")
    corpus.save(args.output)
    print(f"Wrote {args.output}")
    return 0


def _load_corpus(path):
    from rnncore.preprocess import PreprocessedCorpus

    try:
        return PreprocessedCorpus.load(path)
    except FileNotFoundError:
        raise ValueError(f"no such file: {path}") from None
    except (KeyError, ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a corpus file; make one with `python -m rnncore "
                         f"preprocess` ({exc})") from None


def _configs(args, corpus):
    """ModelConfig and TrainConfig from the flags, or from the checkpoint when resuming."""
    from rnncore.checkpoint import load_checkpoint

    given = {name: getattr(args, _flag(name).replace("-", "_")) for name in TRAIN_FLAGS}
    given = {name: value for name, value in given.items() if value is not None}
    if not args.resume:
        model, train = recommended_configs(vocabulary_size=len(corpus.vocabulary), **given)
        return model, train, None
    checkpoint = load_checkpoint(args.resume)
    saved = {**checkpoint.model_config.to_dict(), **(checkpoint.train_config or TrainConfig()).to_dict()}
    for name, value in given.items():
        if name not in RESUME_MAY_CHANGE and value != saved[name]:
            raise ValueError(f"--{_flag(name)} cannot change when resuming "
                             f"(the checkpoint has {saved[name]})")
    train = (checkpoint.train_config or TrainConfig())
    if "nepoch" in given:
        train = TrainConfig(**{**train.to_dict(), "nepoch": given["nepoch"]}).validate()
    return checkpoint.model_config, train, checkpoint


class _Reporter:
    """The progress bar and the tutorial's evaluation lines."""

    def __init__(self, quiet: bool):
        from tqdm import tqdm

        self.bar = tqdm(total=1000, unit="‰", disable=quiet or not sys.stderr.isatty(),
                        bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")

    def __call__(self, p: dict) -> None:
        self.bar.n = int(1000 * p["fraction_done"])
        self.bar.set_description(f"epoch {p['epoch']}/{p['nepoch']}")
        if p["train_loss"] is not None:
            self.bar.set_postfix_str(f"loss {p['train_loss']:.3f} lr {p['learning_rate']:g} "
                                     f"{p['tokens_per_second']:.0f} words/s")
        if p["event"] == "evaluation":
            self.bar.write(f"Loss after num_examples_seen={p['examples_seen']} epoch={p['epoch']}: "
                           f"{p['train_loss']:.6f}" + (f", validation perplexity "
                                                        f"{p['valid_perplexity']:.1f}"
                                                        if p["valid_perplexity"] else ""))
            for sample in p["samples"]:
                self.bar.write(f"    {sample}")
        elif p["event"] == "lr_halved":
            self.bar.write(f"Setting learning rate to {p['learning_rate']:f}")


def cmd_train(args) -> int:
    from rnncore.models import build_model, count_classes
    from rnncore.train import train_with_sgd

    if not args.output and not args.resume:
        raise ValueError("say where to write the model with -o MODEL.npz")
    corpus = _load_corpus(args.corpus)
    model_config, train_config, checkpoint = _configs(args, corpus)
    output = args.output or args.resume
    model = build_model(model_config, train_config)
    if checkpoint is not None:
        model.set_params(checkpoint.params)
    else:
        count_classes(model, corpus.sentences, train_config)
    stop = {"asked": False}

    def on_interrupt(signum, frame):
        stop["asked"] = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once

    previous = signal.signal(signal.SIGINT, on_interrupt)
    reporter = _Reporter(args.quiet)
    try:
        result = train_with_sgd(model, corpus, train_config, callback=reporter,
                                should_stop=lambda: stop["asked"], checkpoint_path=output,
                                resume_state=checkpoint.state if checkpoint else None,
                                progress_interval=0.2)
    except Cancelled as exc:
        reporter.bar.close()
        print(f"{exc}; continue with --resume {output}", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
        reporter.bar.close()
    perplexity = f"{result.valid_perplexity:.1f}" if result.valid_perplexity else "n/a"
    print(f"Finished: training loss {result.train_loss:.4f}, validation perplexity {perplexity}. "
          f"Wrote {output}")
    return 0


def _language_model(args):
    from rnncore.checkpoint import load_tutorial_model
    from rnncore.generate import LanguageModel

    if args.vocabulary:
        checkpoint = load_tutorial_model(args.model, args.vocabulary)
        return LanguageModel.from_params(checkpoint.model_params, checkpoint.vocabulary)
    return LanguageModel.from_checkpoint(args.model)  # with what its run kept besides weights


def cmd_generate(args) -> int:
    from rnncore.generate import detokenize

    lm = _language_model(args)
    if args.prefix is None and args.temperature == 1.0 and args.top_k is None:
        rng = np.random.default_rng(args.seed)
        for _ in range(args.num_samples):
            print(detokenize(lm.generate_sentence(rng, max_length=args.max_length)))
        return 0
    result = lm.continue_prefix(args.prefix or "", num_samples=args.num_samples,
                                temperature=args.temperature, top_k=args.top_k,
                                max_length=args.max_length, seed=args.seed)
    if result["unknown_words"]:
        print(f"(not in the vocabulary, read as UNKNOWN_TOKEN: {', '.join(result['unknown_words'])})",
              file=sys.stderr)
    for sample in result["samples"]:
        print(sample["text"] + ("" if sample["ended"] else " ..."))
    return 0


def cmd_score(args) -> int:
    lm = _language_model(args)
    for rank, score in enumerate(lm.rank_sentences(args.sentences), start=1):
        print(f"{rank}. log P = {score['log_probability']:.3f}  perplexity = "
              f"{score['perplexity']:.1f}  {score['text']}")
        if score["unknown_words"]:
            print(f"   not in the vocabulary: {', '.join(score['unknown_words'])}")
        if args.words:
            print("   " + "  ".join(f"{s['word']}:{s['bits']:.1f}" for s in score["surprisal"]))
    return 0


COMMANDS = {"preprocess": cmd_preprocess, "train": cmd_train, "generate": cmd_generate,
            "score": cmd_score}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        return COMMANDS[args.command](args)
    except (RnnCoreError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
