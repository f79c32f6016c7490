"""rnncore: the word-level RNN language model of the WildML "RNN part 2" tutorial, and its tools.

This package imports only light, numpy-only modules on import so that the web app can load it for
generation without paying for PyTensor; the compiled engine lives in ``rnncore.rnn_pytensor``.
It never imports Flask, Celery, webapp or worker, and never reads environment variables.
"""
from rnncore.vocabulary import SENTENCE_END, SENTENCE_START, UNKNOWN_TOKEN, Vocabulary

__all__ = ["SENTENCE_START", "SENTENCE_END", "UNKNOWN_TOKEN", "Vocabulary"]
