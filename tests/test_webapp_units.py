"""The web app's parts without requests: settings, secret key, form table, estimate, model cache."""
from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import dispose, make_test_app
from rnncore.config import ModelConfig, TrainConfig, recommended_configs
from webapp import estimate, hyperparameters
from webapp.actions import display_name
from webapp.factory import ensure_secret_key
from webapp.playground import ModelCache
from webapp.records import DataPaths, check_id, new_id
from webapp.settings import SettingsError, load_settings


def test_settings_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.data_dir == tmp_path / "data"
    assert (settings.redis_url, settings.manage_redis) == ("redis://127.0.0.1:6390/0", True)
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'rnnlab.sqlite3'}"
    assert (settings.host, settings.port, settings.max_upload_mb) == ("127.0.0.1", 5000, 50)
    assert settings.secret_key is None
    assert settings.visibility_timeout_s > settings.train_time_limit_s > \
        settings.train_soft_time_limit_s
    assert (settings.stale_after_s, settings.sweep_interval_s) == (60, 15)


def test_settings_from_the_environment(tmp_path):
    settings = load_settings({"RNNLAB_DATA_DIR": str(tmp_path), "REDIS_URL": "redis://h:1/2",
                              "DATABASE_URL": "postgresql+psycopg://u@h/db",
                              "MAX_UPLOAD_MB": "7", "WORKER_CONCURRENCY": "3",
                              "SECRET_KEY": "k", "RNNLAB_PORT": "8080",
                              "RNNLAB_SWEEP_INTERVAL_S": "2"})
    assert (settings.data_dir, settings.redis_url, settings.manage_redis) == \
        (tmp_path, "redis://h:1/2", False)
    assert (settings.database_url, settings.max_upload_mb, settings.worker_concurrency,
            settings.secret_key, settings.port) == \
        ("postgresql+psycopg://u@h/db", 7, 3, "k", 8080)
    assert settings.sweep_interval_s == 2


@pytest.mark.parametrize("name, value", [("MAX_UPLOAD_MB", "lots"), ("WORKER_CONCURRENCY", "0"),
                                         ("RNNLAB_PORT", "70000"),
                                         ("RNNLAB_SWEEP_INTERVAL_S", "0")])
def test_bad_settings_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


def test_secret_key_is_generated_once_and_private(data_dir):
    key = ensure_secret_key(data_dir)
    assert len(key) == 64 and ensure_secret_key(data_dir) == key
    assert stat.S_IMODE((data_dir / "secret_key").stat().st_mode) == 0o600
    assert [p.name for p in data_dir.iterdir()] == ["secret_key"]


def test_app_without_secret_key_uses_the_stored_one(data_dir):
    first = make_test_app(data_dir, SECRET_KEY=None)
    second = make_test_app(data_dir, SECRET_KEY=None)
    try:
        assert first.secret_key == second.secret_key == (data_dir / "secret_key").read_text()
    finally:
        dispose(first)
        dispose(second)


def test_form_defaults_are_the_recommended_settings():
    model_config, train_config = hyperparameters.parse({})
    assert (model_config, train_config) == recommended_configs()  # GRU, hidden 100, SGD 0.01
    assert (model_config.vocabulary_size, model_config.hidden_dim) == (8000, 100)


def test_form_values_arrive_as_text():
    model_config, train_config = hyperparameters.parse(
        {"hidden_dim": " 16 ", "learning_rate": "0.01", "engine": "numpy"})
    assert (model_config.hidden_dim, model_config.engine, train_config.learning_rate) == \
        (16, "numpy", 0.01)


def test_every_bad_field_is_reported_at_once():
    with pytest.raises(hyperparameters.InvalidInput) as caught:
        hyperparameters.parse({"hidden_dim": "0", "seed": "x", "engine": "gpu"})
    assert set(caught.value.errors) == {"hidden_dim", "seed", "engine"}


def test_form_bounds_lie_inside_rnncores():
    for field in hyperparameters.FIELDS:
        for value in ([field.lo, field.hi] if not field.choices else list(field.choices)):
            model_config, train_config = hyperparameters.parse(
                {field.name: value, "nepoch": 200} if field.name != "nepoch" else {field.name: value})
            assert model_config.validate() and train_config.validate()


def test_estimate_follows_arithmetic_and_calibration():
    small, large = ModelConfig(vocabulary_size=500, hidden_dim=16, engine="numpy"), ModelConfig(
        engine="numpy")
    train = TrainConfig(nepoch=3, validation_fraction=0.0)
    a = estimate.estimate(10_000, small, train)
    b = estimate.estimate(10_000, large, train)
    assert a["epoch_seconds"] < b["epoch_seconds"]
    assert a["epoch_seconds"] == pytest.approx(10_000 / a["tokens_per_second"])
    assert (a["basis"], a["calibrated"], a["jobs_sharing"]) == ("model", False, 1)
    # Runs with these settings measured twice as slow as predicted: the estimate follows them.
    measured = [(large, train.batch_size, b["tokens_per_second"] / 2)]
    again = estimate.estimate(10_000, large, train, measured)
    assert (again["basis"], again["calibration_runs"]) == ("settings", 1)
    assert again["epoch_seconds"] == pytest.approx(2 * b["epoch_seconds"])
    # A run of a similar size (hidden 110) scales the arithmetic by what it measured.
    near = replace(large, hidden_dim=110)
    predicted = estimate.predicted_seconds_per_token(near, train.batch_size)
    similar = estimate.estimate(10_000, large, train, [(near, train.batch_size, 1 / predicted / 3)])
    assert similar["basis"] == "similar"
    assert similar["epoch_seconds"] == pytest.approx(3 * b["epoch_seconds"])


