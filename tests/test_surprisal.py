"""Surprisal in one unit, bits, everywhere in the playground: per word, a sentence's total and
its average, next words' surprisal, the words coloured by band, and the same figures in the
JSON API. Compared with rnncore's own numbers (natural-log probabilities).
"""
from __future__ import annotations

import math
import re

import pytest

from webapp.playground import BIT_BANDS, bit_band, bit_band_labels


def test_the_bands_cover_every_surprisal():
    assert [bit_band(b) for b in (0.0, 0.5, 1.0, 1.99, 2.0, 7.5, 12.0, 40.0)] == [
        0, 0, 1, 1, 2, 3, 5, 5]
    assert len(bit_band_labels()) == len(BIT_BANDS) + 1
    assert bit_band_labels()[0] == "under 1 bit" and bit_band_labels()[-1] == "12 bits or more"


def test_scores_are_in_bits(client, trained_model):
    answer = client.post(f"/api/models/{trained_model['id']}/score", json={
        "sentences": ["the cat sees the red ball .", "ball red the sees cat the ."]}).get_json()
    for r in answer["ranked"]:
        words = [w["bits"] for w in r["surprisal"]]
        assert r["bits"] == pytest.approx(sum(words))
        assert r["bits"] == pytest.approx(-r["log_probability"] / math.log(2))
        assert r["bits_per_word"] == pytest.approx(r["bits"] / len(words))
        assert r["perplexity"] == pytest.approx(2 ** r["bits_per_word"])
    assert [r["bits"] for r in answer["ranked"]] == sorted(r["bits"] for r in answer["ranked"])


def test_next_words_say_their_surprisal(client, trained_model):
    answer = client.post(f"/api/models/{trained_model['id']}/next-words",
                         json={"prefix": "the", "k": 5}).get_json()
    for c in answer["candidates"]:
        assert c["bits"] == pytest.approx(-math.log2(c["probability"]))


def test_the_page_colours_words_by_bits_without_javascript(client, trained_model):
    page = client.post(f"/models/{trained_model['id']}/score",
                       data={"sentences": "the cat sees the red ball ."}).get_data(as_text=True)
    api = client.post(f"/api/models/{trained_model['id']}/score",
                      json={"sentences": ["the cat sees the red ball ."]}).get_json()
    chips = re.findall(r'<span class="token bits-(\d)[^"]*" title="([\d.]+) bits">', page)
    assert [int(band) for band, _ in chips] == [bit_band(w["bits"])
                                                for w in api["ranked"][0]["surprisal"]]
    assert "bits in all" in page and "log-probability" not in page
    assert 'id="bit-legend"' in page and "12 bits or more" in page
    next_page = client.post(f"/models/{trained_model['id']}/next-words",
                            data={"prefix": "the", "k": "3"}).get_data(as_text=True)
    assert "Surprisal (bits)" in next_page
