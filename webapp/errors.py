"""Errors a view turns into a page or a JSON answer with a message in words."""
from __future__ import annotations


class UserError(Exception):
    """Something the person can fix; ``status`` is the HTTP status, ``errors`` per field."""

    status = 400

    def __init__(self, message: str, status: int | None = None,
                 errors: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        if status is not None:
            self.status = status


class NotFound(UserError):
    status = 404
