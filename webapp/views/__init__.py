"""Blueprints: one per concern (home, corpora, jobs, models) plus the JSON API."""
