"""The three journeys of a new user, as the README tells them: add a method as a package, gate a
checkpoint (an adapter folder as the candidate; evaluations made with other generation settings
refused), and real-model inputs that fail early and say what to do."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from selfsynth.cli import main
from selfsynth.io import read_json, read_jsonl
from tests.fixtures_toy import REPO, TOY_CACHE

BIN = Path(sys.executable).parent


def _selfsynth(args: list[str], env_extra: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", **(env_extra or {})}
    return subprocess.run([str(BIN / "selfsynth"), *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)


def _source_sha256(package: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py"), key=lambda p: p.relative_to(package).as_posix()):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def test_new_method_scaffold_installs_lists_runs_and_is_in_the_manifest(toy_world, tmp_path):
    package = tmp_path / "selfsynth-journey-probe"
    made = _selfsynth(["new-method", "journey_probe", "--out", str(package)])
    assert made.returncode == 0, made.stderr
    assert {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()} == {
        "pyproject.toml", "README.md", "selfsynth_journey_probe/__init__.py", "selfsynth_journey_probe/runner.py", "tests/test_method.py",
    }
    pip = [sys.executable, "-m", "pip"]
    # as the README says (pip install -e DIR); no deps or build isolation: the test stays offline
    subprocess.run([*pip, "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", str(package)],
                   check=True, capture_output=True, timeout=300)
    try:
        listing = _selfsynth(["ls", "methods"])
        assert "journey_probe  journey_probe: label sentence plus class concepts (edit build_data)" in listing.stdout
        # the scaffold's own test: one iteration on the toy world (this suite's toy cache under HOME)
        home = tmp_path / "home"
        (home / ".cache" / "selfsynth").mkdir(parents=True)
        (home / ".cache" / "selfsynth" / "toy").symlink_to(TOY_CACHE)
        basetemp = tmp_path / "pytest"
        tested = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", str(basetemp), str(package / "tests")],
            capture_output=True, text=True, timeout=900, cwd=package,
            env={**os.environ, "HOME": str(home), "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"},
        )
        assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
        assert "2 passed" in tested.stdout
    finally:
        subprocess.run([*pip, "uninstall", "--quiet", "--yes", "selfsynth-journey-probe"], check=True, capture_output=True, timeout=120)
    manifest = next(read_json(p) for p in basetemp.rglob("manifest.json") if "plugins" in read_json(p))
    assert manifest["plugins"] == [{
        "name": "journey_probe", "group": "selfsynth.methods",
        "object": "selfsynth_journey_probe.runner:JourneyProbeRunner",
        "distribution": "selfsynth-journey-probe", "version": "0.1.0",
        "source_sha256": _source_sha256(package / "selfsynth_journey_probe"), "source_files": 2,
    }]
    rows = read_jsonl(next(basetemp.rglob("iter_1/data/train.jsonl")))
    assert rows and all(set(row) == {"id", "image", "question", "answer"} for row in rows)
    assert "journey_probe" not in _selfsynth(["ls", "methods"]).stdout


def test_new_method_refuses_a_taken_name_and_a_bad_one(tmp_path, capsys):
    assert main(["new-method", "ours", "--out", str(tmp_path / "x")]) == 2
    assert "already registered" in capsys.readouterr().err
    assert main(["new-method", "My-Method", "--out", str(tmp_path / "y")]) == 2
    assert "expected lowercase letters" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_a_missing_concepts_file_fails_in_seconds_before_any_model_loads(toy_world, tmp_path, monkeypatch, capsys):
    import selfsynth.models

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded before the inputs were checked")

    monkeypatch.setattr(selfsynth.models, "load_model", no_model)
    monkeypatch.setattr("transformers.AutoModelForImageTextToText.from_pretrained", no_model)
    missing = tmp_path / "concepts" / "cub200.json"
    started = time.perf_counter()
    code = main(["run", "--task", "toy", "--method", "ours", "--iterations", "1", "--limit", "12", "--toy_cache", str(TOY_CACHE),
                 "--concepts", str(missing), "--out", str(tmp_path / "runs")])
    elapsed = time.perf_counter() - started
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"--concepts {missing}: file not found (make it with `selfsynth concepts --task toy --root " in err
    assert elapsed < 30, elapsed
    assert not any((tmp_path / "runs").rglob("iter_0")), "nothing may be evaluated before the inputs are checked"


def test_concepts_that_miss_classes_fail_before_any_model_loads(toy_world, tmp_path, monkeypatch, capsys):
    import selfsynth.models

    monkeypatch.setattr(selfsynth.models, "load_model", lambda *a, **k: pytest.fail("model loaded"))
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"no such bird": ["red crown"]}))
    assert main(["run", "--task", "toy", "--method", "lge", "--toy_cache", str(TOY_CACHE), "--concepts", str(partial),
                 "--out", str(tmp_path / "runs")]) == 2
    assert "no concepts for" in capsys.readouterr().err


def test_offline_an_uncached_hub_model_is_one_line_naming_hf_download(tmp_path):
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    for args in (["eval", "--task", "toy", "--toy_cache", str(TOY_CACHE), "--model", "someorg/not-cached-vlm", "--limit", "2"],
                 ["run", "--task", "toy", "--toy_cache", str(TOY_CACHE), "--model", "someorg/not-cached-vlm", "--out", str(tmp_path / "r")]):
        proc = _selfsynth(args, env)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1, proc.stderr
        assert "model 'someorg/not-cached-vlm' is neither a local folder nor in the local Hugging Face cache (HF_HUB_OFFLINE=1); " \
               "fetch it once with `hf download someorg/not-cached-vlm`" in proc.stderr


def test_offline_an_uncached_text_encoder_is_one_line_naming_hf_download():
    from selfsynth.embed import TextEncoder
    from selfsynth.errors import UserError

    with pytest.raises(UserError) as error:
        TextEncoder("someorg/not-cached-encoder").encode(["a red crown"])
    assert "`hf download someorg/not-cached-encoder`" in str(error.value) and "\n" not in str(error.value)


@pytest.fixture(scope="module")
def toy_adapter(toy_world, tmp_path_factory):
    """A LoRA adapter on the toy base model, saved by peft (zero-initialised B: it answers as the base)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_pretrained(str(toy_world.model_path))
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    folder = tmp_path_factory.mktemp("adapter") / "ckpt-adapter"
    peft_model.save_pretrained(folder)
    assert read_json(folder / "adapter_config.json")["base_model_name_or_path"] == str(toy_world.model_path)
    return folder


