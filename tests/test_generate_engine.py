"""The generation engine choice (``--generate.engine hf|vllm``): config, cache identity, records,
and the one-line error when vllm is missing. vLLM's own answers (greedy agreement with hf, seeded
sampling) are checked by ``make bench-vllm`` in vLLM's CPU environment."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from selfsynth.cache import ResponseCache
from selfsynth.errors import UserError
from selfsynth.generate import GenArgs, GenerateConfig, VllmModel, generate, load_generator
from selfsynth.io import read_jsonl


REPO = Path(__file__).resolve().parents[1]
HAS_VLLM = importlib.util.find_spec("vllm") is not None


def _requests(world, n: int) -> list[tuple[str, str]]:
    rows = read_jsonl(Path(world.dataset_root) / "test.jsonl")[:n]
    return [(str(Path(world.dataset_root) / r["image"]), "Describe the bird in the image.") for r in rows]


def test_engine_is_a_checked_choice_with_dotted_flags():
    from selfsynth import config as cfg
    from selfsynth.runner import RunConfig

    assert RunConfig().generate.engine == "hf"
    config = cfg.resolve(RunConfig, overrides={"generate": {"engine": "vllm", "vllm_max_num_seqs": 64}})
    assert (config.generate.engine, config.generate.vllm_max_num_seqs) == ("vllm", 64)
    with pytest.raises(ValueError, match="engine 'tgi': expected one of hf, vllm"):
        GenerateConfig(engine="tgi")
    proc = subprocess.run([sys.executable, "-m", "selfsynth", "run", "--generate.engine", "tgi", "--print-config"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2 and "engine: 'tgi' is not one of hf, vllm" in proc.stderr and proc.stderr.count("\n") == 1
    proc = subprocess.run([sys.executable, "-m", "selfsynth", "run", "--generate.engine", "vllm", "--print-config"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0 and "engine: vllm" in proc.stdout


def test_hf_generator_is_the_loaded_model(toy_world):
    lm = load_generator(toy_world.model_path, GenerateConfig())
    assert lm.engine == "hf" and hasattr(lm.model, "generate")


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed here: the missing-vllm error cannot occur")
def test_selecting_vllm_without_it_is_one_line_saying_how_to_install(toy_world):
    with pytest.raises(UserError) as info:
        load_generator(toy_world.model_path, GenerateConfig(engine="vllm"))
    message = str(info.value)
    assert "\n" not in message and "vllm is not installed" in message and "pip install 'selfsynth-harness[vllm]'" in message


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed here: a vllm-engine model would answer instead of failing")
def test_the_engine_is_part_of_the_cache_key(tmp_path, toy_world, toy_lm):
    """Answers cached by hf are never served to a vllm-engine model of the same fingerprint: it
    misses and goes to its engine (here: vllm is absent, so the miss shows as the install error)."""
    reqs = _requests(toy_world, 3)
    cache = ResponseCache(tmp_path / "gen.sqlite")
    args = GenArgs(max_new_tokens=12)
    answers = generate(toy_lm, reqs, args, cache=cache)
    assert generate(toy_lm, reqs, args, cache=cache) == answers and cache.hits == 3
    served = VllmModel(llm=None, processor=toy_lm.processor, fingerprint=toy_lm.fingerprint, path=toy_lm.path, rows_per_call=8)
    with pytest.raises(UserError, match="vllm is not installed"):
        generate(served, reqs, args, cache=cache)
    assert cache.misses == 3 + 3


def test_stage_records_and_metrics_name_the_engine(tmp_path, toy_world, toy_lm):
    from selfsynth.evaluate import evaluate
    from selfsynth.tasks.toy import ToyTask

    task = ToyTask(toy_world.dataset_root)
    samples = task.load("test")[:2]
    metrics = evaluate(task, samples, toy_lm, tmp_path / "eval", max_new_tokens=8)
    assert metrics["engine"] == "hf"
