"""Launch plumbing without a cluster: which GPUs each lane gets (the inherited mask is divided,
never replaced; --jobs is honoured), the accelerate command of a multi-GPU lane, cell configs
frozen per experiment, the lane time limit, and the job dependencies of the extras."""
from __future__ import annotations

import dataclasses
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from selfsynth.errors import UserError
from selfsynth.experiment import load_experiment, write_cell_files
from selfsynth.experiment.launch import (
    LaneJob, LocalProcesses, cell_command, gpu_slots, lane_environment, lane_threads, lane_time_min, pending_extras,
    visible_gpus,
)

REPO = Path(__file__).resolve().parents[1]
CLUSTER_TOY = REPO / "tests" / "experiments" / "cluster_toy.yaml"


@pytest.mark.parametrize(("environ", "count", "expected"), [
    ({"CUDA_VISIBLE_DEVICES": "4,5,6"}, 8, ["4", "5", "6"]),  # an inherited mask wins over the device count
    ({"CUDA_VISIBLE_DEVICES": "GPU-aa,GPU-bb"}, 8, ["GPU-aa", "GPU-bb"]),  # UUIDs stay as they are
    ({"CUDA_VISIBLE_DEVICES": "2,-1,3"}, 8, ["2"]),  # CUDA ignores what follows an invalid entry
    ({"CUDA_VISIBLE_DEVICES": ""}, 8, []),  # everything hidden
    ({}, 3, ["0", "1", "2"]),
    ({}, 0, []),
])
def test_visible_gpus(environ, count, expected):
    assert visible_gpus(environ, lambda: count) == expected


@pytest.mark.parametrize(("visible", "jobs", "per_lane", "expected"), [
    (["4", "5", "6", "7"], 2, 1, ["4", "5"]),  # --jobs 2: two lanes at once, from the inherited mask
    (["4", "5", "6", "7"], 8, 1, ["4", "5", "6", "7"]),  # more jobs than GPUs: one lane per GPU
    (["4", "5", "6", "7"], 8, 2, ["4,5", "6,7"]),  # 2 GPUs per lane, never shared
    (["4", "5", "6"], 8, 2, ["4,5"]),
    ([], 3, 1, [None, None, None]),  # no GPU: --jobs CPU lanes, environment untouched
    (["0", "1"], 2, 0, [None, None]),  # lanes that use no GPU
])
def test_gpu_slots(visible, jobs, per_lane, expected):
    slots = gpu_slots(visible, jobs, per_lane)
    assert slots == expected
    handed = [gpu for slot in slots if slot for gpu in slot.split(",")]
    assert len(handed) == len(set(handed)) and set(handed) <= set(visible)


def test_gpu_slots_refuse_a_lane_larger_than_the_mask():
    with pytest.raises(UserError, match="gpus_per_cell 4: only 2 GPU"):
        gpu_slots(["0", "1"], 1, 4)


