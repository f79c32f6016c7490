"""The command line end to end on a tiny corpus: preprocess, train, resume, generate, score."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rnncore.checkpoint import load_checkpoint
from rnncore.cli import main

REPO = Path(__file__).resolve().parents[1]
SUBJECTS = ["the cat", "a dog", "my friend", "the old man", "a bird"]
VERBS = ["sat on the mat", "ran home", "saw the sea", "ate some bread", "sang a song"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A small CSV and its preprocessed corpus file."""
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    with open(folder / "tiny.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text"])
        for i in range(80):
            sentences = [f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)}."
                         for _ in range(rng.integers(1, 4))]
            writer.writerow([i, " ".join(sentences)])
    assert main(["preprocess", str(folder / "tiny.csv"), "--vocabulary-size", "25",
                 "-o", str(folder / "corpus.npz")]) == 0
    return folder


def run_cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "rnncore", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=120, **kwargs)


def test_preprocess_prints_the_tutorial_report(tmp_path, corpus, capsys):
    assert main(["preprocess", str(corpus / "tiny.csv"), "--vocabulary-size", "25",
                 "-o", str(tmp_path / "c.npz")]) == 0
    out = capsys.readouterr().out
    assert "Parsed " in out and "Using vocabulary size 25." in out
    assert "The least frequent word in our vocabulary is" in out
    assert "Example sentence after Pre-processing" in out
    assert (tmp_path / "c.npz").exists()


def test_preprocess_reads_a_corpus_as_its_author_wrote_it(tmp_path, capsys):
    from rnncore.preprocess import PreprocessedCorpus
    from written_corpora import newswire_rows, write_csv

    rows = newswire_rows(200)
    path = write_csv(tmp_path / "newswire.csv", rows)
    assert main(["preprocess", str(path), "--one-sentence-per-row", "--pretokenized",
                 "--keep-case", "-o", str(tmp_path / "c.npz")]) == 0
    out = capsys.readouterr().out
    assert f"Parsed {len(rows)} sentences." in out and "Sentence splitter: rows" in out
    assert "vocabulary" in out and "of the words" in out
    corpus = PreprocessedCorpus.load(tmp_path / "c.npz")
    assert "N" in corpus.vocabulary and corpus.vocabulary.unknown_spelling == "<unk>"
    assert corpus.vocabulary.text_options == {"one_sentence_per_row": True, "pretokenized": True,
                                              "lowercase": False}


def test_preprocess_reads_a_text_file_by_paragraph(tmp_path, capsys):
    from rnncore.preprocess import PreprocessedCorpus

    book = tmp_path / "book.txt"
    book.write_text("The Cat\n\nThe cat sat on the mat. It was a warm\nday in the town.\n\n"
                    "The dog ran home.\n", encoding="utf-8")
    assert main(["preprocess", str(book), "-o", str(tmp_path / "c.npz")]) == 0
    out = capsys.readouterr().out
    assert "Reading text file" in out and "Parsed 4 sentences." in out
    corpus = PreprocessedCorpus.load(tmp_path / "c.npz")
    words = [corpus.vocabulary.index_to_word[i] for i in corpus.sentences[2]]
    assert words[1:-1] == ["it", "was", "a", "warm", "day", "in", "the", "town", "."]  # one sentence


