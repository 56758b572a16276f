"""Contract tests over every yaml in conf/: each option composes against its schema and validates,
and mistakes (typos, wrong types, impossible combinations) fail before any model loads."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir

from evalkit.__main__ import check_overrides
from evalkit.config import ConfigError, conf_dir
from evalkit.registry import register_configs, validate

register_configs()

REQUIRED = {"dataset": {"yesno": ["dataset.path=x.jsonl"], "vqa": ["dataset.path=x.jsonl"],
                        "mcq": ["dataset.path=x.jsonl"]}}


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


def _compose(overrides: list[str]):
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        return compose(config_name="config", overrides=overrides)


@pytest.mark.parametrize(
    "group,option", [(g, o) for g in ("model", "dataset", "decoding") for o in _options(g)]
)
def test_every_option_composes_and_validates(group, option):
    overrides = [f"{group}={option}", *REQUIRED.get(group, {}).get(option, [])]
    typed = validate(_compose(overrides))
    node = getattr(typed, group)
    assert type(node).__name__.endswith("Config"), "every group option must declare its schema"
    if group == "model":
        assert node.name == option  # names are the contract: conf file name == model.name
    if group == "dataset":
        assert node.name == option


@pytest.mark.parametrize("option", _options("decoding"))
def test_decoding_option_composes_its_whole_schema(option):
    """Hydra only lets the command line override keys the composed node has: each decoding yaml
    starts with its method's registered schema, so every key is there while the yaml lists only
    what differs; its name is the option's name (run configs and reports show it)."""
    from dataclasses import fields

    from evalkit.registry import schema_of_option

    node = _compose([f"decoding={option}"]).decoding
    typed = validate(_compose([f"decoding={option}"])).decoding
    assert sorted(node) == sorted(f.name for f in fields(typed))
    assert type(typed) is schema_of_option("decoding", option)
    assert typed.name == option


