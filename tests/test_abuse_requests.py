"""Requests shaped to break the server rather than to ask it something: numbers too large for the
database, digits that are not ASCII, JSON nested deeper than Python's recursion limit, thousands of
form fields, and a Host header naming another site (DNS rebinding). Each gets a 4xx answer in
words, never a server error.
"""
from __future__ import annotations

import pytest

from conftest import TINY_TRAINING, dispose, make_test_app

DEEP_JSON = b"[" * 100_000 + b"]" * 100_000
BOUNDARY = "rnnlab-b0undary"


def multipart(fields: dict[str, str]) -> bytes:
    """A multipart body of plain text fields (no file), as a script could send it."""
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
             for name, value in fields.items()]
    return ("".join(parts) + f"--{BOUNDARY}--\r\n").encode()


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


@pytest.mark.parametrize("url", ["/corpora/upload", "/api/corpora"])
def test_many_small_form_fields_are_not_called_a_large_upload(client, url):
    body = multipart({f"f{i}": "x" * 10 for i in range(5000)})
    assert 250_000 < len(body) < 400_000
    response = client.post(url, data=body, content_type=f"multipart/form-data; boundary={BOUNDARY}")
    assert response.status_code == 413
    text = response.get_data(as_text=True)
    assert "too many form fields" in text and "MB limit" not in text


def test_a_large_form_field_is_called_what_it_is(client):
    body = multipart({"name": "x" * (600 * 1024)})
    response = client.post("/api/corpora", data=body,
                           content_type=f"multipart/form-data; boundary={BOUNDARY}")
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert "form field" in error and "MB limit" not in error


def test_an_upload_over_the_limit_still_names_the_limit(data_dir):
    app = make_test_app(data_dir, MAX_CONTENT_LENGTH=1024 * 1024)
    try:
        response = app.test_client().post("/api/corpora", data=b"x" * (2 * 1024 * 1024),
                                          content_type="text/csv")
        assert response.status_code == 413
        assert "larger than the 1 MB limit" in response.get_json()["error"]
    finally:
        dispose(app)


@pytest.mark.parametrize("host", ["rebind.attacker.example", "rebind.attacker.example:5000",
                                  "10.0.0.7"])
def test_a_foreign_host_header_is_refused(client, host):
    for method, url in (("GET", "/"), ("GET", "/api/corpora"), ("POST", "/api/corpora/sample")):
        response = client.open(url, method=method, headers={
            "Host": host, "Origin": f"http://{host}"}, json={} if method == "POST" else None)
        assert response.status_code == 400, (method, url)
        assert "not a name this server answers to" in response.get_data(as_text=True)


@pytest.mark.parametrize("host", ["localhost", "localhost:5000", "127.0.0.1:8123", "[::1]:5000"])
def test_loopback_host_headers_are_served(client, host):
    assert client.get("/api/corpora", headers={"Host": host}).status_code == 200


def test_trusted_hosts_come_from_the_setting(data_dir):
    from webapp.settings import load_settings

    settings = load_settings({"RNNLAB_TRUSTED_HOSTS": "lab.example.org, .lan",
                              "RNNLAB_HOST": "192.168.1.20", "RNNLAB_DATA_DIR": str(data_dir)})
    assert settings.trusted_hosts == ("lab.example.org", ".lan")
    assert load_settings({"RNNLAB_TRUSTED_HOSTS": "*"}).trusted_hosts is None
    assert load_settings({"RNNLAB_TRUSTED_HOSTS": "[FE80::1]:5000,Lab:80"}).trusted_hosts == (
        "fe80::1", "lab")
    default = load_settings({"RNNLAB_HOST": "192.168.1.20", "RNNLAB_DATA_DIR": str(data_dir)})
    assert default.trusted_hosts == ("localhost", "127.0.0.1", "::1", "192.168.1.20")
    everywhere = load_settings({"RNNLAB_HOST": "0.0.0.0", "RNNLAB_DATA_DIR": str(data_dir)})
    assert everywhere.trusted_hosts == ("localhost", "127.0.0.1", "::1")
    app = make_test_app(data_dir, RNNLAB_TRUSTED_HOSTS=settings.trusted_hosts)
    try:
        client = app.test_client()
        assert client.get("/api/corpora", headers={"Host": "lab.example.org"}).status_code == 200
        assert client.get("/api/corpora", headers={"Host": "pi.lan:5000"}).status_code == 200
        assert client.get("/api/corpora", headers={"Host": "localhost"}).status_code == 400
    finally:
        dispose(app)


def test_hosts_spelled_any_way_match_their_names():
    from webapp.factory import host_is_trusted

    trusted = ("localhost", "::1", ".lan")
    for host in ("LOCALHOST:5000", "[::1]", "[::1]:80", "pi.lan", "lan", "a.b.lan:8000"):
        assert host_is_trusted(host, trusted), host
    for host in ("", "localhost.attacker.example", "evillan", "[::2]", "localhost:", "a b",
                 "localhost/x", "lan."):
        assert not host_is_trusted(host, trusted), host
    assert host_is_trusted("anything.example", None)
