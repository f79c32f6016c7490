"""ModelConfig and TrainConfig: JSON round trip, validation in words, estimates that scale right."""
import json

import pytest

from rnncore.config import ModelConfig, TrainConfig


def test_json_round_trip_keeps_every_field():
    model = ModelConfig(vocabulary_size=2000, hidden_dim=32, bptt_truncate=6, engine="numpy",
                        dtype="float64")
    train = TrainConfig(learning_rate=0.01, nepoch=3, batch_size=1, clip_norm=5.0, seed=7,
                        optimizer="adam", max_sentence_length=40)
    assert ModelConfig.from_dict(json.loads(json.dumps(model.to_dict()))) == model
    assert TrainConfig.from_dict(json.loads(json.dumps(train.to_dict()))) == train


def test_defaults_are_the_tutorials_and_valid():
    model, train = ModelConfig().validate(), TrainConfig().validate()
    assert (model.vocabulary_size, model.hidden_dim, model.bptt_truncate) == (8000, 100, 4)
    assert (train.learning_rate, train.nepoch, train.evaluate_loss_after) == (0.005, 20, 1)


def test_configs_are_frozen():
    with pytest.raises(AttributeError):
        ModelConfig().hidden_dim = 5


def test_unknown_keys_are_refused():
    with pytest.raises(ValueError, match="hidden_size"):
        ModelConfig.from_dict({"hidden_size": 10})


@pytest.mark.parametrize("kwargs, words", [
    ({"vocabulary_size": 2}, "vocabulary_size must be between 4 and"),
    ({"hidden_dim": 0}, "hidden_dim must be between 1 and 4096, not 0"),
    ({"hidden_dim": 10.5}, "hidden_dim must be a whole number"),
    ({"bptt_truncate": True}, "bptt_truncate must be a whole number"),
    ({"engine": "theano"}, "engine must be one of pytensor, numpy"),
    ({"dtype": "float16"}, "dtype must be one of float32, float64"),
])
def test_model_config_errors_name_field_and_bounds(kwargs, words):
    with pytest.raises(ValueError, match=words):
        ModelConfig(**kwargs).validate()


@pytest.mark.parametrize("kwargs, words", [
    ({"learning_rate": 0}, "learning_rate must be more than 0"),
    ({"learning_rate": float("nan")}, "learning_rate must be a number"),
    ({"nepoch": 0}, "nepoch must be between 1"),
    ({"evaluate_loss_after": -1}, "evaluate_loss_after must be between 1"),
    ({"batch_size": 5000}, "batch_size must be between 1 and 4096"),
    ({"validation_fraction": 0.9}, "validation_fraction must be at least 0 and at most 0.5"),
    ({"clip_norm": -1.0}, "clip_norm must be more than 0"),
    ({"seed": -3}, "seed must be between 0"),
    ({"optimizer": "adagrad"}, "optimizer must be one of sgd, rmsprop, adam"),
    ({"max_sentence_length": 1}, "max_sentence_length must be between 3"),
])
def test_train_config_errors_name_field_and_bounds(kwargs, words):
    with pytest.raises(ValueError, match=words):
        TrainConfig(**kwargs).validate()


def test_memory_estimate_counts_parameters_and_scales_with_batch():
    config = ModelConfig(vocabulary_size=1000, hidden_dim=10, dtype="float64")
    params = 2 * 1000 * 10 + 10 * 10
    assert config.parameter_count == params
    small = config.memory_estimate_bytes(batch_size=1, sentence_length=1)
    big = config.memory_estimate_bytes(batch_size=64, sentence_length=1)
    # Parameters and gradients at least; the batch's activations grow linearly with its size.
    assert small >= 2 * params * 8
    assert big - small == 63 * (small - 2 * params * 8)
    assert config.memory_estimate_bytes(optimizer="adam") - config.memory_estimate_bytes() == 2 * params * 8
    single = ModelConfig(vocabulary_size=1000, hidden_dim=10, dtype="float32")
    assert single.memory_estimate_bytes() * 2 == config.memory_estimate_bytes()


def test_flops_grow_with_vocabulary_hidden_size_and_truncation():
    base = ModelConfig(vocabulary_size=1000, hidden_dim=50, bptt_truncate=4)
    assert base.flops_per_token(training=False) < base.flops_per_token()
    # The V s product dominates: doubling the vocabulary nearly doubles the work.
    doubled = ModelConfig(vocabulary_size=2000, hidden_dim=50, bptt_truncate=4).flops_per_token()
    assert 1.8 < doubled / base.flops_per_token() < 2.0
    deeper = ModelConfig(vocabulary_size=1000, hidden_dim=50, bptt_truncate=8).flops_per_token()
    assert deeper > base.flops_per_token()
