"""Which engines a new training job may use, given the workers connected right now.

The CPU engines are always offered: a job on them waits in the "cpu" queue until a worker takes
it. The JAX engine ("pytensor-jax") trains only on a worker listening on the "gpu" queue, so it is
offered, and accepted, only while such a worker is connected (``TaskQueue.worker_queues``, asked
at most every half minute). The sentence beside the form says which case this is.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from rnncore.config import ENGINES, JAX_ENGINE
from webapp.errors import UserError
from webapp.settings import QUEUE_GPU


@dataclass(frozen=True)
class EngineChoice:
    engines: tuple[str, ...]  # what the form offers and the API accepts now
    note: str  # one sentence about the GPU engine, for the form
    queue_reachable: bool


def engine_choice(wait: bool = True) -> EngineChoice:
    """What may be chosen now; ``wait=False`` (the form) may answer from a half-minute-old look."""
    queues = current_app.extensions["rnnlab_queue"].worker_queues(wait=wait)
    if queues is None:
        return EngineChoice(ENGINES, "The task queue (Redis) cannot be reached, so whether a GPU "
                            "worker is connected is unknown; no worker can start a job until "
                            "it is back.", False)
    if QUEUE_GPU in queues:
        return EngineChoice(ENGINES + (JAX_ENGINE,), f"A GPU worker is connected: choose "
                            f"{JAX_ENGINE} to train there.", True)
    return EngineChoice(ENGINES, f"The GPU engine ({JAX_ENGINE}) is offered while a GPU worker "
                        f"is connected; none is now.", True)


def check_engine(engine: str) -> None:
    """Refuse the JAX engine, in words, while no GPU worker could take the job."""
    if engine != JAX_ENGINE:
        return
    choice = engine_choice()
    if JAX_ENGINE not in choice.engines:
        # The cached look may predate a GPU worker that has just connected: ask again.
        current_app.extensions["rnnlab_queue"].forget_workers()
        choice = engine_choice()
    if not choice.queue_reachable:
        raise UserError("The task queue (Redis) cannot be reached, so no worker can start this. "
                        "Check that Redis is running and try again.", status=503)
    if JAX_ENGINE not in choice.engines:
        message = (f"no GPU worker is connected, so nothing could train on {JAX_ENGINE}; choose "
                   f"pytensor or numpy, or start a worker with RNNLAB_WORKER_QUEUES=gpu")
        raise UserError(f"The engine cannot be used now: {message}.", status=409,
                        errors={"engine": message})
