"""`selfsynth run --generate.engine vllm` end to end on the toy world (`make test-vllm`, in the
.venv-vllm environment that vLLM's CPU build needs; not part of `make test`).

The same 2-iteration `ours` run on both engines, in fp32 so greedy decoding can agree:
- greedy evaluation answers are identical: the base model's (iteration 0) in the two runs, and the
  hf run's merged checkpoints of iterations 1 and 2 answered again by vLLM (so every per-iteration
  merged checkpoint is loaded by vLLM, beyond the vllm run's own);
- sampled synthesis is statistically equivalent: step 3's keep rate (the same base model samples
  the rewrites in both runs) within noise of a two-proportion test;
- the wall-time ratio of the two runs is printed (one line, `-s`) and written to the run folder.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="vLLM is not installed in this environment: `make test-vllm` runs this file in .venv-vllm")

from tests.fixtures_toy import REPO, TOY_CACHE  # noqa: E402

KV_CACHE_GIB = "1"  # vLLM's CPU KV cache: plenty for the toy model (its default takes most of the RAM)

RUN = ["run", "--task", "toy", "--method", "ours", "--iterations", "2", "--limit", "24", "--test_limit", "24",
       "--synth.describe_prompts", "1", "--synth.describe_samples", "4",
       "--train.max_steps", "20", "--generate.dtype", "float32", "--eval_max_new_tokens", "48",
       "--synth.describe_max_new_tokens", "48", "--synth.rewrite_max_new_tokens", "48", "--synth.reject_max_new_tokens", "48",
       "--train.report_to", "none"]


def _run(engine: str, out: Path) -> tuple[dict, float]:
    env = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", KV_CACHE_GIB)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "selfsynth", *RUN, "--generate.engine", engine, "--toy_cache", str(TOY_CACHE),
                           "--out", str(out), "--json"], capture_output=True, text=True, timeout=1800, env=env, cwd=REPO)
    seconds = time.perf_counter() - started
    assert done.returncode == 0, f"{engine} run failed:\n{done.stderr[-4000:]}"
    results = json.loads(done.stdout)  # nothing but the results object: vLLM's log lines go to stderr
    assert results == json.loads((out / "default" / "toy" / "ours" / "seed_0" / "results.json").read_text())
    return results, seconds


@pytest.fixture(scope="module")
def runs(tmp_path_factory, toy_world):
    root = tmp_path_factory.mktemp("engines")
    hf, hf_seconds = _run("hf", root / "hf")
    vllm, vllm_seconds = _run("vllm", root / "vllm")
    return {"hf": (root / "hf", hf), "vllm": (root / "vllm", vllm), "seconds": {"hf": hf_seconds, "vllm": vllm_seconds}}


def _answers(out: Path, results: dict, iteration: int) -> dict[str, str]:
    records = out / results["iterations"][iteration]["records"]
    return {row["id"]: row["answer"] for row in map(json.loads, records.read_text().splitlines())}


def _stats(out: Path, iteration: int, name: str) -> dict:
    (path,) = (out / "default" / "toy" / "ours" / "seed_0" / f"iter_{iteration}" / "data").rglob(f"{name}.stats.json")
    return json.loads(path.read_text())


def test_both_engines_run_every_iteration(runs):
    for engine in ("hf", "vllm"):
        _, results = runs[engine]
        assert [r["iteration"] for r in results["iterations"]] == [0, 1, 2]
        assert results["config"]["generate"]["engine"] == engine
        assert all(r["metrics"]["n"] == 24 for r in results["iterations"])


def test_greedy_evaluation_of_the_base_model_is_identical(runs):
    (hf_out, hf), (vllm_out, vllm) = runs["hf"], runs["vllm"]
    assert _answers(hf_out, hf, 0) == _answers(vllm_out, vllm, 0)
    assert hf["iterations"][0]["metrics"]["accuracy"] == vllm["iterations"][0]["metrics"]["accuracy"]


def test_vllm_loads_each_merged_checkpoint_and_answers_as_hf_did(runs, toy_world, tmp_path):
    """The hf run's merged models of iterations 1 and 2, evaluated again through vLLM."""
    from selfsynth.evaluate import evaluate
    from selfsynth.generate import GenerateConfig, load_generator
    from selfsynth.tasks.base import split_seed, subset
    from selfsynth.tasks.toy import ToyTask

    hf_out, hf = runs["hf"]
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", KV_CACHE_GIB)  # read when the engine starts in this process
    task = ToyTask(toy_world.dataset_root)
    samples = subset(task.load("test"), 24, split_seed(0, "test"))
    for iteration in (1, 2):
        model = hf["iterations"][iteration]["model"]
        lm = load_generator(model, GenerateConfig(engine="vllm", dtype="float32"))
        try:
            evaluate(task, samples, lm, tmp_path / f"iter{iteration}", max_new_tokens=48)
        finally:
            lm.close()
        again = {row["id"]: row["answer"] for row in map(json.loads, (tmp_path / f"iter{iteration}" / "records.jsonl").read_text().splitlines())}
        assert again == _answers(hf_out, hf, iteration), f"iteration {iteration}"


def test_sampled_synthesis_keeps_the_same_share_within_noise(runs):
    rates = {}
    for engine in ("hf", "vllm"):
        stats = _stats(runs[engine][0], 1, "rewrite")
        rates[engine] = (stats["kept_rate"], stats["questions"])
    (p1, n1), (p2, n2) = rates["hf"], rates["vllm"]
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = math.sqrt(max(pooled * (1 - pooled), 1e-9) * (1 / n1 + 1 / n2))
    assert abs(p1 - p2) <= 3 * se + 1e-9, rates  # |z| <= 3

    # the note `make test-vllm` prints and keeps beside the runs
    seconds = runs["seconds"]
    note = {
        "rewrite_kept_rate": {k: round(v[0], 3) for k, v in rates.items()}, "rewrite_questions": n1,
        "reject_kept_rate": {e: round(_stats(runs[e][0], 2, "reject")["kept_rate"], 3) for e in ("hf", "vllm")},
        "accuracy": {e: [r["metrics"]["accuracy"] for r in runs[e][1]["iterations"]] for e in ("hf", "vllm")},
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "vllm_over_hf_time": round(seconds["vllm"] / seconds["hf"], 2),
    }
    (runs["vllm"][0].parent / "test_vllm_note.json").write_text(json.dumps(note, indent=2))
    print("\ntest-vllm:", json.dumps(note))
