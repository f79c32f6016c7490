"""A job's steady-state training speed, which the estimates of later jobs learn from.

rnncore reports progress as "batch" events about once a second while it trains, and as other
events ("evaluation", "lr_halved", "rolled_back", "finished") around the work that is not
training. The stretch between two batch reports with nothing else in between holds only training
steps (and the progress writes and cancel checks that come with them on a worker), so
``SteadySpeed`` adds up the words and seconds of those stretches alone: start-up (preprocessing,
compiling, the first batch), evaluations, samples and checkpoints are left out. A tiny run whose
epochs end before a second has passed yields no stretch, and so no figure.

Each stretch's seconds are divided by the jobs training on the machine then, this one included:
every job uses all cores (BLAS threads), so the figure is the speed the job would have had with
the machine to itself, and an estimate divides it again by the jobs training when it is made.
"""
from __future__ import annotations

import math
from typing import Callable


class SteadySpeed:
    """Words per second of training steps alone, from rnncore's progress reports."""

    def __init__(self, sharing: Callable[[], int]):
        self.sharing = sharing  # jobs training on this machine now, this one included
        self.words = 0
        self.seconds = 0.0  # as if alone: each stretch divided by the jobs sharing the machine
        self._last: tuple[float, int] | None = None  # (when, tokens_seen) of the last batch report

    def observe(self, report: dict, now: float) -> None:
        """Take one report, which arrived at ``now`` (seconds, monotonic)."""
        seen = report.get("tokens_seen")
        if report.get("event", "batch") != "batch" or not isinstance(seen, int):
            self._last = None  # what follows an evaluation or a rollback starts afresh
            return
        if self._last is not None and seen > self._last[1] and now > self._last[0]:
            self.words += seen - self._last[1]
            self.seconds += (now - self._last[0]) / max(1, self.sharing())
        self._last = (now, seen)

    @property
    def tokens_per_second(self) -> float | None:
        """The speed so far; None until a stretch of training has been measured."""
        if not self.words or self.seconds <= 0:
            return None
        rate = self.words / self.seconds
        return rate if math.isfinite(rate) else None
