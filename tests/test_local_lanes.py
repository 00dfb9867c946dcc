"""`reproduce --jobs N` on one machine: each lane is one process that runs its cells in order, on
its share of the CPU cores; its output is split into per-cell logs and forwarded line by line, and
a lane process that dies fails the cells it did not finish."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from selfsynth.experiment import load_experiment, write_cell_files
from selfsynth.experiment.cells import cell_results_path, cell_unit
from selfsynth.experiment.lane import outcome_line, parse_outcome
from selfsynth.experiment.launch import LocalProcesses, _lane_subprocess, lanes
from selfsynth.io import claim_output_dir

REPO = Path(__file__).resolve().parents[1]
CLUSTER_TOY = REPO / "tests" / "experiments" / "cluster_toy.yaml"


def experiment(tmp_path: Path, **changes):
    data = yaml.safe_load(CLUSTER_TOY.read_text(encoding="utf-8"))
    data.update(name="lanes", out=str(tmp_path / "runs"), **changes)
    data["overrides"]["toy_cache"] = str(REPO / ".cache" / "toy")
    path = tmp_path / "lanes.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_experiment(path)


def test_outcome_lines_round_trip():
    line = outcome_line({"cell": "a.yaml", "ok": True, "seconds": 1.5})
    assert parse_outcome(line + "\n") == {"cell": "a.yaml", "ok": True, "seconds": 1.5}
    assert parse_outcome("toy/base seed 0 · iter 0 · eval: 12 items in 0.1 s") is None
    assert parse_outcome(line[:-3]) is None  # cut short: an output line, not an outcome


def test_two_cpu_lanes_run_side_by_side_with_one_thread_each(tmp_path, toy_world):
    exp = experiment(tmp_path, seeds=[0, 1])
    claim_output_dir(exp.out, "run")  # as reproduce does before its lanes start
    files = write_cell_files(exp)
    lines: list[str] = []
    outcomes = LocalProcesses(jobs=2, gpus_per_lane=0, threads=1).run(lanes(exp.cells), files, lines.append)
    assert [o["ok"] for o in outcomes] == [True, True], outcomes
    assert lines[0] == "--jobs 2: 2 lane(s) at once, 1 CPU thread(s) each"
    # each finished cell is reported once, and the lanes' own step lines are forwarded
    finished = sorted(line for line in lines if line.startswith("["))
    assert [line.split(":")[0] for line in finished] == ["[1/2] toy__base__seed_0", "[2/2] toy__base__seed_1"] or \
        [line.split(":")[0] for line in finished] == ["[1/2] toy__base__seed_1", "[2/2] toy__base__seed_0"]
    assert all(line.endswith("(1 CPU thread(s))") for line in finished)
    assert any(" · iter 0 · eval: " in line for line in lines)
    for cell in exp.cells:
        log = cell_results_path(cell).with_name("reproduce.log").read_text(encoding="utf-8")
        assert f"seed {cell.seed} · iter 0 · eval" in log and "selfsynth-lane-outcome" not in log
        manifest = json.loads((cell_unit(cell) / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["torch_threads"] == 1
        assert json.loads(cell_results_path(cell).read_text(encoding="utf-8"))["iterations"][0]["metrics"]["accuracy"] is not None


def test_a_lane_process_that_dies_fails_the_cells_it_did_not_finish(tmp_path, monkeypatch):
    exp = experiment(tmp_path, methods=["base", "nl"], seeds=[0])
    files = write_cell_files(exp)
    [lane] = lanes(exp.cells)
    first = outcome_line({"cell": str(files[lane[0].id]), "ok": True, "seconds": 2.0})
    script = f"import sys; print('working on it', flush=True); print({first!r}, flush=True); print('then it dies'); sys.exit(3)"
    real_popen = subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen", lambda command, **kw: real_popen([sys.executable, "-c", script], **kw))
    reported: list[dict] = []
    lines: list[str] = []
    outcomes = _lane_subprocess(lane, files, {}, lines.append, reported.append)
    assert [o["ok"] for o in outcomes] == [True, False]
    assert outcomes[1]["error"] == "the lane process exited with 3 before this cell finished"
    assert reported == outcomes
    logs = [cell_results_path(cell).with_name("reproduce.log").read_text(encoding="utf-8") for cell in lane]
    assert logs == ["working on it\n", "then it dies\n"]
    assert lines == ["working on it", "then it dies"]
