"""Cross-site requests, with CSRF protection on as in production.

The routes are read from the app's URL map, so a route added later is covered without editing
this file: every page form needs Flask-WTF's token, and every API change needs the X-CSRFToken
header or same-origin JSON. Pages are read back to check that each form carries its token.
"""
from __future__ import annotations

import re

import pytest

from conftest import dispose, make_test_app

CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
CROSS_SITE_HEADERS = [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},  # sandboxed iframes and file:// pages send this
    {"Origin": "http://localhost:8080"},  # same host name, another port
    {"Origin": "https://localhost"},  # same host name, another scheme
    {"Sec-Fetch-Site": "cross-site"},
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
]


def changing_routes(app) -> list[tuple[str, str]]:
    """(method, url) of every route that changes something, with made-up ids filled in."""
    out = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & CHANGING):
            url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "generate" if m.group(1) == "question"
                         else "x" * 22, rule.rule)
            out.append((method, url))
    return out


@pytest.fixture
def csrf_app(data_dir):
    app = make_test_app(data_dir, WTF_CSRF_ENABLED=True)
    yield app
    dispose(app)


def test_the_route_list_is_the_apps(csrf_app):
    routes = changing_routes(csrf_app)
    assert ("POST", "/api/jobs") in routes and ("DELETE", "/api/models/" + "x" * 22) in routes
    assert sum(1 for _, url in routes if not url.startswith("/api/")) >= 7


def test_every_page_form_needs_the_token(csrf_app):
    client = csrf_app.test_client()
    for method, url in changing_routes(csrf_app):
        if url.startswith("/api/"):
            continue
        response = client.open(url, method=method, data={"anything": "1"})
        assert response.status_code == 400, url
        assert "security token is missing" in response.get_data(as_text=True), url


@pytest.mark.parametrize("headers", CROSS_SITE_HEADERS, ids=lambda h: ",".join(h.values()))
def test_every_api_change_refuses_cross_site_json(csrf_app, headers):
    client = csrf_app.test_client()
    for method, url in changing_routes(csrf_app):
        if not url.startswith("/api/"):
            continue
        response = client.open(url, method=method, json={}, headers=headers)
        assert response.status_code == 403, (method, url, response.get_json())
        assert response.get_json()["error"] == "Requests from other sites are refused."


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_bodies_a_cross_site_form_can_send_are_refused(csrf_app, content_type):
    """An HTML form on another site can post these types without a preflight; JSON it cannot."""
    client = csrf_app.test_client()
    for method, url in changing_routes(csrf_app):
        if not url.startswith("/api/"):
            continue
        response = client.open(url, method=method, data='{"corpus_id": "x"}',
                               content_type=content_type)
        assert response.status_code == 400, (method, url)
        assert "X-CSRFToken" in response.get_json()["error"]


def test_a_token_of_another_session_does_not_open_the_api(csrf_app):
    theirs = csrf_app.test_client().get("/api/csrf-token").get_json()["csrf_token"]
    response = csrf_app.test_client().post("/api/jobs", json={}, headers={"X-CSRFToken": theirs})
    assert response.status_code == 400 and "not valid" in response.get_json()["error"]


def test_same_origin_json_gets_past_the_check(csrf_app):
    client = csrf_app.test_client()
    response = client.post("/api/jobs", json={"corpus_id": "x" * 22},
                           headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 404  # the check let it through to the view


def test_api_answers_carry_no_cors_permission(csrf_app):
    """Without Access-Control-Allow-Origin, a browser lets no other site read an answer."""
    client = csrf_app.test_client()
    for url in ("/api/jobs", "/api/csrf-token", "/api/models"):
        response = client.get(url, headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options("/api/jobs", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_every_form_on_every_page_carries_its_token(client, trained_model, data_dir):
    """Pages rendered by an app with CSRF on, over the data the fixtures made."""
    app = make_test_app(data_dir, WTF_CSRF_ENABLED=True)
    try:
        pages = ["/", "/corpora/upload", f"/corpora/{trained_model['corpus_id']}", "/jobs/new",
                 f"/jobs/{trained_model['job_id']}", f"/models/{trained_model['id']}"]
        seen = 0
        for url in pages:
            page = app.test_client().get(url).get_data(as_text=True)
            for form in re.findall(r"<form\b[^>]*>.*?</form>", page, flags=re.S):
                if re.search(r'method="post"', form, flags=re.I):
                    seen += 1
                    assert 'name="csrf_token"' in form, (url, form[:200])
        assert seen >= 8
    finally:
        dispose(app)


def test_the_session_cookie_stays_on_this_site(csrf_app):
    client = csrf_app.test_client()
    response = client.get("/api/csrf-token")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