TINY = ModelConfig(vocabulary_size=200, hidden_dim=16, engine="pytensor")
BIG = ModelConfig(vocabulary_size=8000, hidden_dim=100, engine="pytensor")


def test_runs_of_another_scale_leave_an_estimate_alone():
    """Five tiny runs, however slow their figures, say nothing about a large model's speed."""
    train = TrainConfig(nepoch=30)
    plain = estimate.estimate(250_000, BIG, train)
    tiny_rate = 1 / estimate.predicted_seconds_per_token(TINY, train.batch_size) / 50
    measured = [(TINY, train.batch_size, tiny_rate)] * 5
    big = estimate.estimate(250_000, BIG, train, measured)
    assert big["tokens_per_second"] == plain["tokens_per_second"] and big["basis"] == "model"
    tiny = estimate.estimate(250_000, TINY, train, measured)
    assert tiny["basis"] == "settings" and tiny["tokens_per_second"] == pytest.approx(tiny_rate)
    # Another batch size or vocabulary is not "these settings" either.
    assert estimate.estimate(250_000, replace(TINY, vocabulary_size=300), replace(
        train, batch_size=16), measured)["basis"] == "similar"


def test_the_matmul_floor_bounds_how_slow_an_estimate_may_be():
    train = TrainConfig(nepoch=30)
    flops = 1e11  # a made-up machine: the floor follows whatever was measured
    floor = estimate.floor_seconds_per_token(BIG, train.batch_size, flops)
    slow = estimate.estimate(250_000, BIG, train, [(BIG, train.batch_size, 52.0)] * 5,
                             matmul_flops=flops)
    assert slow["floored"] and slow["tokens_per_second"] == pytest.approx(1 / floor)
    assert "matrix-multiply" in slow["note"]
    # A real estimate is well above the floor and stays as it is.
    plain = estimate.estimate(250_000, BIG, train, matmul_flops=flops)
    assert not plain["floored"] and plain["tokens_per_second"] > 3 / floor
    assert estimate.floor_seconds_per_token(replace(BIG, dtype="float64"), 8, flops) > floor


def test_jobs_training_at_once_share_the_machine():
    train = TrainConfig(nepoch=10)
    alone = estimate.estimate(100_000, BIG, train)
    shared = estimate.estimate(100_000, BIG, train, jobs_sharing=3)
    assert shared["tokens_per_second"] == pytest.approx(alone["tokens_per_second"] / 3)
    assert shared["total_seconds"] == pytest.approx(3 * alone["total_seconds"])
    assert shared["alone_total_seconds"] == pytest.approx(alone["total_seconds"])
    assert "2 other jobs train on the machine now" in shared["note"]


def test_an_evaluation_costs_its_sample_and_the_validation_split():
    train = TrainConfig(nepoch=1, validation_fraction=0.1)
    guess = estimate.estimate(1_000_000, BIG, train)
    per_token = 1 / guess["tokens_per_second"]
    evaluation = (estimate.TRAIN_EVAL_TOKENS + 100_000) * per_token / 3
    assert guess["total_seconds"] == pytest.approx(guess["epoch_seconds"] + 2 * evaluation)


@pytest.mark.parametrize("seconds, words", [(0.2, "about 1 second"), (59, "about 59 seconds"),
                                            (61, "about 1 minute"), (600, "about 10 minutes"),
                                            (7200, "about 2.0 hours"), (3 * 86400, "about 3.0 days")])
def test_describe_seconds(seconds, words):
    assert estimate.describe_seconds(seconds) == words


def test_model_cache_evicts_the_least_recently_used(trained_model, data_dir):
    path = data_dir / "models" / f"{trained_model['id']}.npz"
    cache = ModelCache(size=2)
    a = cache.get("a", path)
    assert cache.get("a", path) is a
    cache.get("b", path)
    cache.get("a", path)  # a is now the most recent
    cache.get("c", path)
    assert "a" in cache and "c" in cache and "b" not in cache
    cache.evict("a")
    assert "a" not in cache


def test_ids_are_unguessable_and_paths_stay_inside(tmp_path):
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 22 for i in ids)
    paths = DataPaths(tmp_path)
    assert paths.model_file("abc_-1").parent == tmp_path / "models"
    for bad in ["../x", "a/b", "", "x" * 33, "a.b"]:
        with pytest.raises(ValueError):
            check_id(bad)


@pytest.mark.parametrize("filename, name", [("C:\\Users\\me\\comments.csv", "comments.csv"),
                                            ("../../etc/passwd", "passwd"),
                                            ("", "fallback"), (None, "fallback")])
def test_display_name_keeps_only_the_base_name(filename, name):
    assert display_name(filename, "fallback") == name


def test_templates_never_mark_text_safe():
    """Autoescaping is what keeps corpus and generated text inert; nothing may switch it off."""
    root = Path(__file__).resolve().parents[1]
    for template in (root / "templates").rglob("*.html"):
        text = template.read_text()
        assert "|safe" not in text.replace(" ", "") and "autoescape false" not in text, template
    for script in (root / "static" / "js").glob("*.js"):
        assert "innerHTML" not in script.read_text(), script


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(app, worker_ctx):
    from sqlalchemy import text

    from webapp.extensions import db

    with app.app_context():
        web = db.session.execute(text("PRAGMA journal_mode")).scalar()
        web_timeout = db.session.execute(text("PRAGMA busy_timeout")).scalar()
    with worker_ctx.session() as session:
        worker_timeout = session.execute(text("PRAGMA busy_timeout")).scalar()
    assert web == "wal" and web_timeout == worker_timeout == 30_000
