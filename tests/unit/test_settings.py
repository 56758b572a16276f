"""evalkit.settings: the one definition of answer-changing settings that resume and reports share."""

from __future__ import annotations

from evalkit.settings import answer_config, described

OLD_GREEDY = {"model": {"name": "a", "feature_cache": {"enabled": True}}, "seed": 3, "limit": 5, "dtype": "auto",
              "decoding": {"mode": "greedy", "max_new_tokens": 128, "temperature": 1.0, "top_p": 1.0, "num_beams": 1},
              "batch_size": 2}
NEW_GREEDY = {"model": {"name": "a", "feature_cache": {"enabled": False}}, "seed": 0, "dtype": "auto",
              "decoding": {"_target_": "evalkit.decoding.greedy.Greedy", "name": "greedy", "max_new_tokens": 128,
                           "num_beams": 1}}
SAMPLE = {"_target_": "evalkit.decoding.sample.Sample", "name": "sample", "max_new_tokens": 8, "temperature": 0.2,
          "top_p": 1.0}


def test_an_old_mode_config_resumes_into_the_new_class_and_speed_keys_do_not_count():
    assert answer_config(OLD_GREEDY) == answer_config(NEW_GREEDY)  # cache, seed, limit, batch size aside
    assert described(OLD_GREEDY)["decoding"]["name"] == "greedy"  # labels name the method as before
    assert "feature_cache" not in described(NEW_GREEDY)["model"] and "seed" not in described(NEW_GREEDY)


def test_the_seed_counts_where_the_method_samples():
    sampled = {**NEW_GREEDY, "decoding": SAMPLE}
    assert answer_config(sampled)["seed"] == 0
    assert answer_config({**sampled, "seed": 1}) != answer_config(sampled)
    assert "seed" in described({**OLD_GREEDY, "decoding": {"mode": "sample", "max_new_tokens": 8}})
    # A class this process cannot import: nothing is ruled out, the seed included.
    unknown = {**NEW_GREEDY, "decoding": {"_target_": "elsewhere.Method", "name": "m", "k": 1}}
    assert answer_config(unknown)["decoding"] == {"_target_": "elsewhere.Method", "k": 1} and "seed" in described(unknown)


def test_only_the_methods_answer_keys_count():
    logits = {"_target_": "evalkit.decoding.yesno_logits.YesNoLogits", "name": "yesno_logits"}
    assert answer_config({**NEW_GREEDY, "decoding": logits})["decoding"] == {
        "_target_": "evalkit.decoding.yesno_logits.YesNoLogits"}
    assert answer_config({**NEW_GREEDY, "decoding": {**SAMPLE, "top_p": 0.9}}) != answer_config(
        {**NEW_GREEDY, "decoding": SAMPLE})
