"""Cross-site request protection, with CSRF enabled as in production.

Forms need Flask-WTF's token; the API takes either the token in X-CSRFToken or same-origin JSON.
"""
from __future__ import annotations

import re

import pytest

from conftest import dispose, make_test_app


@pytest.fixture
def csrf_client(data_dir):
    app = make_test_app(data_dir, WTF_CSRF_ENABLED=True)
    yield app.test_client()
    dispose(app)


def page_token(client, url="/corpora/upload") -> str:
    page = client.get(url).get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


@pytest.mark.parametrize("url", ["/corpora/upload", "/corpora/sample", "/corpora/x/preprocess",
                                 "/jobs/new", "/jobs/x/cancel", "/models/x/generate",
                                 "/models/x/delete"])
def test_every_form_refuses_a_post_without_token(csrf_client, url):
    response = csrf_client.post(url, data={})
    assert response.status_code == 400
    assert "security token is missing" in response.get_data(as_text=True)


def test_a_form_with_its_token_goes_through(csrf_client, corpus_csv):
    token = page_token(csrf_client)
    with open(corpus_csv, "rb") as f:
        response = csrf_client.post("/corpora/upload", content_type="multipart/form-data",
                                    data={"file": (f, "a.csv"), "csrf_token": token})
    assert response.status_code == 302


def test_a_token_from_another_session_is_refused(csrf_client, data_dir, corpus_csv):
    token = page_token(csrf_client)
    other = csrf_client.application.test_client()
    with open(corpus_csv, "rb") as f:
        response = other.post("/corpora/upload", content_type="multipart/form-data",
                              data={"file": (f, "a.csv"), "csrf_token": token})
    assert response.status_code == 400


def test_api_upload_needs_the_token_header(csrf_client, corpus_csv):
    with open(corpus_csv, "rb") as f:
        refused = csrf_client.post("/api/corpora", content_type="multipart/form-data",
                                   data={"file": (f, "a.csv")})
    assert refused.status_code == 400 and "X-CSRFToken" in refused.get_json()["error"]
    token = csrf_client.get("/api/csrf-token").get_json()["csrf_token"]
    with open(corpus_csv, "rb") as f:
        accepted = csrf_client.post("/api/corpora", content_type="multipart/form-data",
                                    data={"file": (f, "a.csv")}, headers={"X-CSRFToken": token})
    assert accepted.status_code == 201


def test_api_refuses_a_bad_token(csrf_client):
    response = csrf_client.post("/api/corpora/sample", json={}, headers={"X-CSRFToken": "forged"})
    assert response.status_code == 400 and "not valid" in response.get_json()["error"]


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"},
                                     {"Sec-Fetch-Site": "cross-site"}])
def test_api_refuses_cross_site_json(csrf_client, headers):
    response = csrf_client.post("/api/jobs/x/cancel", json={}, headers=headers)
    assert response.status_code == 403


def test_api_refuses_a_form_encoded_post(csrf_client):
    response = csrf_client.post("/api/jobs/x/cancel", data={"a": "b"})
    assert response.status_code == 400 and "Send JSON" in response.get_json()["error"]


@pytest.mark.parametrize("headers", [{}, {"Origin": "http://localhost"},
                                     {"Sec-Fetch-Site": "same-origin"}])
def test_api_accepts_same_origin_json(csrf_client, headers):
    # The check passes, so the request reaches the view, which does not know this job.
    response = csrf_client.post("/api/jobs/x/cancel", json={}, headers=headers)
    assert response.status_code == 404


def test_reads_need_no_token(csrf_client):
    assert csrf_client.get("/api/jobs").status_code == 200