def test_train_generate_score(tmp_path, corpus, capsys):
    model = tmp_path / "model.npz"
    assert main(["train", str(corpus / "corpus.npz"), "--hidden-dim", "8", "--nepoch", "2",
                 "--engine", "numpy", "--learning-rate", "0.01", "-o", str(model)]) == 0
    out = capsys.readouterr().out
    assert out.count("Loss after num_examples_seen=") == 3 and "Wrote" in out
    checkpoint = load_checkpoint(model)
    assert checkpoint.state["finished"] and checkpoint.model_config.hidden_dim == 8
    assert len(checkpoint.vocabulary) == 25

    assert main(["generate", str(model), "--seed", "3", "--num-samples", "4"]) == 0
    first = capsys.readouterr().out
    assert main(["generate", str(model), "--seed", "3", "--num-samples", "4"]) == 0
    assert capsys.readouterr().out == first and len(first.splitlines()) == 4
    assert "UNKNOWN_TOKEN" not in first

    assert main(["generate", str(model), "--prefix", "The zebra", "--num-samples", "2",
                 "--top-k", "3", "--seed", "1"]) == 0
    captured = capsys.readouterr()
    assert all(line.startswith("the zebra") for line in captured.out.splitlines())
    assert "zebra" in captured.err  # reported as unknown, not dropped

    assert main(["score", str(model), "the cat sat on the mat.", "mat the on sat cat the",
                 "--words"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1. log P = ") and "2. log P = " in out and "SENTENCE_END:" in out


def test_resume_extends_a_finished_run(tmp_path, corpus, capsys):
    model = tmp_path / "model.npz"
    common = ["--hidden-dim", "8", "--engine", "numpy", "--learning-rate", "0.01"]
    assert main(["train", str(corpus / "corpus.npz"), *common, "--nepoch", "1", "-o", str(model)]) == 0
    assert main(["train", str(corpus / "corpus.npz"), "--resume", str(model), "--nepoch", "2"]) == 0
    assert load_checkpoint(model).state["epoch"] == 2
    capsys.readouterr()
    assert main(["train", str(corpus / "corpus.npz"), "--resume", str(model),
                 "--hidden-dim", "9"]) == 2
    assert "--hidden-dim cannot change when resuming" in capsys.readouterr().err


@pytest.mark.parametrize("args, words", [
    (["train", "absent.npz", "-o", "m.npz"], "no such file"),
    (["train", "{model}", "-o", "m.npz", "--engine", "numpy"], "is not a corpus file"),
    (["train", "{corpus}", "-o", "m.npz", "--hidden-dim", "0"], "hidden_dim must be between 1"),
    (["generate", "{corpus}"], "not an rnncore checkpoint"),
    (["generate", "{model}", "--temperature", "0"], "temperature must be more than 0"),
    (["score", "{model}", "  "], "there are no words to score"),
    (["preprocess", "absent.csv", "-o", "c.npz"], "absent.csv"),
])
def test_errors_are_one_line_and_exit_2(tmp_path, corpus, capsys, args, words):
    model = tmp_path / "model.npz"
    if "{model}" in args:
        assert main(["train", str(corpus / "corpus.npz"), "--hidden-dim", "4", "--nepoch", "1",
                     "--engine", "numpy", "-o", str(model)]) == 0
    capsys.readouterr()
    args = [a.format(model=model, corpus=corpus / "corpus.npz") for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_ctrl_c_checkpoints_and_resume_finishes(tmp_path, corpus):
    model = tmp_path / "model.npz"
    process = subprocess.Popen(
        [sys.executable, "-m", "rnncore", "train", str(corpus / "corpus.npz"), "--hidden-dim", "8",
         "--nepoch", "10000", "--engine", "numpy", "--learning-rate", "0.001", "-o", str(model)],
        cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not model.exists() and time.monotonic() < deadline:  # the first evaluation's checkpoint
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "training stopped at epoch" in err and f"--resume {model}" in err
    assert "Traceback" not in err
    stopped_at = load_checkpoint(model).state["examples_seen"]
    # Two epochs on: a stop that lands after an epoch's last batch, before the epoch count moves
    # on, leaves nothing of that epoch to train (on a loaded machine it does).
    done = run_cli("train", str(corpus / "corpus.npz"), "--resume", str(model), "--nepoch",
                   str(load_checkpoint(model).state["epoch"] + 2), "--quiet")
    assert done.returncode == 0, done.stderr
    assert load_checkpoint(model).state["examples_seen"] > stopped_at


def test_help_explains_each_setting():
    result = run_cli("train", "--help")
    assert result.returncode == 0
    for flag in ("--hidden-dim", "--bptt-truncate", "--learning-rate", "--nepoch",
                 "--evaluate-loss-after", "--batch-size", "--engine", "--dtype", "--optimizer",
                 "--seed", "--resume"):
        assert flag in result.stdout
