"""The `judge` config group: each option composes against its schema and validates; typos, missing
models and bad values fail before any model loads, naming the key."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from evalkit.config import ConfigError, conf_dir

from evalkit.registry import register_configs, validate
from evalkit.judge.config import HFJudgeConfig, OpenAIJudgeConfig, judge_name
from evalkit.judge.__main__ import parse_overrides

register_configs()


def _compose(overrides: list[str]):
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        return compose(config_name="config", overrides=overrides)


def test_no_judge_by_default_and_each_option_validates() -> None:
    assert validate(_compose([])).judge is None
    openai = validate(_compose(["judge=openai", "judge.model=gpt-4-0613", "judge.base_url=http://127.0.0.1:8000/v1",
                                "judge.runs=5"])).judge
    assert isinstance(openai, OpenAIJudgeConfig) and openai.runs == 5 and openai.temperature is None
    assert judge_name(openai) == "gpt-4-0613"
    hf = validate(_compose(["judge=hf", "judge.path=/models/qwen"])).judge
    assert isinstance(hf, HFJudgeConfig) and hf.model == "/models/qwen" and judge_name(hf) == "qwen"


@pytest.mark.parametrize("overrides, message", [
    (["judge=openai"], "judge=openai needs judge.model"),
    (["judge=openai", "judge.model=m", "judge.runs=0"], "judge.runs and judge.concurrency must be >= 1"),
    (["judge=openai", "judge.model=m", "judge.name=a/b"], "judge.name='a/b'"),
])
def test_bad_values_fail_before_any_model_loads(overrides, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        validate(_compose(overrides))


def test_a_typo_fails_at_compose() -> None:
    with pytest.raises(ConfigCompositionException):
        _compose(["judge=openai", "judge.temprature=0.2"])


def test_the_judge_cli_reads_overrides_as_hydra_does() -> None:
    cfg = parse_overrides(["judge=openai", "judge.model=m", "judge.temperature=0", "judge.seed=3",
                           "judge.base_url=http://h:1/v1"])
    assert (cfg.temperature, cfg.seed, cfg.base_url) == (0.0, 3, "http://h:1/v1")
    with pytest.raises(ConfigError, match="valid keys of judge"):
        parse_overrides(["judge=openai", "judge.model=m", "judge.temprature=0"])


def test_a_judge_for_a_benchmark_without_judged_tasks_is_refused() -> None:
    from datasets_adapters.pope import POPEDataset
    from evalkit.errors import EvalkitError
    from evalkit.judge.stage import check_judge

    cfg = validate(_compose(["judge=openai", "judge.model=m"])).judge
    with pytest.raises(EvalkitError, match="POPEDataset has no judged task"):
        check_judge(cfg, POPEDataset)
