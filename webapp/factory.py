"""The app factory: settings, extensions, blueprints and error pages.

Order: defaults from the environment (``webapp.settings``), then ``test_config``; then the data
folder, the secret key (generated once into the data folder when SECRET_KEY is unset), the
database (tables created if missing), the task queue, the model cache and the artifact store.
"""
from __future__ import annotations

import logging
import os
import re
import secrets
from pathlib import Path

from flask import Flask, current_app, render_template, request
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from webapp.artifacts import ArtifactStore
from webapp.errors import UserError
from webapp.extensions import csrf, db
from webapp.limits import breach_message, init_limits
from webapp.playground import ModelCache
from webapp.queue import TaskQueue
from webapp.records import configure_engine, create_schema, engine_options
from webapp.settings import load_settings
from webapp.visitors import may_change

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


def _config_from_settings() -> dict:
    settings = load_settings()
    return {
        "DATA_DIR": str(settings.data_dir),
        "SQLALCHEMY_DATABASE_URI": settings.database_url,
        "BROKER_URL": settings.redis_url,
        "SECRET_KEY": settings.secret_key,
        "MAX_CONTENT_LENGTH": settings.max_upload_mb * 1024 * 1024,
        "TRAIN_TIME_LIMIT_S": settings.train_time_limit_s,
        "VISIBILITY_TIMEOUT_S": settings.visibility_timeout_s,
        "MODEL_CACHE_SIZE": settings.model_cache_size,
        "WTF_CSRF_TIME_LIMIT": None,  # a token lives as long as the session
        # Lax: the session cookie (and so ownership, see webapp.visitors) never rides along on a
        # cross-site POST, on top of the CSRF checks.
        "SESSION_COOKIE_SAMESITE": "Lax",
        "MAX_ACTIVE_JOBS_PER_VISITOR": settings.max_active_jobs_per_visitor,
        "STALE_AFTER_S": settings.stale_after_s,
        "ADMIN_TOKEN": settings.admin_token,
        "UPLOAD_RATE_LIMIT": settings.upload_rate_limit,
        "JOB_RATE_LIMIT": settings.job_rate_limit,
        "PLAYGROUND_RATE_LIMIT": settings.playground_rate_limit,
        "ARTIFACT_STORE": settings.artifact_store,
        "S3_ENDPOINT_URL": settings.s3_endpoint_url,
        # Not Flask's TRUSTED_HOSTS: Werkzeug cuts each trusted name at its first colon, so an
        # IPv6 name such as [::1] could never match (see host_is_trusted below).
        "RNNLAB_TRUSTED_HOSTS": settings.trusted_hosts,
    }


def ensure_secret_key(data_dir: Path) -> str:
    """The key in DATA_DIR/secret_key, created (readable by the owner only) on first start."""
    path = data_dir / "secret_key"
    if not path.exists():
        tmp = data_dir / f".secret_key.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # fails if another process won the race; then use its key
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


