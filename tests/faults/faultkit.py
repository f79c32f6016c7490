"""Helpers for the fault tests: a second browser, corpora made ready over HTTP, watching a job,
the worker's pool processes, and the reference run a resumed job must equal.

The fault tests run the real processes (``live_stack`` in tests/conftest.py): redis-server, a
Celery worker and gunicorn; they kill, stop and restart them, then look at what the app says.
"""
from __future__ import annotations

import http.cookiejar
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import SHARED_CORPORA, write_corpus

FINAL = ("finished", "failed", "cancelled")
# A model that trains in a second or two per epoch on the reddit sample with the numpy engine.
SMALL = {"vocabulary_size": 500, "hidden_dim": 16, "nepoch": 2, "evaluate_loss_after": 1,
         "engine": "numpy", "dtype": "float32", "seed": 1, "batch_size": 8, "clip_norm": 0.01,
         "cell": "rnn", "dropout": 0.0, "learning_rate": 0.005}


def reddit_or_generated(tmp_path: Path) -> Path:
    path = SHARED_CORPORA / "reddit-comments-2015-08-sample.csv"
    return path if path.exists() else write_corpus(tmp_path / "generated.csv", rows=600)


def preprocessed(stack, path: Path, vocabulary_size: int = 500, timeout: float = 120) -> dict:
    """Upload ``path`` and preprocess it; the corpus once ready."""
    corpus = stack.upload(path)
    stack.post(f"/api/corpora/{corpus['id']}/preprocess", {"vocabulary_size": vocabulary_size},
               expect=202)
    ready = stack.wait_for(f"/api/corpora/{corpus['id']}",
                           lambda c: c["state"] in ("ready", "failed"), timeout=timeout)
    assert ready["state"] == "ready", ready["error"]
    return ready


def start_job(stack, corpus_id: str, **settings) -> dict:
    return stack.post("/api/jobs", {"corpus_id": corpus_id, **SMALL, **settings}, expect=202)


def wait_job(stack, job_id: str, done, timeout: float = 120, interval: float = 0.05) -> dict:
    """Poll the job until ``done(job)``; a job that ends first fails the test with its state."""
    def done_or_ended(job: dict) -> bool:
        if done(job):
            return True
        assert job["state"] not in FINAL, \
            f"job {job_id} ended {job['state']!r} before the test saw what it waits for: " \
            f"{job.get('error') or job.get('message')}"
        return False

    return stack.wait_for(f"/api/jobs/{job_id}", done_or_ended, timeout=timeout, interval=interval)


def until_final(stack, job_id: str, timeout: float = 180) -> dict:
    return wait_job(stack, job_id, lambda j: j["state"] in FINAL, timeout, 0.2)


def history(stack, job_id: str) -> list[dict]:
    return stack.get(f"/api/jobs/{job_id}?since=0")["history"]


def pool_children(pid: int) -> list[int]:
    """The processes the Celery worker forked (its pool), from /proc."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        children.extend(int(c) for c in text)
    return children


def timed(action) -> tuple[object, float]:
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


class Browser:
    """Another browser: its own cookies (so its own visitor id and CSRF token) on the same app."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(
            http.cookiejar.CookieJar()))

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, object]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers=headers)
        try:
            with self.opener.open(request, timeout=30) as response:
                raw = response.read()
                return response.status, _decode(raw, response.headers.get_content_type())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, _decode(error.read(), error.headers.get_content_type())


    def upload(self, path: Path) -> tuple[int, object]:
        """POST a CSV to /api/corpora as this browser, with its own CSRF token."""
        import uuid

        _, answer = self.request("GET", "/api/csrf-token")
        boundary = uuid.uuid4().hex
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{path.name}"\r\nContent-Type: text/csv\r\n\r\n').encode() + \
            path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(self.base_url + "/api/corpora", data=body, headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "X-CSRFToken": answer["csrf_token"]})
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read())


def _decode(raw: bytes, content_type: str):
    return json.loads(raw or b"null") if content_type == "application/json" else raw.decode()


def page(stack, path: str) -> tuple[int, str]:
    """An HTML page with the stack's own cookies."""
    request = urllib.request.Request(stack.base_url + path)
    try:
        with stack._opener.open(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def files_under(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()}


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def post_form(stack, path: str, fields: dict, token_page: str) -> tuple[int, str]:
    """POST an HTML form with the CSRF token read from ``token_page``, as a browser would."""
    import re
    from urllib.parse import urlencode

    _, html = page(stack, token_page)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)
    body = urlencode({**fields, "csrf_token": token}).encode()
    request = urllib.request.Request(stack.base_url + path, data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Referer": stack.base_url + "/"})
    try:
        with stack._opener.open(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()
