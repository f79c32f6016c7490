"""The playground's mixture of the network with its trigram counter: asked for with ``mix`` in
the JSON API and by a checkbox on the page, answered by the weight fitted on validation, and
refused in words for a model file without a counter."""
from __future__ import annotations

import math

import numpy as np

from rnncore.checkpoint import load_checkpoint, save_checkpoint
from rnncore.generate import LanguageModel
from rnncore.mixture import mixed_log_probs


def model_file(data_dir, model):
    return data_dir / "models" / f"{model['id']}.npz"


def test_the_api_mixes_when_asked_and_says_so(client, trained_model, data_dir):
    api = f"/api/models/{trained_model['id']}"
    weight = trained_model["baselines"]["mixture"]["rnn_weight"]
    sentence = {"sentences": ["the cat sees the red ball ."]}
    alone = client.post(f"{api}/score", json=sentence).get_json()
    mixed = client.post(f"{api}/score", json={**sentence, "mix": True}).get_json()
    assert "mixture" not in alone and mixed["mixture"] == {"rnn_weight": weight}
    # Word by word, the mixed surprisal is -log2(a P_rnn + (1 - a) P_3) of the file's counter.
    lm = LanguageModel.from_checkpoint(model_file(data_dir, trained_model))
    ids = [lm.start_index] + [lm.vocabulary.word_to_index.get(w, lm.vocabulary.unknown_index)
                              for w in "the cat sees the red ball .".split()] + [lm.end_index]
    counted = lm.counter.log_probs([np.array(ids)])
    network = np.array([-w["bits"] * math.log(2) for w in alone["ranked"][0]["surprisal"]])
    expected = -mixed_log_probs(network, counted, weight) / math.log(2)
    np.testing.assert_allclose([w["bits"] for w in mixed["ranked"][0]["surprisal"]], expected,
                               rtol=1e-9)
    nexts = client.post(f"{api}/next-words", json={"prefix": "the", "mix": "true"}).get_json()
    assert nexts["mixture"] == {"rnn_weight": weight} and nexts["candidates"]
    samples = client.post(f"{api}/generate", json={"prefix": "the", "mix": True, "seed": 1})
    assert samples.status_code == 200 and samples.get_json()["mixture"] == {"rnn_weight": weight}


def test_a_model_without_a_counter_says_why_it_cannot_mix(client, trained_model, data_dir):
    path = model_file(data_dir, trained_model)
    checkpoint = load_checkpoint(path)
    state = {k: v for k, v in checkpoint.state.items() if k != "trigram_arrays"}
    save_checkpoint(path, checkpoint.params, checkpoint.vocabulary, checkpoint.model_config,
                    checkpoint.train_config, state)  # as a model trained before mixing existed
    api = f"/api/models/{trained_model['id']}"
    refused = client.post(f"{api}/next-words", json={"prefix": "the", "mix": True})
    assert refused.status_code == 400
    assert "no trigram counter to mix with" in refused.get_json()["error"]
    assert client.post(f"{api}/next-words", json={"prefix": "the"}).status_code == 200
    assert client.post(f"{api}/score", json={"sentences": ["the cat ."], "mix": "maybe"}
                       ).status_code == 400
    page = client.get(f"/models/{trained_model['id']}").get_data(as_text=True)
    assert 'id="next_mix"' not in page


def test_the_page_offers_the_mixture_and_answers_with_it_without_javascript(client, trained_model):
    page = client.get(f"/models/{trained_model['id']}").get_data(as_text=True)
    for box in ("generate_mix", "next_mix", "score_mix"):
        assert f'id="{box}"' in page and 'type="checkbox"' in page
    share = round(trained_model["baselines"]["mixture"]["rnn_weight"] * 100)
    answer = client.post(f"/models/{trained_model['id']}/next-words",
                         data={"prefix": "the", "k": "3", "mix": "y"}).get_data(as_text=True)
    assert f"mixed with the trigram counter ({share}% network)" in answer
    alone = client.post(f"/models/{trained_model['id']}/next-words",
                        data={"prefix": "the", "k": "3"}).get_data(as_text=True)
    assert "mixed with the trigram counter (" not in alone
