"""``python -m rnncore``: the command line of rnncore.cli (preprocess, train, generate, score)."""
import sys

from rnncore.cli import main

sys.exit(main())