def test_regress_refuses_other_generation_settings_and_takes_an_adapter_as_candidate(toy_world, toy_adapter, tmp_path, capsys):
    common = ["eval", "--task", "toy", "--toy_cache", str(TOY_CACHE), "--limit", "6"]
    assert main([*common, "--max_new_tokens", "24", "--out", str(tmp_path / "base")]) == 0
    assert main([*common, "--max_new_tokens", "4", "--out", str(tmp_path / "short")]) == 0
    capsys.readouterr()
    # the same model, evaluated with another answer length: not comparable, and the setting is named
    assert main(["regress", "--baseline", str(tmp_path / "base"), "--candidate", str(tmp_path / "short")]) == 2
    err = capsys.readouterr().err
    assert "generation.max_new_tokens: 4 vs 24" in err and err.count("\n") == 1

    # the adapter folder as the candidate: evaluated with the baseline's recorded settings, then gated
    # 6 agreeing pairs rule out a drop of 0.5 at the default one-sided alpha 0.025 (p = 0.0196)
    code = main(["regress", "--baseline", str(tmp_path / "base"), "--candidate", str(toy_adapter),
                 "--candidate-out", str(tmp_path / "cand"), "--out", str(tmp_path / "report.json"), "--max-drop", "0.5"])
    assert code == 0, capsys.readouterr().err
    report = read_json(tmp_path / "report.json")
    base_metrics, cand_metrics = read_json(tmp_path / "base" / "metrics.json"), read_json(tmp_path / "cand" / "metrics.json")
    assert report["verdict"] == "non-inferior" and report["n"] == 6 and report["lost"] == report["gained"] == 0
    assert cand_metrics["generation"] == base_metrics["generation"] and cand_metrics["limit"] == 6
    # the base came from adapter_config.json; the candidate's identity is (base, adapter)
    assert cand_metrics["base_model_fingerprint"] == base_metrics["model_fingerprint"]
    assert cand_metrics["adapter_fingerprint"] and cand_metrics["model_fingerprint"] != base_metrics["model_fingerprint"]
    assert report["candidate"]["adapter_fingerprint"] == cand_metrics["adapter_fingerprint"]
    # a zero-initialised adapter answers exactly as its base: same answers, sample by sample
    base_answers = [r["answer"] for r in read_jsonl(tmp_path / "base" / "records.jsonl")]
    assert [r["answer"] for r in read_jsonl(tmp_path / "cand" / "records.jsonl")] == base_answers


def test_an_adapter_whose_base_is_missing_says_what_to_pass(tmp_path, capsys):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "someorg/base-not-cached", "peft_type": "LORA"}))
    assert main(["eval", "--task", "toy", "--toy_cache", str(TOY_CACHE), "--model", str(adapter), "--limit", "2"]) == 2
    err = capsys.readouterr().err
    assert f"{adapter} is a LoRA adapter on 'someorg/base-not-cached', which cannot be found" in err
    assert f"pass --model BASE --adapter {adapter}" in err and err.count("\n") == 1


