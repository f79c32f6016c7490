"""Who is asking: the browser session that made a corpus, job or model, and the administrator.

Each browser gets a random visitor id in its signed session cookie the first time it makes
something; rows keep a hash of it in ``owner``. Only a request with that same cookie, or with
RNNLAB_ADMIN_TOKEN in the ``X-Admin-Token`` header, may cancel, delete or change the row. Reading
stays open to everyone (the lab is shared, and ids are unguessable), and so does training on any
preprocessed corpus. Scripts keep the cookie the way a browser does (``curl -c jar -b jar``).
"""
from __future__ import annotations

import hashlib
import hmac

from flask import current_app, request, session

from webapp.errors import UserError
from webapp.records import new_id

SESSION_KEY = "visitor"
ADMIN_HEADER = "X-Admin-Token"


def _hash(visitor: str) -> str:
    # The row holds a hash: a copy of the database alone cannot be turned into a cookie value.
    return hashlib.sha256(visitor.encode("utf-8")).hexdigest()


def current_owner(create: bool = False) -> str | None:
    """This browser's owner key; with ``create`` one is made (and the cookie kept 31 days)."""
    visitor = session.get(SESSION_KEY)
    if not isinstance(visitor, str) or not visitor:
        if not create:
            return None
        visitor = new_id()
        session[SESSION_KEY] = visitor
        session.permanent = True  # closing the browser must not cost the right to cancel
    return _hash(visitor)


def is_admin() -> bool:
    """The request carries the administrator's token (when one is configured)."""
    token = current_app.config.get("ADMIN_TOKEN")
    sent = request.headers.get(ADMIN_HEADER)
    if not token or not sent:
        return False
    return hmac.compare_digest(sent.encode("utf-8"), token.encode("utf-8"))


def may_change(row) -> bool:
    """True for the row's owner and for the administrator."""
    if is_admin():
        return True
    owner = current_owner()
    return owner is not None and row.owner is not None and hmac.compare_digest(owner, row.owner)


def require_owner(row, what: str, action: str) -> None:
    """Refuse (403, in words) unless this request may change ``row``."""
    if may_change(row):
        return
    raise UserError(
        f"Only the browser that created this {what} can {action} it. If that was you, use the "
        f"same browser (its cookie proves it); an administrator can use the {ADMIN_HEADER} "
        f"header.", status=403)
