"""The default model's functions compile ahead of the first job, into PyTensor's cache."""
import os
import subprocess
import sys

from conftest import REPO
from rnncore.config import recommended_configs
from rnncore.warmup import compile_functions
from webapp.settings import load_settings


def test_the_default_models_functions_compile_and_run():
    assert compile_functions(*recommended_configs()) > 0


def test_the_command_says_when_it_is_done():
    # With PyTensor's usual cache folder: the test above compiled into it, so this is quick.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "rnncore.warmup"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "the default model's functions are compiled" in done.stderr


def test_the_setting_turns_it_off():
    assert load_settings({}).warmup is True
    assert load_settings({"RNNLAB_WARMUP": "off"}).warmup is False
