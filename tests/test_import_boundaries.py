"""What importing rnncore pulls in: the light modules must stay light, and none may reach the app."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
APP = {"flask", "celery", "webapp", "worker"}


def imported_after(statement: str) -> set[str]:
    """Top-level package names in sys.modules after running ``statement`` in a fresh interpreter."""
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=120, check=True)
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_light_modules_need_neither_pytensor_nor_the_app():
    loaded = imported_after("import rnncore, rnncore.generate, rnncore.checkpoint, rnncore.config")
    assert "rnncore" in loaded and "numpy" in loaded  # the probe itself works
    assert not loaded & (APP | {"pytensor"})


@pytest.mark.parametrize("module", ["rnncore.train", "rnncore.models", "rnncore.cli"])
def test_training_modules_stay_out_of_the_app(module):
    loaded = imported_after(f"import {module}")
    assert module.split(".")[0] in loaded
    assert not loaded & APP
    # PyTensor comes in only when a model on that engine is built.
    assert "pytensor" not in loaded


def test_building_a_pytensor_model_imports_pytensor_lazily():
    loaded = imported_after(
        "from rnncore.config import ModelConfig\nfrom rnncore.models import build_model\n"
        "build_model(ModelConfig(vocabulary_size=10, hidden_dim=2, engine='pytensor'))")
    assert "pytensor" in loaded and not loaded & APP
