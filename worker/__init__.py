"""worker: the Celery side of rnnlab. Thin tasks take an id, call rnncore, and record the result.

Imports rnncore, and from webapp only ``webapp.records`` and ``webapp.settings`` (the shared
schema and settings; see ``webapp.records``), never Flask.
"""
