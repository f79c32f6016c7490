"""Rate limits on uploads, starting jobs and the playground: past the configured rate a client
address gets 429 with the rate and the wait in words (and a Retry-After header); the page form
and the API of one action share one allowance; other addresses and plain pages are untouched.
With Redis the count is shared by every web process.
"""
from __future__ import annotations

import io

import pytest

from conftest import TINY_TRAINING, dispose, make_test_app, write_corpus
from webapp.settings import SettingsError, load_settings


@pytest.fixture
def limited(data_dir):
    app = make_test_app(data_dir, UPLOAD_RATE_LIMIT="3 per minute", JOB_RATE_LIMIT="2 per minute",
                        PLAYGROUND_RATE_LIMIT="4/minute", MAX_ACTIVE_JOBS_PER_VISITOR=100)
    yield app
    dispose(app)


def csv_file(tmp_path) -> bytes:
    return write_corpus(tmp_path / "c.csv", rows=30).read_bytes()


def api_upload(client, content: bytes, **kwargs):
    return client.post("/api/corpora", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(content), "c.csv")}, **kwargs)


def assert_limited(response, what: str, rate: str) -> None:
    assert response.status_code == 429
    text = response.get_data(as_text=True)
    assert f"Too many {what} from your address: the server allows {rate}" in text
    assert "Try again in" in text
    assert int(response.headers["Retry-After"]) > 0


def test_uploads_trip_the_limit_and_forms_share_it(limited, tmp_path):
    client = limited.test_client()
    content = csv_file(tmp_path)
    assert api_upload(client, content).status_code == 201
    form = client.post("/corpora/upload", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(content), "c.csv")})
    assert form.status_code == 302
    assert client.post("/api/corpora/sample", json={}).status_code == 202  # counted as upload
    assert_limited(api_upload(client, content), "uploads", "3 per minute")
    page = client.post("/corpora/upload", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(content), "c.csv")})
    assert_limited(page, "uploads", "3 per minute")
    assert "Too many uploads" in page.get_data(as_text=True) and "<html" in page.get_data(
        as_text=True)
    # Another address has its own allowance; pages are not limited at all.
    other = api_upload(client, content, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 201
    assert all(client.get("/").status_code == 200 for _ in range(20))


def test_starting_jobs_trips_the_limit(limited, tmp_path):
    from worker.context import WorkerContext
    from worker.corpora import run_preprocessing

    client = limited.test_client()
    corpus = api_upload(client, csv_file(tmp_path)).get_json()
    client.post(f"/api/corpora/{corpus['id']}/preprocess", json={"vocabulary_size": 50})
    ctx = WorkerContext.open(limited.config["SQLALCHEMY_DATABASE_URI"], limited.config["DATA_DIR"])
    assert run_preprocessing(ctx, corpus["id"]) == "ready"
    ctx.close()
    body = {"corpus_id": corpus["id"], **TINY_TRAINING, "vocabulary_size": 50}
    assert client.post("/api/jobs", json=body).status_code == 202
    form = {k: str(v) for k, v in body.items()}
    assert client.post("/jobs/new", data=form).status_code == 302
    assert_limited(client.post("/api/jobs", json=body), "training jobs started", "2 per minute")
    assert_limited(client.post("/jobs/new", data=form), "training jobs started", "2 per minute")


def test_the_playground_trips_the_limit(data_dir, client, trained_model):
    app = make_test_app(data_dir, PLAYGROUND_RATE_LIMIT="4 per 10 minutes")
    try:
        client = app.test_client()
        model = trained_model["id"]
        answers = [client.post(f"/api/models/{model}/generate", json={"prefix": "the"}),
                   client.post(f"/api/models/{model}/next-words", json={"prefix": "the"}),
                   client.post(f"/api/models/{model}/score", json={"sentences": ["the cat."]}),
                   client.post(f"/models/{model}/generate", data={"prefix": "the"})]
        assert [a.status_code for a in answers] == [200] * 4
        assert_limited(client.post(f"/api/models/{model}/generate", json={}),
                       "playground questions", "4 per 10 minutes")
        assert_limited(client.post(f"/models/{model}/next-words", data={"prefix": "a"}),
                       "playground questions", "4 per 10 minutes")
        assert client.get(f"/models/{model}").status_code == 200  # the page itself is not
    finally:
        dispose(app)


def test_rates_are_settings_and_can_be_switched_off(data_dir, tmp_path):
    assert load_settings({"RNNLAB_UPLOAD_RATE_LIMIT": "5/hour"}).upload_rate_limit == "5/hour"
    assert load_settings({"RNNLAB_PLAYGROUND_RATE_LIMIT": "off"}).playground_rate_limit is None
    for name in ("RNNLAB_UPLOAD_RATE_LIMIT", "RNNLAB_JOB_RATE_LIMIT",
                 "RNNLAB_PLAYGROUND_RATE_LIMIT"):
        with pytest.raises(SettingsError, match=name):
            load_settings({name: "as fast as you like"})
    app = make_test_app(data_dir, UPLOAD_RATE_LIMIT=None)
    try:
        client = app.test_client()
        content = csv_file(tmp_path)
        assert all(api_upload(client, content).status_code == 201 for _ in range(25))
    finally:
        dispose(app)


@pytest.mark.integration
def test_with_redis_every_web_process_shares_the_count(live_stack_factory, tmp_path):
    """Two gunicorn processes, one allowance: exactly the rate gets through, the rest is 429."""
    import http.cookiejar
    import json
    import urllib.error
    import urllib.request

    import redis
    from integration.stack import Process, free_port
    from scripts.run_web import gunicorn_command

    stack = live_stack_factory(RNNLAB_UPLOAD_RATE_LIMIT="4 per minute")
    port = free_port()
    second = Process("web2", gunicorn_command("127.0.0.1", port, 1), stack.env,
                     stack.root / "logs" / "web2.log")
    second.start()
    try:
        urls = [stack.base_url, f"http://127.0.0.1:{port}"]
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(
            http.cookiejar.CookieJar()))  # one browser; cookies do not depend on the port

        def call(url, body=None, headers=None):
            request = urllib.request.Request(url, data=body, headers=headers or {})
            try:
                with opener.open(request, timeout=30) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                with error:
                    return error.code, json.loads(error.read())
            except OSError:
                return None, None

        stack._wait("second gunicorn", lambda: call(urls[1] + "/api/jobs")[0] == 200, 60, second)
        token = call(urls[0] + "/api/csrf-token")[1]["csrf_token"]
        boundary = "rnnlab-limit-test"
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="c.csv"\r\nContent-Type: text/csv\r\n\r\n').encode() + \
            csv_file(tmp_path) + f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
                   "X-CSRFToken": token}
        answers = [call(urls[i % 2] + "/api/corpora", body, headers) for i in range(9)]
    finally:
        second.kill()
    statuses = [status for status, _ in answers]
    assert statuses.count(201) == 4 and statuses.count(429) == 5, statuses
    assert "4 per minute" in next(a for s, a in answers if s == 429)["error"]
    client = redis.Redis.from_url(stack.redis_url)
    try:
        assert any(b"uploads" in key for key in client.scan_iter(match="*rnnlab*"))
    finally:
        client.close()
