"""Requests shaped to break the server rather than to ask it something: numbers too large for the
database, digits that are not ASCII, JSON nested deeper than Python's recursion limit, thousands of
form fields, and a Host header naming another site (DNS rebinding). Each gets a 4xx answer in
words, never a server error.
"""
from __future__ import annotations

import pytest

from conftest import TINY_TRAINING

DEEP_JSON = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("since", ["99999999999999999999999", "%C2%B2", "-1", "1.5", "%EF%BC%91"])
def test_a_since_that_is_not_an_event_id_is_refused(client, ready_corpus, since):
    job = client.post("/api/jobs", json={"corpus_id": ready_corpus["id"], **TINY_TRAINING})
    response = client.get(f"/api/jobs/{job.get_json()['id']}?since={since}")
    assert response.status_code == 400
    assert "since must be an event id" in response.get_json()["error"]


def test_json_nested_too_deep_is_refused_in_words(client, trained_model, ready_corpus):
    for url in (f"/api/models/{trained_model['id']}/generate", "/api/jobs",
                f"/api/corpora/{ready_corpus['id']}/preprocess"):
        response = client.post(url, data=DEEP_JSON, content_type="application/json")
        assert response.status_code == 400, url
        assert "nested too deeply" in response.get_json()["error"], url
