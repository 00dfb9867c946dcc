"""The CI example workflows: inputs reach scripts through environment variables only (a `${{ }}`
expression inside `run:` is pasted into the script before the shell sees it: command injection),
every script parses as bash, and a hub id is fetched by a step of its own (the others run offline)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "docs" / "examples").glob("*.yml"))


def _steps(path: Path) -> list[dict]:
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_no_expression_inside_a_script_and_every_script_parses(path):
    assert EXAMPLES, "docs/examples holds the workflows"
    for step in _steps(path):
        script = step.get("run")
        if script is None:
            continue
        assert "${{" not in script, (step.get("name"), script)
        checked = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
        assert checked.returncode == 0, (step.get("name"), checked.stderr)
        for name in ("CHECKPOINT",):
            if f"${name}" in script or f"${{{name}}}" in script:
                assert name in (step.get("env") or {}), (step.get("name"), name)


def test_the_gate_fetches_a_hub_checkpoint_in_its_own_online_step():
    steps = {step.get("name"): step for step in _steps(Path(__file__).resolve().parents[1] / "docs" / "examples" / "gate-checkpoint.yml")}
    fetch = steps["Fetch the candidate when it is a hub id"]
    assert fetch["env"]["HF_HUB_OFFLINE"] == "0" and 'hf download "$CHECKPOINT"' in fetch["run"]
    names = list(steps)
    assert names.index("Fetch the candidate when it is a hub id") < names.index("Gate the candidate")
    script = fetch["run"]
    # a local folder is left alone, a hub id is fetched, anything else stops the job
    for checkpoint, expected in (("/tmp", "local checkpoint"), ("org/model-7b", "hf download org/model-7b"), ("x; rm -rf /", "::error::")):
        shimmed = "hf() { echo hf download \"$2\"; }\n" + script
        done = subprocess.run(["bash", "-c", shimmed], capture_output=True, text=True, env={"CHECKPOINT": checkpoint, "PATH": "/usr/bin:/bin"})
        assert expected in done.stdout, (checkpoint, done.stdout, done.stderr)
