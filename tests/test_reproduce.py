"""`selfsynth reproduce`: experiment files, the dry-run plan and cost, launchers, resume after a kill."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from selfsynth.cli import main
from selfsynth.errors import UserError
from selfsynth.experiment import dry_run, load_experiment, reproduce
from tests.fixtures_toy import answers

REPO = Path(__file__).resolve().parents[1]
PAPER = sorted((REPO / "experiments" / "paper").glob("*.yaml"))
TOY = sorted((REPO / "experiments" / "toy").glob("*.yaml"))


def grid(tmp_path: Path, toy_world, name: str = "grid", out: Path | None = None, **changes) -> Path:
    """A small real grid: the toy base model zero-shot on 2 seeds (evaluation only, seconds)."""
    data = {
        "name": name, "out": str(out or tmp_path / "runs"), "tasks": ["toy"], "methods": ["base"], "seeds": [0, 1],
        "tables": ["1"], "overrides": {"limit": 6, "toy_cache": str(Path(toy_world.root).parent)},
    }
    data.update(changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def table_rows(out: Path, name: str) -> list[dict]:
    return json.loads((out / "experiments" / name / "table1.json").read_text(encoding="utf-8"))["rows"]


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.name)
def test_paper_experiments_validate_and_report_missing_data(path, capsys):
    """Every shipped paper experiment resolves (each cell's config checked) and, on a machine
    without the datasets, --dry-run lists each missing input on one line and exits 2."""
    code = main(["reproduce", str(path), "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 2
    missing = [line for line in out.splitlines() if line.startswith("missing: ")]
    assert missing and len(missing) == len(set(missing))
    assert any("dataset folder" in line for line in missing)
    assert err.count("\n") == 1 and "input(s) missing" in err


def test_toy_experiments_validate():
    for path in TOY:
        experiment = load_experiment(path)
        assert experiment.cells or experiment.selection, path
    demo = load_experiment(REPO / "experiments" / "toy" / "demo.yaml")
    assert {c.method for c in demo.cells} == {"base", "nl", "lge", "ours", "no_filter"}
    assert {c.seed for c in demo.cells} == {0, 1, 2}
    assert all(c.config.judge == "local" for c in demo.cells)


def test_bad_experiment_files_are_one_line_errors(tmp_path, toy_world):
    with pytest.raises(UserError, match="unknown method"):
        load_experiment(grid(tmp_path, toy_world, methods=["ourz"]))
    with pytest.raises(UserError, match=r"unknown key\(s\) 'seed'"):
        load_experiment(grid(tmp_path, toy_world, seed=3))
    with pytest.raises(UserError, match="tables"):
        load_experiment(grid(tmp_path, toy_world, tables=["7"]))
    with pytest.raises(UserError, match="limit"):
        load_experiment(grid(tmp_path, toy_world, overrides={"limit": 0}))


def test_local_and_submitit_launchers_agree_and_shared_cells_run_once(tmp_path, toy_world):
    local = reproduce(grid(tmp_path, toy_world, out=tmp_path / "local"), progress=lambda line: None)
    assert not local["failed"] and len(local["outcomes"]) == 2
    assert {Path(f).suffix for f in local["files"]} >= {".md", ".tex", ".csv", ".json", ".png", ".svg"}
    submitted = reproduce(grid(tmp_path, toy_world, out=tmp_path / "sub"), launcher="submitit_local", progress=lambda line: None)
    assert not submitted["failed"] and len(submitted["outcomes"]) == 2
    assert answers(tmp_path / "local") and answers(tmp_path / "local") == answers(tmp_path / "sub")
    assert table_rows(tmp_path / "local", "grid") == table_rows(tmp_path / "sub", "grid")
    # another experiment over the same store and settings finds its cells done
    again = reproduce(grid(tmp_path, toy_world, name="other", out=tmp_path / "local", seeds=[1]), progress=lambda line: None)
    assert again["outcomes"] == []
    assert table_rows(tmp_path / "local", "other")[0]["seeds"] == 1


def test_changed_experiment_is_refused(tmp_path, toy_world):
    reproduce(grid(tmp_path, toy_world, seeds=[0]), progress=lambda line: None)
    changed = grid(tmp_path, toy_world, seeds=[0], overrides={"limit": 5, "toy_cache": str(Path(toy_world.root).parent)})
    with pytest.raises(UserError, match="changed since its cells ran"):
        reproduce(changed, progress=lambda line: None)
    report, text = dry_run(grid(tmp_path, toy_world, seeds=[0, 1]))  # a new seed is allowed
    assert [row["done"] for row in report["cells"]] == [True, False]
    assert "1 to run" in text


def test_killed_reproduce_resumes_to_the_same_tables(tmp_path, toy_world):
    reference = reproduce(grid(tmp_path, toy_world, out=tmp_path / "reference"), progress=lambda line: None)
    assert not reference["failed"]
    experiment = grid(tmp_path, toy_world, out=tmp_path / "killed")
    env = dict(os.environ, TQDM_DISABLE="1")
    proc = subprocess.Popen([sys.executable, "-m", "selfsynth", "reproduce", str(experiment)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    first = tmp_path / "killed" / "default" / "toy" / "base" / "seed_0" / "results.json"
    deadline = time.time() + 240
    while not first.is_file() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "reproduce finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (tmp_path / "killed" / "experiments" / "grid" / "table1.json").exists()
    resumed = reproduce(experiment, progress=lambda line: None)
    assert [o["cell"] for o in resumed["outcomes"]] == ["toy__base__seed_1"]  # seed 0 was kept
    assert table_rows(tmp_path / "killed", "grid") == table_rows(tmp_path / "reference", "grid")
    assert answers(tmp_path / "killed") == answers(tmp_path / "reference")
    leftovers = [p for p in (tmp_path / "killed").rglob("*") if p.name.endswith(".tmp") or ".tmp" in p.name]
    assert leftovers == []