def test_cell_command_uses_accelerate_for_several_gpus():
    assert cell_command("c.yaml", 1) == [sys.executable, "-m", "selfsynth", "run", "--config", "c.yaml"]
    command = cell_command("c.yaml", 4, port=29600)
    assert command[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert command[command.index("--num_processes") + 1] == "4" and "--multi_gpu" in command
    assert command[command.index("--main_process_port") + 1] == "29600"
    # the module accelerate starts is our CLI, one process per GPU
    assert command[command.index("--main_process_port") + 2:] == ["-m", "selfsynth", "run", "--config", "c.yaml"]


def test_accelerate_launch_command_is_valid():
    """accelerate's own parser accepts the command (its flags and the -m module form)."""
    from accelerate.commands.launch import launch_command_parser

    command = cell_command("c.yaml", 2, port=29600)
    args = launch_command_parser().parse_args(command[3:])
    assert args.num_processes == 2 and args.multi_gpu and args.module
    assert args.training_script == "selfsynth" and args.training_script_args == ["run", "--config", "c.yaml"]


def test_lane_job_sets_its_mask_and_is_requeueable(monkeypatch):
    import selfsynth.experiment.launch as launch

    seen = {}
    monkeypatch.setattr(launch, "run_lane", lambda files, gpus: seen.update(mask=launch.os.environ["CUDA_VISIBLE_DEVICES"], gpus=gpus) or [])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    job = LaneJob(2, "6,7")
    assert job(["a.yaml"]) == [] and seen == {"mask": "6,7", "gpus": 2}
    again = job.checkpoint(["a.yaml"])  # what submitit resubmits on a timeout or a preemption
    assert again.function is job and again.args == (["a.yaml"],)


def experiment_file(tmp_path: Path, name: str, **changes) -> Path:
    data = yaml.safe_load(CLUSTER_TOY.read_text(encoding="utf-8"))
    data.update(name=name, out=str(tmp_path / "runs"), **changes)
    data["overrides"]["toy_cache"] = str(REPO / ".cache" / "toy")
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_local_jobs_divide_the_inherited_mask(tmp_path, monkeypatch):
    """--jobs 2 under CUDA_VISIBLE_DEVICES=5,7 with 4 lanes: two at a time, each on one of 5 and 7;
    a GPU lane keeps torch's default thread count."""
    import selfsynth.experiment.launch as launch

    experiment = load_experiment(experiment_file(tmp_path, "jobs", seeds=[0, 1, 2, 3]))
    files = write_cell_files(experiment)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    lock, running, peak, masks, threads = threading.Lock(), [0], [0], [], []

    def fake_lane(cells, files, env, progress, report):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            masks.append(env["CUDA_VISIBLE_DEVICES"])
            threads.append(env.get("OMP_NUM_THREADS"))
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return [{"cell": cell.id, "ok": True, "log": "x"} for cell in cells]

    monkeypatch.setattr(launch, "_lane_subprocess", fake_lane)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    outcomes = LocalProcesses(jobs=2).run(launch.lanes(experiment.cells), files, progress=lambda line: None)
    assert [o["ok"] for o in outcomes] == [True] * 4
    assert peak[0] == 2 and sorted(masks) == ["5", "5", "7", "7"]
    assert threads == [None] * 4


@pytest.mark.parametrize(("jobs", "threads", "slots", "environ", "cores", "expected"), [
    (3, None, [None, None, None], {}, 2, 1),  # 3 CPU lanes on 2 cores: one thread each, never 0
    (2, None, [None, None], {}, 16, 8),  # the cores divided among the lanes
    (1, None, [None], {}, 16, None),  # one lane: torch's default
    (2, None, ["0", "1"], {}, 16, None),  # GPU lanes: torch's default
    (2, None, [None, None], {"OMP_NUM_THREADS": "3"}, 16, None),  # the user's setting is inherited
    (2, 5, [None, None], {"OMP_NUM_THREADS": "3"}, 16, 5),  # --threads wins
])
def test_lane_threads(jobs, threads, slots, environ, cores, expected):
    assert lane_threads(jobs, threads, slots, environ, cores) == expected


def test_lane_environment_sets_threads_and_mask(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    env = lane_environment("3", 2)
    assert env["CUDA_VISIBLE_DEVICES"] == "3" and env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "2"
    assert env["TQDM_DISABLE"] == "1" and env["PYTHONUNBUFFERED"] == "1"
    assert "OMP_NUM_THREADS" not in lane_environment(None, None)


def test_threads_only_with_the_local_launcher(tmp_path, capsys):
    from selfsynth.cli import main

    code = main(["reproduce", str(experiment_file(tmp_path, "threads")), "--launcher", "slurm", "--threads", "2"])
    assert code == 2
    assert "--threads applies to --launcher local" in capsys.readouterr().err
    assert main(["reproduce", str(experiment_file(tmp_path, "threads")), "--threads", "0"]) == 2


def test_cell_configs_are_frozen_per_experiment(tmp_path):
    """Two experiments under one out with the same cell id but other settings keep their own
    cell files: writing one never changes what the other's lanes read."""
    first = load_experiment(experiment_file(tmp_path, "first"))
    second = load_experiment(experiment_file(tmp_path, "second", overrides={"toy_cache": str(REPO / ".cache" / "toy"), "limit": 4}))
    a, b = write_cell_files(first), write_cell_files(second)
    cell = "toy__base__seed_0"
    assert a[cell] != b[cell]
    assert a[cell].parent == tmp_path / "runs" / "experiments" / "first" / "cells"
    assert yaml.safe_load(a[cell].read_text())["limit"] == 6 and yaml.safe_load(b[cell].read_text())["limit"] == 4


def test_lane_time_limit(tmp_path):
    experiment = load_experiment(experiment_file(tmp_path, "limits"))
    assert lane_time_min(experiment) == 15  # set in the file
    unset = dataclasses.replace(experiment, config=dataclasses.replace(
        experiment.config, slurm=dataclasses.replace(experiment.config.slurm, time_min=None)))
    assert lane_time_min(unset) == 24 * 60  # no throughputs: a day
    fast = dataclasses.replace(unset, config=dataclasses.replace(unset.config, cost=dataclasses.replace(
        unset.config.cost, gen_tokens_per_s=10.0, train_tokens_per_s=1000.0)))
    from selfsynth.experiment.cost import lane_hours

    hours = lane_hours(fast)
    assert set(hours) == {("toy", 0), ("toy", 1)} and all(h > 0 for h in hours.values())
    assert lane_time_min(fast) == int(max(hours.values()) * 60 * 1.5) + 10


def test_extras_depend_on_their_lanes(tmp_path):
    experiment = load_experiment(experiment_file(tmp_path, "extras"))
    extras = pending_extras(experiment)
    assert [(label, lane) for label, lane, _ in extras] == [
        ("select-eval:toy__seed_0", ("toy", 0)), ("select-eval:toy__seed_1", ("toy", 1))]
    assert all(len(one.selection) == 1 and one.selection[0].lane == lane for _, lane, one in extras)


@pytest.mark.slow
def test_a_stored_transfer_is_not_submitted_again(tmp_path, toy_world):
    """A transfer evaluation becomes a job until the store holds it; then it is skipped."""
    path = experiment_file(tmp_path, "transfer", methods=["ours"], iterations=1, select_encoders=[], seeds=[0],
                           transfer=[{"train_task": "toy", "eval_task": "toy", "method": "ours"}], tables=["transfer"],
                           overrides={"toy_cache": str(REPO / ".cache" / "toy"), "limit": 2})
    experiment = load_experiment(path)
    assert [label for label, _, _ in pending_extras(experiment)] == ["transfer:toy__ours__seed_0->toy"]
    from selfsynth.experiment import reproduce

    assert not reproduce(path, progress=lambda line: None)["failed"]
    assert pending_extras(load_experiment(path)) == []