def test_model_contract_names_and_paths():
    expected = {
        "llava15": "llava-hf/llava-1.5-7b-hf",
        "llava15_13b": "llava-hf/llava-1.5-13b-hf",
        "llava16": "llava-hf/llava-v1.6-vicuna-7b-hf",
        "llava16_13b": "llava-hf/llava-v1.6-vicuna-13b-hf",
        "llava16_mistral": "llava-hf/llava-v1.6-mistral-7b-hf",
    }
    for name, path in expected.items():
        model = validate(_compose([f"model={name}"])).model
        assert model.path == path
        assert model.family == name[:7]
    assert validate(_compose(["model=llava16_mistral"])).model.prompt == "mistral_inst"
    assert validate(_compose(["model=llava15"])).model.prompt == "llava_eval"


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["model=llava16", "model.vision_feature_select_strategy=full"], "cannot work with family=llava16"),
        (["model.prompt=chatml"], "llava_eval, mistral_inst, hf_chat"),
        (["model=llava15", "model.image_grid_pinpoints=[[336,672]]"], "llava16 (anyres) only"),
        (["model=llava16", "model.image_grid_pinpoints=[[300,672]]"], "multiples of the 14 px"),
        (["model.vision_feature_layer=abc"], "int or a list of ints"),
        (["device=tpu"], "auto, cpu, cuda"),
        (["dtype=fp8"], "float32, float16, bfloat16"),
        (["decoding=sample", "decoding.temperature=0"], "sampling needs temperature > 0"),
        (["decoding.num_beams=0"], "decoding.num_beams must be >= 1"),
    ],
)
def test_invalid_values_are_rejected_with_reason(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate(_compose(overrides))


def test_ablation_overrides_validate():
    typed = validate(_compose(["model=llava16", "model.vision_feature_layer=[-2,-5]",
                               "model.image_grid_pinpoints=[[336,672],[672,336]]"]))
    assert typed.model.vision_feature_layer == [-2, -5]
    assert typed.model.image_grid_pinpoints == [[336, 672], [672, 336]]
    assert validate(_compose(["model=llava15", "model.vision_feature_select_strategy=full"])).model.family == "llava15"


@pytest.mark.parametrize(
    "args,expected",
    [
        (["decoding.max_new_token=3"], "did you mean decoding.max_new_tokens"),
        (["decoding=yesno_logits", "decoding.max_new_tokens=3"], "valid keys of decoding: _target_, name"),
        (["decoding=sample", "decoding.top_q=0.9"], "did you mean decoding.top_p"),
        (["model=llava17"], "valid options: llava15, llava15_13b, llava16"),
        (["batchsize=2"], "did you mean batch_size"),
        (["dataset=yesno", "dataset.pth=a"], "valid keys of dataset: "),
        (["model.vision_feature_layr=-1"], "did you mean model.vision_feature_layer"),
    ],
)
def test_typos_name_the_valid_choices(args, expected):
    assert expected in check_overrides(args)


def test_valid_overrides_pass_the_check():
    assert check_overrides(["model=llava15,llava16", "model.vision_feature_layer=-1,-2", "batch_size=4"]) is None


def test_cli_typo_exits_2_before_loading_anything(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "evalkit", "decoding.max_new_token=3"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 2
    assert "did you mean decoding.max_new_tokens" in result.stderr
    assert not (tmp_path / "results").exists()


def _schema_defaults(schema) -> dict:
    from dataclasses import MISSING as NO_DEFAULT, fields

    out = {}
    for f in fields(schema):
        if f.default is not NO_DEFAULT:
            out[f.name] = f.default
        elif f.default_factory is not NO_DEFAULT:
            out[f.name] = f.default_factory()
    return out


@pytest.mark.parametrize(
    "group,option", [("", "config")] + [(g, o) for g in ("model", "dataset", "decoding") for o in _options(g)]
)
def test_yaml_sets_only_what_differs_from_its_schema(group, option):
    """Defaults are defined once, in the schema; a yaml repeating one would silently disagree with
    it the day either changes (shapes' n_images once did: 24 in the yaml, 60 in the schema).
    Every option's yaml names its schema first (`/schema/<group>/<name>@_here_`)."""
    from omegaconf import OmegaConf

    from evalkit.config import Config

    from evalkit.registry import schema_of_option

    path = conf_dir() / group / f"{option}.yaml"
    schema = Config if not group else schema_of_option(group, option)
    if group:
        assert f"/schema/{group}/" in path.read_text(encoding="utf-8"), f"{path}: its defaults list names no schema"
    values = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    values.pop("defaults", None)
    values.pop("hydra", None)
    defaults = {k: v for k, v in _schema_defaults(schema).items() if not isinstance(v, (dict,)) and v != "???"}
    repeated = sorted(k for k, v in values.items() if k in defaults and defaults[k] == v)
    assert repeated == [], f"{path}: {repeated} repeat the defaults of {schema.__name__}"


def test_the_default_run_keeps_its_effective_values():
    typed = validate(_compose([]))
    assert (typed.dataset.name, typed.dataset.n_images, typed.dataset.version) == ("shapes", 24, 2)
    assert typed.model.feature_cache.enabled and typed.model.prompt == "llava_eval"
    assert (typed.decoding.name, typed.decoding.max_new_tokens, typed.batch_size) == ("greedy", None, 8)
    # null: the run's tasks' length (evalkit/generation.py), LLaVA's 128 for the default yes/no set
    from datasets_adapters.shapes import ShapesDataset
    from evalkit.generation import resolve_max_new_tokens

    cfg = _compose([])
    assert resolve_max_new_tokens(cfg, ShapesDataset, ShapesDataset(n_images=1).load())["max_new_tokens"] == 128
    assert cfg.decoding.max_new_tokens == 128


def _dataset_schema_names() -> list[str]:
    from evalkit.registry import dataset_schemas

    return sorted(dataset_schemas())


@pytest.mark.parametrize("name", _dataset_schema_names())
def test_benchmark_settings_are_declared_once_in_its_schema(name):
    """The schema is the one place a benchmark's settings, defaults and checks live: the adapter is
    built from it (Benchmark.__init__ -> self.settings, __post_init__ the one check), so its
    constructor repeats no setting's default (mme, pope, shapes, ... once declared each three times)."""
    import inspect

    from evalkit.benchmark import benchmark_class
    from evalkit.registry import dataset_schemas

    schema = dataset_schemas()[name]
    cls = benchmark_class(schema._target_)
    assert cls.schema is schema
    repeated = [p.name for p in inspect.signature(cls.__init__).parameters.values() if p.default is not p.empty]
    assert repeated == [], f"{cls.__name__}.__init__ repeats the defaults of {repeated}: build it from {schema.__name__}"
