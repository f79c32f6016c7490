"""Browser fixtures: one live stack (Redis, a worker, gunicorn) and one headless Chromium for the
whole browser suite, and a fresh browser context per page, watched.

Every page a test opens is watched for console errors, uncaught exceptions, failed requests,
answers of 400 or more and requests to any origin but the test server's; a test that saw any of
them fails, with the list. Screenshots go to test-artifacts/screenshots/ (``shoot``), and every
open page is photographed there when a test fails (``failed-<test>-<n>.png``).

Chromium is Debian's /usr/bin/chromium, driven by Playwright for Python (Playwright's own browser
download needs the internet).
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The whole app, started once for every browser test (a worker trains one job at a time)."""
    from integration.stack import LiveStack

    stack = LiveStack(tmp_path_factory.mktemp("browser-stack"))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "The browser tests need Debian's chromium: run `make install-browser`."
    for old in SCREENSHOTS.glob("failed-*.png"):  # from an earlier run; this run makes its own
        old.unlink()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def visitor(browser, stack, tmp_path_factory) -> dict:
    """One person's browser cookies (what they made, they may change), and what they already
    made through the JSON API: a small corpus ``ready`` at vocabulary 60, a second one only
    ``uploaded``, and a tiny ``model`` trained on the first by the worker (its ``job``).
    """
    from conftest import TINY_TRAINING, write_corpus

    context = browser.new_context(base_url=stack.base_url)
    api = context.request
    token = api.get("/api/csrf-token").json()["csrf_token"]
    made = {}
    for key, rows in (("ready", 200), ("uploaded", 40)):
        path = write_corpus(tmp_path_factory.mktemp("corpora") / f"{key}-sentences.csv", rows=rows)
        answer = api.post("/api/corpora", headers={"X-CSRFToken": token}, multipart={
            "file": {"name": path.name, "mimeType": "text/csv", "buffer": path.read_bytes()},
            "name": f"Short sentences ({key})"})
        assert answer.status == 201, answer.text()
        made[key] = answer.json()
    corpus_id = made["ready"]["id"]
    answer = api.post(f"/api/corpora/{corpus_id}/preprocess", data={"vocabulary_size": 60})
    assert answer.status == 202, answer.text()
    made["ready"] = stack.wait_for(f"/api/corpora/{corpus_id}",
                                   lambda c: c["state"] in ("ready", "failed"), timeout=60)
    assert made["ready"]["state"] == "ready", made["ready"]["error"]
    answer = api.post("/api/jobs", data={"corpus_id": corpus_id, **TINY_TRAINING})
    assert answer.status == 202, answer.text()
    made["job"] = stack.wait_for(f"/api/jobs/{answer.json()['id']}",
                                 lambda j: j["state"] in ("finished", "failed", "cancelled"))
    assert made["job"]["state"] == "finished", made["job"]["error"]
    made["model"] = stack.get(f"/api/models/{made['job']['model_id']}")
    made["storage_state"] = context.storage_state()
    context.close()
    return made


@pytest.fixture(scope="session")
def every_page(visitor) -> dict[str, str]:
    """Each kind of page, by a short name, with the path that shows it filled in."""
    return {
        "home": "/",
        "upload": "/corpora/upload",
        "corpus-uploaded": visitor["uploaded"]["url"],
        "corpus-report": visitor["ready"]["url"],
        "train-form": f"/jobs/new?corpus={visitor['ready']['id']}",
        "job": visitor["job"]["url"],
        "playground": visitor["model"]["url"],
        "delete-corpus": visitor["ready"]["url"] + "/delete",  # asks; deletes nothing
        "not-found": "/corpora/no-such-corpus",
    }


NOT_FOUND = r"/corpora/no-such-corpus"  # every_page's error page: its 404 is expected


# Resource types whose requests a navigation may cut off (net::ERR_ABORTED) without anything being
# wrong; a document's own request is not among them.
CUT_BY_NAVIGATION = {"fetch", "script", "stylesheet", "image", "font"}


class Watcher:
    """What went wrong on the pages of one test, as sentences; ``allow`` excuses a URL pattern."""

    def __init__(self, origin: str):
        self.origin = origin
        self.problems: list[str] = []
        self.allowed: list[re.Pattern] = []
        self.requests: list[str] = []

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def _excused(self, text: str) -> bool:
        return any(p.search(text) for p in self.allowed)

    def watch(self, page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("request", self._request)
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message) -> None:
        text = f"console {message.type}: {message.text} at {message.location.get('url')}"
        if message.type == "error" and not self._excused(text):
            self.problems.append(text)

    def _request(self, request) -> None:
        self.requests.append(request.url)
        parts = urlsplit(request.url)
        if parts.scheme not in ("data", "blob") and \
                f"{parts.scheme}://{parts.netloc}" != self.origin:
            self.problems.append(f"request to another origin: {request.url}")

    def _failed(self, request) -> None:
        failure = request.failure or ""
        # A request still in flight when the page navigates (a form submitted, a reload, a link
        # followed before the page had loaded) is cut by the browser: a poll, which the page's
        # script tries again on the next page, or a script, stylesheet or image of the page being
        # left. A file that is missing or broken answers 4xx or 5xx instead (``_response``).
        if failure == "net::ERR_ABORTED" and request.resource_type in CUT_BY_NAVIGATION:
            return
        if not self._excused(request.url):
            self.problems.append(f"request failed: {request.method} {request.url}: {failure}")

    def _response(self, response) -> None:
        if response.status >= 400 and not self._excused(response.url):
            self.problems.append(f"answer {response.status}: {response.request.method} "
                                 f"{response.url}")


class Pages:
    """Opens watched pages in fresh contexts; closes them all at the end of the test."""

    def __init__(self, browser, base_url: str, storage_state: dict):
        self.browser = browser
        self.base_url = base_url
        self.storage_state = storage_state
        self.watcher = Watcher(base_url)
        self.contexts = []
        self.open_pages = []

    def new(self, viewport: dict | None = None, **options):
        context = self.browser.new_context(base_url=self.base_url, viewport=viewport or DESKTOP,
                                           locale="en-US", storage_state=self.storage_state,
                                           **options)
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = context.new_page()
        self.watcher.watch(page)
        self.open_pages.append(page)
        return page

    def screenshot_all(self, prefix: str) -> None:
        for n, page in enumerate(self.open_pages):
            if not page.is_closed():
                shoot(page, f"{prefix}-{n}")

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def shoot(page, name: str) -> Path:
    """A full-page screenshot at test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


@pytest.fixture
def pages(browser, stack, visitor):
    """Pages of the person in ``visitor`` (their cookies), watched for problems."""
    pages = Pages(browser, stack.base_url, visitor["storage_state"])
    yield pages
    pages.close()


@pytest.fixture
def page(pages):
    """A desktop-sized page on the live stack; relative URLs work (``page.goto("/")``)."""
    return pages.new()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    pages = item.funcargs.get("pages")
    try:
        result = yield
    except BaseException:
        if pages is not None:
            pages.screenshot_all(f"failed-{re.sub(r'[^A-Za-z0-9_.-]', '_', item.name)}")
        raise
    if pages is not None and pages.watcher.problems:
        pages.screenshot_all(f"failed-{re.sub(r'[^A-Za-z0-9_.-]', '_', item.name)}")
        problems = "\n  ".join(dict.fromkeys(pages.watcher.problems))
        raise AssertionError(f"the browser saw problems:\n  {problems}")
    return result
