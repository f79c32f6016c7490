"""rnncore.detokenize: NLTK's word tokens back into the text they came from."""
import random

import pytest

from rnncore.detokenize import detokenize
from rnncore.generate import detokenize as generate_detokenize
from rnncore.text import split_words, tokenize_words
from rnncore.vocabulary import UNKNOWN_TOKEN

# Written text, lowercased as the corpus is: tokenizing then detokenizing must give it back.
ROUND_TRIPS = [
    # contractions
    "i can't go, and you shouldn't either.",
    "they've said we'll see what you're doing; i'm sure she'd agree.",
    "it isn't, wasn't and won't be ours, ain't it?",
    "you gotta go, i'm gonna stay and we wanna see it.",
    # possessives
    "john's car and the boys' toys are the company's.",
    "the u.s. firm's chief, mr. smith, said it's his.",
    # currency and numbers
    "it cost $5 and then $3.50, about 10% more.",
    "they paid \u00a3200 (or \u20ac240) for it.",
    # quotes, double and single
    'he said, "i can\'t pay $5 for john\'s car."',
    "she called it 'fine' -- and left.",
    '"no," he said, "not now."',
    # brackets and other punctuation
    "the plan (a new one) failed: nobody came!",
    "wait... what?",
]


@pytest.mark.parametrize("text", ROUND_TRIPS)
def test_detokenize_undoes_nltk_word_tokenization(text):
    assert detokenize(tokenize_words(text)) == text


@pytest.mark.parametrize("words, text", [
    (["that", "n't"], "that n't"),           # a model's sample: "n't" only after a verb
    (["july", "'ve"], "july 've"),
    (["$", "the", "'s"], "$ the 's"),         # "$" only before a number; no "the's"
    (["did", "n't", "we"], "didn't we"),
    (["ca", "n't"], "can't"),
    (["wo", "n't"], "won't"),
    (["i", "'m", "here"], "i'm here"),
    (["dog", "'s"], "dog's"),
    (["$", "5"], "$5"),
])
def test_clitics_join_only_words_that_can_carry_them(words, text):
    assert detokenize(words) == text


def test_markers_stay_apart_as_the_corpus_wrote_them():
    words = split_words("well @-@ known <eos> makers of <unk> , 3 @,@ 000 of them .")
    assert detokenize(words) == f"well @-@ known <eos> makers of {UNKNOWN_TOKEN}, 3 @,@ 000 of them."
    assert detokenize(words, "<unk>") == "well @-@ known <eos> makers of <unk>, 3 @,@ 000 of them."


def test_treebank_bracket_names_become_brackets():
    assert detokenize(["the", "-LRB-", "new", "-RRB-", "plan", "."]) == "the (new) plan."


def test_generate_uses_the_same_detokenizer():
    assert generate_detokenize(["that", "n't", "did", "n't"]) == "that n't didn't"


_PARTS = ["the", "dog", "i", "she", "cats", "it", "5", "3.50"]


def _written_sentence(rng: random.Random) -> str:
    """A sentence made of pieces whose written form is known, with spacing as a person types it."""
    pieces = []
    for _ in range(rng.randint(2, 12)):
        kind = rng.randrange(8)
        if kind == 0:
            pieces.append(rng.choice(["didn't", "can't", "won't", "isn't", "wouldn't"]))
        elif kind == 1:
            pieces.append(rng.choice(["i'm", "you're", "we've", "they'll", "she'd"]))
        elif kind == 2:
            pieces.append(rng.choice(["john's", "the dog's", "the boys'"]))
        elif kind == 3:
            pieces.append("$" + rng.choice(["5", "3.50", "100"]))
        elif kind == 4:
            pieces.append('"' + rng.choice(_PARTS) + '"')
        elif kind == 5:
            pieces.append("(" + rng.choice(_PARTS) + ")")
        else:
            pieces.append(rng.choice(_PARTS) + rng.choice(["", "", ",", ";"]))
    return " ".join(pieces).rstrip(",;") + rng.choice([".", "!", "?"])


def test_detokenize_inverts_tokenization_of_many_generated_sentences():
    rng = random.Random(11)
    for _ in range(500):
        text = _written_sentence(rng)
        assert detokenize(tokenize_words(text)) == text, text
