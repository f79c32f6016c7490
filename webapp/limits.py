"""Rate limits on what costs the server most: uploads, starting jobs, the playground's answers.

Flask-Limiter counts per client address, in Redis when the app has one (so every gunicorn process
shares the count), falling back to memory while Redis is down so that an outage never blocks a
page. One Limiter per app (tests build many apps in one process), applied by wrapping the views
of each scope with a shared limit, so the page form and the JSON API of one action draw on the
same allowance. The rates are settings (RNNLAB_*_RATE_LIMIT); a breach answers 429 with the rate
in words and a Retry-After header.
"""
from __future__ import annotations

import time

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

# scope: (config key, endpoints, what is counted, in words)
SCOPES = {
    "uploads": ("UPLOAD_RATE_LIMIT",
                ("api.upload_corpus", "corpora.upload_post", "api.sample_corpus", "corpora.sample",
                 "api.import_model", "models.import_post"),
                "uploads"),
    "jobs": ("JOB_RATE_LIMIT", ("api.create_job", "jobs.create", "api.continue_job",
                                "jobs.continue_training"), "training jobs started"),
    "playground": ("PLAYGROUND_RATE_LIMIT",
                   ("api.generate", "api.next_words", "api.score", "api.hidden_states",
                    "api.nearest_words", "api.memorised_runs", "models.ask"),
                   "playground questions"),
}
# A Redis that does not answer must cost a request well under a second before the fallback.
REDIS_TIMEOUT_S = 0.5


def storage_uri(broker_url: str) -> str:
    return broker_url if broker_url.startswith(("redis://", "rediss://")) else "memory://"


def init_limits(app: Flask) -> Limiter:
    """Bind a Limiter to ``app`` and limit the views of every scope whose rate is set."""
    uri = storage_uri(app.config["BROKER_URL"])
    options = ({"socket_connect_timeout": REDIS_TIMEOUT_S, "socket_timeout": REDIS_TIMEOUT_S}
               if uri != "memory://" else {})
    limiter = Limiter(key_func=get_remote_address, storage_uri=uri, storage_options=options,
                      in_memory_fallback_enabled=True, swallow_errors=True,
                      headers_enabled=True, key_prefix="rnnlab", strategy="fixed-window")
    limiter.init_app(app)
    for scope, (key, endpoints, what) in SCOPES.items():
        rate = app.config.get(key)
        if not rate:
            continue
        shared = limiter.shared_limit(rate, scope=scope, error_message=what)
        for endpoint in endpoints:
            app.view_functions[endpoint] = shared(app.view_functions[endpoint])
    app.extensions["rnnlab_limiter"] = limiter
    return limiter


def _rate_in_words(item) -> str:
    """"20 per hour", "5 per 10 minutes" from a ``limits`` RateLimitItem."""
    unit = item.GRANULARITY.name
    period = unit if item.multiples == 1 else f"{item.multiples} {unit}s"
    return f"{item.amount} per {period}"


def breach_message(limiter: Limiter, exc) -> str:
    """The 429 sentence for a RateLimitExceeded: what was counted, the rate, when to retry."""
    wait = ""
    current = limiter.current_limit
    if current is not None:
        seconds = max(1, int(current.reset_at - time.time()))
        wait = (f" Try again in {seconds} second{'s' if seconds != 1 else ''}." if seconds < 120
                else f" Try again in about {round(seconds / 60)} minutes.")
    return (f"Too many {exc.description} from your address: the server allows "
            f"{_rate_in_words(exc.limit.limit)} so that everyone gets a turn.{wait}")
