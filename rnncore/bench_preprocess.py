"""Preprocessing speed and memory: ``python -m rnncore.bench_preprocess [path] [--workers 1 2]``.

Runs ``preprocess_csv`` on a corpus (by default the largest CSV in ../shared/corpora) once per
worker count, each in a fresh Python process, and prints tokens per second and the peak resident
memory of that process and its tokenizing workers together. ``--make-big OUT --megabytes 100``
first writes a large corpus by repeating the Reddit sample with varied text (sentences shuffled,
some words given new endings, so the vocabulary keeps growing as in real comments).

Measured on the 2-core development machine, shared with other work (load average about 2), so
the times are rough:
  tinyshakespeare-speeches.csv, 1.2 MB, 280,725 tokens: 1 worker 101 k tokens/s (2.8 s, peak RSS
  146 MB); 2 workers 89 k tokens/s (3.2 s, 416 MB): starting worker processes costs more than it
  saves on a small file, which is why files under 8 MB are tokenized in-process by default. About
  1.6 s of each run is Punkt learning the corpus's abbreviations (no punkt_tab installed).
  Generated Reddit-like corpus (--make-big, 100.1 MB, 186,348 rows, 22.4 M tokens, 130 k distinct
  words): 1 worker 124 k tokens/s (180 s), peak RSS 391 MB; 2 workers 163 k tokens/s (137 s), peak
  RSS 506 MB for the main process and its workers together (shared pages counted once per process).
NLTK's word tokenizer is three quarters of the time. The serial peak is about 3.9 times the file
size: the token stream as one int32 array (4 bytes a token) and its mapping to vocabulary indices,
the word table, and one small numpy view per sentence.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
REDDIT = CORPORA / "reddit-comments-2015-08-sample.csv"
_ENDINGS = ("s", "ed", "ing", "er", "ish", "ly", "ness", "zz", "o", "ie", "ful", "less")


def default_corpus() -> Path:
    """The largest CSV in ../shared/corpora."""
    candidates = sorted(CORPORA.glob("*.csv"), key=lambda p: p.stat().st_size)
    if not candidates:
        raise SystemExit(f"no corpus given and none found in {CORPORA}")
    return candidates[-1]


def _vary(text: str, rng: random.Random) -> str:
    sentences = re.split(r"(?<=[.!?])\s+", text)
    rng.shuffle(sentences)
    words = " ".join(sentences).split(" ")
    for i in range(len(words)):
        if rng.random() < 0.03 and words[i].isalpha():
            words[i] += rng.choice(_ENDINGS) + (str(rng.randrange(100)) if rng.random() < 0.3 else "")
    return " ".join(words)


def make_big_corpus(out: Path, megabytes: float, source: Path = REDDIT, seed: int = 0) -> int:
    """Write a ``body`` CSV of at least ``megabytes`` MB from ``source``'s texts; return rows."""
    from rnncore.corpus import iter_texts

    texts = list(iter_texts(source))
    rng, rows = random.Random(seed), 0
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["body"])
        while f.tell() < megabytes * 1_000_000:
            for text in texts:
                writer.writerow([_vary(text, rng)])
            rows += len(texts)
    return rows


def _tree_rss_kb(root: int) -> int:
    """Resident memory of ``root`` and all its descendants, from /proc (Linux)."""
    parent, rss = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                parent[int(entry)], rss[int(entry)] = int(fields[1]), int(fields[21])
            except (OSError, IndexError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        children = [p for p, pp in parent.items() if pp in frontier and p not in tree]
        tree.update(children)
        frontier = children
    return sum(rss.get(p, 0) for p in tree) * os.sysconf("SC_PAGE_SIZE") // 1024


def run_single(path: Path, workers: int) -> dict:
    """Preprocess once in this process, sampling memory twice a second; return the measurements."""
    from rnncore.preprocess import preprocess_csv

    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            peak[0] = max(peak[0], _tree_rss_kb(os.getpid()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    corpus = preprocess_csv(path, 8000, workers=workers)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    peak[0] = max(peak[0], _tree_rss_kb(os.getpid()))
    return {"workers": workers, "seconds": seconds, "tokens": corpus.report["tokens"],
            "unique_words": corpus.report["unique_words"],
            "tokens_per_second": corpus.report["tokens"] / seconds, "peak_rss_mb": peak[0] / 1024}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", nargs="?", type=Path)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--make-big", type=Path, help="first write a large corpus here")
    parser.add_argument("--megabytes", type=float, default=100.0)
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.single:  # one measurement in this fresh process, for the parent to read
        print(json.dumps(run_single(args.path, args.workers[0])))
        return
    if args.make_big:
        rows = make_big_corpus(args.make_big, args.megabytes)
        print(f"wrote {args.make_big}: {rows:,} rows, {args.make_big.stat().st_size / 1e6:.1f} MB")
    path = args.path or args.make_big or default_corpus()
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    for workers in args.workers:
        out = subprocess.run([sys.executable, "-m", "rnncore.bench_preprocess", str(path),
                              "--single", "--workers", str(workers)],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"workers={workers}: {r['tokens']:,} tokens ({r['unique_words']:,} distinct) in "
              f"{r['seconds']:.1f} s = {r['tokens_per_second'] / 1000:.0f} k tokens/s, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
