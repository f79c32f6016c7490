"""Exceptions that rnncore raises on purpose, each with a message a person can act on."""


class RnnCoreError(Exception):
    """Base class for errors rnncore reports to its callers in words."""


class CorpusError(RnnCoreError, ValueError):
    """A corpus file cannot be used; ``row`` is the 1-based line where the problem is, if known."""

    def __init__(self, message: str, row: int | None = None):
        self.row = row
        super().__init__(f"{message} (line {row})" if row is not None else message)


class Cancelled(RnnCoreError):
    """Work stopped because the caller asked it to (cooperative cancellation)."""


class TrainingDiverged(RnnCoreError):
    """The loss became NaN or exploded; a smaller learning rate usually helps."""
