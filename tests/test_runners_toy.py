"""The shared iteration loop and the methods on the toy world: registry, plugin method through an
entry point, resume after SIGKILL during training, and the learning claims (NL beats base)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from selfsynth.io import read_json, read_jsonl
from selfsynth.registry import METHODS
from selfsynth.runner import Runner
from selfsynth.tasks.base import subset
from selfsynth.tasks.base import Sample
from tests.fixtures_toy import REPO, TOY_CACHE

# small and quick, but enough for a learning signal: 3 train images per class (x8 questions)
QUICK = ["--task", "toy", "--limit", "36", "--toy_cache", str(TOY_CACHE), "--train.max_steps", "100"]


def _cli(args: list[str], env_extra: dict | None = None, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-m", "selfsynth", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, **kw)


def _run_json(args: list[str], env_extra: dict | None = None, timeout: int = 600) -> dict:
    proc = _cli([*args, "--json"], env_extra)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out)


def test_builtin_methods_are_runners():
    for name in ["base", "nl", "lge", "ours", "no_filter"]:
        cls = METHODS.get(name)
        assert issubclass(cls, Runner) and cls.name == name


def test_subset_is_class_balanced_seeded_and_ordered():
    samples = [Sample(f"{c}{i}", f"/x/{c}{i}.png", c) for c in "abc" for i in range(5)]
    picked = subset(samples, 6, seed=1)
    assert sorted(s.label for s in picked) == ["a", "a", "b", "b", "c", "c"]
    assert picked == sorted(picked, key=samples.index)
    assert subset(samples, 6, seed=1) == picked and subset(samples, 6, seed=2) != picked
    assert subset(samples, None, seed=1) == samples


# the demo's setting (4 images per class, the toy preset's 2 epochs): measured there 0.000 → 0.375
DEMO = ["--task", "toy", "--limit", "48", "--toy_cache", str(TOY_CACHE)]


def test_base_and_nl_on_toy_nl_learns_the_names(toy_world, tmp_path):
    out = tmp_path / "runs"
    base = _run_json(["run", *DEMO, "--method", "base", "--out", str(out)])
    nl = _run_json(["run", *DEMO, "--method", "nl", "--iterations", "1", "--out", str(out)])
    assert [r["iteration"] for r in base["iterations"]] == [0]
    assert [r["iteration"] for r in nl["iterations"]] == [0, 1]
    base_acc = base["iterations"][0]["metrics"]["accuracy"]
    nl_acc = nl["iterations"][1]["metrics"]["accuracy"]
    # the toy base model was never shown a species name; one label-only round teaches some
    assert base_acc <= 0.05
    assert nl_acc >= base_acc + 0.15, (base_acc, nl_acc)
    # the numbers trace back to per-sample records
    records = read_jsonl(out / nl["iterations"][1]["records"])
    assert len(records) == nl["n_test"] == 48
    assert sum(r["match"] for r in records) / len(records) == pytest.approx(nl_acc)
    data = read_jsonl(out / "default/toy/nl/seed_0/iter_1/data/train.jsonl")
    assert len(data) == 48 * 8 and all(r["answer"].endswith(".") for r in data)
    assert results_limit_recorded(out / "default/toy/nl/seed_0/results.json")


def results_limit_recorded(path: Path) -> bool:
    results = read_json(path)
    return results["limit"] == 48 and results["schema_version"] == 1


def _install_plugin(site: Path) -> None:
    """pip-installs the example plugin package into its own folder (the shared venv stays as it is)."""
    source = REPO / "tests" / "plugins" / "selfsynth_example_plugin"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(source)],
                   check=True, capture_output=True, timeout=300)


def test_plugin_method_through_entry_point_end_to_end(toy_world, tmp_path):
    site = tmp_path / "site"
    _install_plugin(site)
    env = {"PYTHONPATH": f"{site}:{REPO}"}
    listing = _cli(["ls", "methods"], env)
    out, _ = listing.communicate(timeout=60)
    assert "label_concepts  label sentence followed by the first class-level concepts (plugin example)" in out
    result = _run_json(["run", *QUICK, "--method", "label_concepts", "--iterations", "1", "--out", str(tmp_path / "runs")], env)
    assert result["method"] == "label_concepts"
    data = read_jsonl(tmp_path / "runs/default/toy/label_concepts/seed_0/iter_1/data/train.jsonl")
    assert len(data) == 36 * 2 and all(" It has " in r["answer"] for r in data)
    manifest = next(p for p in (tmp_path / "runs").rglob("manifest.json") if "label_concepts" in p.parts and "plugins" in read_json(p))
    plugins = read_json(manifest)["plugins"]
    assert [(p["distribution"], p["version"]) for p in plugins] == [("selfsynth-example-plugin", "0.1.0")]
    assert result["iterations"][1]["metrics"]["accuracy"] > result["iterations"][0]["metrics"]["accuracy"]


def test_sigkill_during_iteration_2_training_resumes_identically(toy_world, tmp_path):
    args = ["run", *QUICK, "--method", "nl", "--iterations", "2", "--train.max_steps", "150"]
    reference = _run_json([*args, "--out", str(tmp_path / "ref")])

    out = tmp_path / "killed"
    train2 = out / "default/toy/nl/seed_0/iter_2/train"
    proc = _cli([*args, "--out", str(out)])
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if any(train2.glob("adapter*")) or (train2 / "adapter").exists() or list(train2.glob("**/*")):
            break
        time.sleep(0.02)
    time.sleep(1.0)  # into the training loop proper
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert train2.exists() and not (train2 / "_done.json").exists(), "the kill must land inside iteration 2 training"
    assert not (out / "default/toy/nl/seed_0/iter_2/eval").exists()

    resumed = _run_json([*args, "--out", str(out)])
    computed = resumed["invocation"]["computed"]
    assert not any("iter_1" in step for step in computed)
    assert "default/toy/nl/seed_0/iter_2/train" in computed
    assert {"default/toy/nl/seed_0/iter_1/train", "default/toy/nl/seed_0/iter_1/data"} <= set(resumed["invocation"]["reused"])
    for a, b in zip(reference["iterations"], resumed["iterations"]):
        assert a["metrics"]["accuracy"] == b["metrics"]["accuracy"]
    ref_answers = [r["answer"] for r in read_jsonl(tmp_path / "ref" / reference["iterations"][2]["records"])]
    new_answers = [r["answer"] for r in read_jsonl(out / resumed["iterations"][2]["records"])]
    assert ref_answers == new_answers