def build_app(test_config: dict | None = None) -> Flask:
    app = Flask("webapp", template_folder=str(ROOT / "templates"),
                static_folder=str(ROOT / "static"), instance_path=str(ROOT / "instance"))
    app.config.update(_config_from_settings())
    if test_config:
        app.config.update(test_config)
    data_dir = Path(app.config["DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = ensure_secret_key(data_dir)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS",
                          engine_options(app.config["SQLALCHEMY_DATABASE_URI"]))
    db.init_app(app)
    csrf.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
        create_schema(db.engine, data_dir)
    app.extensions["rnnlab_queue"] = TaskQueue(app.config["BROKER_URL"],
                                               app.config["VISIBILITY_TIMEOUT_S"])
    app.extensions["rnnlab_models"] = ModelCache(app.config["MODEL_CACHE_SIZE"])
    app.extensions["rnnlab_artifacts"] = ArtifactStore(
        data_dir, app.config.get("ARTIFACT_STORE"), app.config.get("S3_ENDPOINT_URL"))
    _register_blueprints(app)
    init_limits(app)
    app.extensions["rnnlab_queue"].warm_up()
    _register_error_handlers(app)
    app.before_request(_refuse_unknown_hosts)
    app.after_request(_security_headers)
    app.jinja_env.globals["max_upload_mb"] = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
    app.jinja_env.globals["may_change"] = may_change  # who is offered delete links
    return app


def _register_blueprints(app: Flask) -> None:
    from webapp.views import api, corpora, deletion, home, jobs, models

    for module in (home, corpora, jobs, models, deletion, api):
        app.register_blueprint(module.bp)
    csrf.exempt(api.bp)  # the API checks its own way: see webapp.views.api


_HOST = re.compile(r"(?P<name>[a-z0-9.-]+|\[(?P<ipv6>[0-9a-f:.]+)\])(?::[0-9]{1,5})?")


def host_is_trusted(host: str, trusted) -> bool:
    """Whether the Host header ``host`` ("name:port", "[::1]:port") names one of ``trusted``
    (lowercase names, IPv6 without brackets; ".lan" is any name under lan); None trusts all."""
    if trusted is None:
        return True
    match = _HOST.fullmatch(host.lower())
    if match is None:
        return False
    name = match["ipv6"] or match["name"]
    return any(name == ref or (ref.startswith(".") and (name.endswith(ref) or name == ref[1:]))
               for ref in trusted)


def _refuse_unknown_hosts():
    """A Host header naming another site means DNS rebinding (or a misconfiguration): refuse."""
    host = request.host
    if not host_is_trusted(host, current_app.config.get("RNNLAB_TRUSTED_HOSTS")):
        said = f"The Host header {host!r}" if host else "A missing or unreadable Host header"
        raise UserError(f"{said} is not a name this server answers to. Open rnnlab at the "
                        f"address its administrator gave, or ask them to add this name to "
                        f"RNNLAB_TRUSTED_HOSTS.")


# Scripts and styles only from this site: even text that slipped past escaping could not run.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                           "frame-ancestors 'none'; form-action 'self'")


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _error(status: int, message: str, errors: dict | None = None):
    if _wants_json():
        return {"error": message, "errors": errors or {}}, status
    return render_template("errors/error.html", status=status, message=message), status


def _too_large_message(app: Flask) -> str:
    """What was too large: the whole body (MAX_UPLOAD_MB), or the form's fields.

    Werkzeug raises the same RequestEntityTooLarge for a body over MAX_CONTENT_LENGTH, a form of
    more than MAX_FORM_PARTS parts and a text field over MAX_FORM_MEMORY_SIZE; the body's length
    tells them apart (a body within the field limit can only have had too many parts).
    """
    limit = app.config["MAX_CONTENT_LENGTH"]
    length = request.content_length
    if length is None or length > limit:
        return (f"The upload is larger than the {limit // (1024 * 1024)} MB limit. Upload a "
                f"smaller file, or ask the administrator to raise MAX_UPLOAD_MB.")
    parts, field = request.max_form_parts, request.max_form_memory_size
    if field is None or length <= field:
        return (f"The form has too many form fields: at most {parts:,} are read. Send the file "
                f"and the few fields the form has.")
    return (f"The form is too large: a form field other than the file is over "
            f"{field // 1000:,} KB, or there are more than {parts:,} of them. Send the text as "
            f"a file.")


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(UserError)
    def user_error(exc: UserError):
        return _error(exc.status, exc.message, exc.errors)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_exc):
        return _error(413, _too_large_message(app))

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(exc: RateLimitExceeded):
        return _error(429, breach_message(app.extensions["rnnlab_limiter"], exc))

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return _error(400, "The form's security token is missing or has expired "
                           f"({exc.description}). Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return _error(exc.code or 500, exc.description or exc.name)
