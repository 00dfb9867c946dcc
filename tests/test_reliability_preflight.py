"""Every input a run needs is checked before the first model loads: an uncached text encoder, a
judge without its key, an uncached fluency reference LM each stop `selfsynth run` in one line
(exit 2) while the model loaders are rigged to fail loudly if called; all of them at once are
named in that one line; without HF_HUB_OFFLINE, a hub that cannot be reached is one line too (no
httpx traceback); and `selfsynth reproduce --dry-run` lists the same problems per cell."""
from __future__ import annotations

import json

import pytest

from selfsynth.cli import main
from tests.fixtures_toy import TOY_CACHE

UNCACHED_ENCODER = "intfloat/e5-large-v2"
UNCACHED_LM = "openai-community/gpt2"
KEY_ENV = "SELFSYNTH_TEST_JUDGE_KEY"


@pytest.fixture()
def no_model_loads(monkeypatch):
    """Any model load is a test failure: the checks must come first."""
    import sentence_transformers

    from selfsynth import models
    from selfsynth.metrics import fluency

    def loaded(*args, **kwargs):
        raise AssertionError("a model was loaded before the inputs were checked")

    monkeypatch.setattr(models, "load_model", loaded)
    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", loaded)
    monkeypatch.setattr(fluency.FluencyScorer, "_load", loaded)
    monkeypatch.delenv(KEY_ENV, raising=False)


def _run(tmp_path, *extra: str) -> list[str]:
    return ["run", "--task", "toy", "--method", "ours", "--toy_cache", str(TOY_CACHE), "--iterations", "1", "--limit", "4",
            "--out", str(tmp_path / "runs"), *extra]


CASES = {
    "uncached encoder": (["--synth.encoder", UNCACHED_ENCODER], f"--synth.encoder: text encoder '{UNCACHED_ENCODER}' is not in the local Hugging Face cache"),
    "judge without its key": (["--judge", "openai", "--judging.openai.api_key_env", KEY_ENV], f"--judge openai: environment variable {KEY_ENV}"),
    "uncached fluency model": (["--judge", "local", "--fluency_model", UNCACHED_LM], f"--fluency_model: fluency reference '{UNCACHED_LM}' is not in the local"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_missing_input_stops_the_run_before_any_model_loads(case, toy_world, tmp_path, capsys, no_model_loads):
    extra, expected = CASES[case]
    assert main(_run(tmp_path, *extra)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and expected in err, err
    assert not list((tmp_path / "runs").rglob("results.json"))


def test_every_missing_input_is_named_at_once(toy_world, tmp_path, capsys, no_model_loads):
    extra = ["--synth.encoder", UNCACHED_ENCODER, "--judge", "openai", "--judging.openai.api_key_env", KEY_ENV, "--fluency_model", UNCACHED_LM]
    assert main(_run(tmp_path, *extra)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "3 inputs of this run are missing or unusable" in err
    assert all(expected in err for _, expected in CASES.values()), err


def test_without_offline_mode_an_unreachable_hub_is_one_line(toy_world, tmp_path):
    """The user's command as they type it, online as far as the code knows, on a machine with no
    route to the hub (here: the hub endpoint is a closed local port)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT="http://127.0.0.1:9", TQDM_DISABLE="1")
    done = subprocess.run([sys.executable, "-m", "selfsynth", *_run(tmp_path, "--synth.encoder", UNCACHED_ENCODER)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    # the lines before it are huggingface_hub's own retry log ("Retrying in 1s [Retry 1/5]")
    assert last.startswith("selfsynth run: error: --synth.encoder: text encoder 'intfloat/e5-large-v2' is not in the local Hugging Face "
                           "cache and the Hub could not be reached") and f"hf download {UNCACHED_ENCODER}" in last, last
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("iter_0"))


def test_dry_run_lists_each_missing_input(toy_world, tmp_path, capsys, monkeypatch):
    import yaml

    monkeypatch.delenv(KEY_ENV, raising=False)
    experiment = {"name": "preflight", "out": str(tmp_path / "runs"), "tasks": ["toy"], "methods": ["ours"], "seeds": [0],
                  "tables": ["1"], "overrides": {"toy_cache": str(TOY_CACHE), "iterations": 1, "limit": 4, "judge": "openai",
                                                 "fluency_model": UNCACHED_LM, "synth": {"encoder": UNCACHED_ENCODER},
                                                 "judging": {"openai": {"api_key_env": KEY_ENV}}}}
    path = tmp_path / "preflight.yaml"
    path.write_text(yaml.safe_dump(experiment))
    assert main(["reproduce", str(path), "--dry-run", "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    missing = report["missing"]
    assert len(missing) == 3 and all(line.startswith("toy: ") for line in missing), missing
    for _, expected in CASES.values():
        assert any(expected in line for line in missing), (expected, missing)
