"""Shard settings fail before any model loads; shard keys never change answers (resume and reports
ignore them); the item split is deterministic and covers each item once; --multirun under a
multi-process launcher stops at once."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from evalkit import settings, shards
from evalkit.__main__ import check_overrides, multirun_under_launcher
from evalkit.config import conf_dir
from evalkit.registry import register_configs, validate
from evalkit.errors import ConfigError, EvalkitError
from evalkit.pipeline import resolve_run_dir


def _cfg(*overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        return compose(config_name="config", overrides=list(overrides))


@pytest.mark.parametrize("overrides, message", [
    (("shard.index=3", "shard.count=3"), "shard.index must be in 0..2"),
    (("shard.index=-1", "shard.count=2"), "shard.index must be in 0..1"),
    (("shard.count=0",), "shard.count must be >= 1"),
])
def test_bad_shards_fail_validation(overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate(_cfg(*overrides))


def test_shard_typo_names_the_valid_keys():
    assert check_overrides(["shard.indx=1"]) == ("unknown config key 'shard.indx' (did you mean shard.index?); "
                                                 "valid keys of shard: index, count")
    assert check_overrides(["shard.index=1", "shard.count=2"]) is None


def test_sharded_run_needs_a_fixed_run_directory(tmp_path):
    typed = validate(_cfg("shard.index=1", "shard.count=2"))
    with pytest.raises(EvalkitError, match="set output_dir"):
        resolve_run_dir(typed, "shapes", sweep_dir=tmp_path / "multirun" / "1")
    named = validate(_cfg("shard.index=1", "shard.count=2", "run_name=big", f"results_root={tmp_path}"))
    # Not the sweep's per-job folder: every shard job of the sweep gets the same directory.
    assert resolve_run_dir(named, "shapes", sweep_dir=tmp_path / "x") == tmp_path / "shapes" / "tiny_llava15" / "big"


def test_shard_keys_do_not_change_answers():
    one = OmegaConf.to_container(_cfg(), resolve=True)
    other = OmegaConf.to_container(_cfg("shard.index=2", "shard.count=3"), resolve=True)
    assert one["shard"] != other["shard"]
    assert settings.answer_config(one) == settings.answer_config(other)
    assert settings.described(one) == settings.described(other)


def test_split_is_strided_and_covers_every_item_once():
    items = list(range(10))
    parts = [shards.select(items, i, 3) for i in range(3)]
    assert parts == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert shards.select(items, 0, 1) == items


def test_merge_lock_is_exclusive(tmp_path):
    with shards.merge_lock(tmp_path):
        with pytest.raises(shards.LockHeld, match="another job is merging"):
            with shards.merge_lock(tmp_path):
                pass
    assert not (tmp_path / shards.LOCK_NAME).exists()


def test_multirun_under_torchrun_stops_naming_the_supported_way():
    message = multirun_under_launcher(["--multirun", "model=a,b"], {"WORLD_SIZE": "2"})
    assert "hydra/launcher=slurm" in message and "one `accelerate launch" in message
    assert multirun_under_launcher(["-m", "model=a,b"], {"WORLD_SIZE": "1"}) is None
    assert multirun_under_launcher(["model=a"], {"WORLD_SIZE": "4"}) is None
