"""Decoding methods end to end through the CLI: sampled answers are the same across batch sizes,
a run resumed in parts, and 2 processes (per-item seeding); and a new decoding method is one
module plus one yaml, kept outside evalkit and found through hydra.searchpath."""

from __future__ import annotations

import os
import subprocess
import sys
import shutil
from pathlib import Path

import pytest
import yaml

from evalkit.outputs import read_jsonl

SAMPLE = ["decoding=sample", "decoding.temperature=1.5", "decoding.max_new_tokens=4"]


def _cli(args: list[str], cwd: Path, nproc: int = 1, pythonpath: str = "", check: bool = True):
    prefix = [sys.executable, "-m", "evalkit"] if nproc == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "-m", "evalkit"]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (pythonpath, os.environ.get("PYTHONPATH", "")) if p)}
    result = subprocess.run(prefix + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert not check or result.returncode == 0, result.stderr[-3000:]
    return result


def _base(ckpt: Path, data: Path, out: Path) -> list[str]:
    return ["model=tiny_llava15", f"model.path={ckpt}", "dataset=yesno", f"dataset.path={data}",
            f"output_dir={out}", "device=cpu", "progress=false"]


def _answers(run_dir: Path) -> dict[str, str]:
    return {r["id"]: r["prediction"] for r in read_jsonl(run_dir / "predictions.jsonl")}


@pytest.mark.slow  # 44 s on CI's 2 cores: the default tier stays under 10 minutes
def test_sampled_answers_survive_batching_resume_and_processes(tiny_checkpoints, yesno_file, tmp_path):
    ckpt = tiny_checkpoints["llava15"]
    reference_dir = tmp_path / "ref"
    _cli(_base(ckpt, yesno_file, reference_dir) + SAMPLE + ["batch_size=1"], tmp_path)
    reference = _answers(reference_dir)
    assert len(set(reference.values())) > 4  # answers vary, or equality proves nothing
    config = yaml.safe_load((reference_dir / "config.yaml").read_text())
    assert config["decoding"]["_target_"] == "evalkit.decoding.sample.Sample"
    assert config["decoding"]["name"] == "sample" and "mode" not in config["decoding"]

    resumed = tmp_path / "resumed"  # 6 items at batch size 3, then the other 10 at 8
    _cli(_base(ckpt, yesno_file, resumed) + SAMPLE + ["batch_size=3", "limit=6"], tmp_path)
    _cli(_base(ckpt, yesno_file, resumed) + SAMPLE + ["batch_size=8"], tmp_path)
    assert _answers(resumed) == reference

    # The seed changes sampled answers: resuming with another one is refused.
    refused = _cli(_base(ckpt, yesno_file, resumed) + SAMPLE + ["seed=1"], tmp_path, check=False)
    assert refused.returncode == 2 and "seed: 0 -> 1" in refused.stderr

    sharded = tmp_path / "two"
    _cli(_base(ckpt, yesno_file, sharded) + SAMPLE + ["batch_size=4"], tmp_path, nproc=2)
    assert _answers(sharded) == reference


EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "step_greedy"


# Slow tier (about 25 s on CI: three CLI processes): the default tier checks the step API against generate
# in-process (test_step_api.py); this runs docs/extending.md's example through the CLI.
@pytest.mark.slow
def test_a_new_decoding_method_is_one_module_and_one_yaml(tiny_checkpoints, yesno_file, tmp_path):
    code, conf = tmp_path / "code", tmp_path / "conf"
    (conf / "decoding").mkdir(parents=True)
    code.mkdir()
    # docs/extending.md's example, copied into a folder of its own: the module and the yaml.
    shutil.copy(EXAMPLE / "step_greedy.py", code)
    shutil.copy(EXAMPLE / "conf" / "decoding" / "step_greedy.yaml", conf / "decoding")
    added = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(added) == 2  # everything the new method needed; nothing in evalkit was edited

    ckpt = tiny_checkpoints["llava15"]
    greedy_dir, new_dir = tmp_path / "greedy", tmp_path / "new"
    _cli(_base(ckpt, yesno_file, greedy_dir) + ["decoding.max_new_tokens=4", "batch_size=5"], tmp_path)
    searchpath = f"hydra.searchpath=[file://{conf}]"
    _cli(_base(ckpt, yesno_file, new_dir) + [searchpath, "decoding=step_greedy", "batch_size=5"], tmp_path,
         pythonpath=str(code))
    assert _answers(new_dir) == _answers(greedy_dir)  # the step API reproduces generate's greedy
    config = yaml.safe_load((new_dir / "config.yaml").read_text())
    assert config["decoding"] == {"_target_": "step_greedy.StepGreedy", "name": "step_greedy", "max_new_tokens": 4}

    # Its schema is enforced like a shipped one: a typo fails before any model loads.
    typo = _cli(_base(ckpt, yesno_file, tmp_path / "typo") + [searchpath, "decoding=step_greedy",
                "decoding.max_new_token=3"], tmp_path, pythonpath=str(code), check=False)
    assert typo.returncode != 0 and "max_new_token" in typo.stderr
    assert not (tmp_path / "typo").exists()