def test_concepts_imports_a_descriptor_file_onto_the_task_classes(toy_world, tmp_path, capsys):
    source = read_json(Path(toy_world.dataset_root) / "concepts.json")
    # a public descriptor file spells classes its own way: index prefixes, other case, extra keys
    descriptors = {f"{i + 1:03d}.{name.upper()}": values for i, (name, values) in enumerate(source.items())}
    descriptors["Not A Toy Bird"] = ["green tail"]
    (tmp_path / "descriptors.json").write_text(json.dumps(descriptors))
    out = tmp_path / "concepts" / "toy.json"
    assert main(["concepts", "--task", "toy", "--root", str(toy_world.dataset_root), "--from-json", str(tmp_path / "descriptors.json"),
                 "--out", str(out)]) == 0
    assert read_json(out) == source
    stats = read_json(out.with_name("toy.json.stats.json"))
    assert stats["classes"] == len(source) and stats["unmatched_keys"] == ["Not A Toy Bird"] and stats["llm_calls"] == 0
    assert "1 keys named no class, e.g. 'Not A Toy Bird'" in capsys.readouterr().out


def test_concepts_from_an_llm_endpoint_are_cached_and_costed(toy_world, tmp_path, monkeypatch, capsys):
    from tests.test_synth_concepts import _ChatServer

    monkeypatch.setenv("PROBE_KEY", "sk-test")
    out = tmp_path / "toy.json"
    with _ChatServer() as url:
        args = ["concepts", "--task", "toy", "--root", str(toy_world.dataset_root), "--out", str(out), "--model", "probe-llm",
                "--base-url", url, "--api-key-env", "PROBE_KEY", "--price-input-per-mtok", "2.5", "--price-output-per-mtok", "10", "--json"]
        assert main(args) == 0
        first = json.loads(capsys.readouterr().out)
        assert main(args) == 0
        second = json.loads(capsys.readouterr().out)
    classes = len(read_json(Path(toy_world.dataset_root) / "concepts.json"))
    # the loopback server reports 10 prompt + 10 completion tokens per request
    assert first["llm_calls"] == classes and first["prompt_tokens"] == first["completion_tokens"] == 10 * classes
    assert first["cost_usd"] == pytest.approx(classes * (10 * 2.5 + 10 * 10) / 1e6)
    assert second["llm_calls"] == 0 and second["cost_usd"] == 0
    concepts = read_json(out)
    assert len(concepts) == classes and all(values == [f"{name.lower()} crest", "bright wing bars", "indented line counts"] for name, values in concepts.items())


GUIDES = ["docs/add_a_method.md", "docs/gate_checkpoints.md", "docs/reproduce_table1_cub.md", "docs/examples/gate-checkpoint.yml"]


def _guide_commands(text: str) -> list[list[str]]:
    """Every `selfsynth ...` command line of a guide (continuations joined, shell variables filled)."""
    import re
    import shlex

    text = re.sub(r"\\\n\s*", " ", text)
    text = re.sub(r"\$\{\{[^}]*\}\}", "X", text)
    commands = []
    for line in text.splitlines():
        line = line.strip().removeprefix("- ").removeprefix("run: ")
        match = re.search(r"(?:^|-m |&& |; then |^\s*)selfsynth ((?:[a-z-]+)(?: .*)?)$", line)
        if not match or line.startswith("#"):
            continue
        words = shlex.split(re.sub(r"\$\{?[A-Z_]+\}?", "X", match.group(1)).split(" && ")[0].split(" # ")[0])
        commands.append(words)
    return commands


@pytest.mark.parametrize("guide", GUIDES)
def test_every_selfsynth_command_in_the_guides_parses(guide):
    from selfsynth.cli import build_parser

    commands = _guide_commands((REPO / guide).read_text(encoding="utf-8"))
    assert len(commands) >= 2, commands
    for words in commands:
        build_parser(words[0]).parse_args(words)  # an unknown command or flag exits 2 here


def test_the_ci_workflow_example_is_valid_yaml_with_the_gate_step():
    import yaml

    workflow = yaml.safe_load((REPO / "docs/examples/gate-checkpoint.yml").read_text(encoding="utf-8"))
    steps = workflow["jobs"]["gate"]["steps"]
    gate = next(step["run"] for step in steps if step.get("name") == "Gate the candidate")
    assert "selfsynth regress --baseline" in gate and "--max-drop 0.01 --alpha 0.05" in gate
    assert workflow["jobs"]["gate"]["env"]["HF_HUB_OFFLINE"] == "1"


def test_a_run_on_an_adapter_says_to_pass_its_base(toy_world, toy_adapter, tmp_path, capsys):
    assert main(["run", "--task", "toy", "--toy_cache", str(TOY_CACHE), "--model", str(toy_adapter), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"is a LoRA adapter on {toy_world.model_path}; a run fine-tunes a full model: pass --model {toy_world.model_path}" in err
