"""The cluster path on a real single-node Slurm (munged + slurmctld + slurmd on this machine,
started by .ci/slurm_up.sh for the session and stopped after it): `reproduce --launcher slurm`
end to end, lanes as one job array, extras after their lanes, requeue resuming from the run store.
Skipped, with the reason, where this machine cannot host Slurm (not root, no apt-get)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.fixtures_toy import answers

REPO = Path(__file__).resolve().parents[1]
CLUSTER_TOY = REPO / "tests" / "experiments" / "cluster_toy.yaml"


def wait_for_text(path: Path, text: str, timeout: float = 60) -> str:
    """The file's content once it holds ``text``: a job's log is flushed when its process exits,
    a moment after submitit already sees the job's result."""
    deadline = time.time() + timeout
    while True:
        content = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        if text in content:
            return content
        assert time.time() < deadline, f"{path}: no {text!r} after {timeout} s:\n{content[-2000:]}"
        time.sleep(0.2)


def _pids(state: Path) -> set[str]:
    started = state / "started"
    return {line.split()[1] for line in started.read_text().splitlines() if line.strip()} if started.is_file() else set()


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A running single-node Slurm; yields its state folder (logs). Stops the daemons this
    session started, not those that were already running."""
    state = Path(os.environ.get("SLURM_STATE", "/tmp/selfsynth-slurm"))
    before = _pids(state)
    up = subprocess.run([str(REPO / ".ci" / "slurm_up.sh")], capture_output=True, text=True, timeout=600)
    if up.returncode == 3:
        pytest.skip(f"no Slurm here: {up.stderr.strip()}")
    assert up.returncode == 0, f"slurm_up failed: {up.stderr.strip()}"
    started = sorted(_pids(state) - before)
    yield state
    if started:
        subprocess.run([str(REPO / ".ci" / "slurm_down.sh"), *started], capture_output=True, text=True, timeout=120)


def test_slurm_runs_a_job_array(slurm, tmp_path):
    import submitit

    executor = submitit.AutoExecutor(folder=str(tmp_path / "jobs" / "%j"), cluster="slurm")
    executor.update_parameters(timeout_min=5, cpus_per_task=1, mem_gb=1, name="selfsynth-smoke")
    jobs = executor.map_array(pow, [2, 3, 4], [2, 2, 2])
    assert [job.result() for job in jobs] == [4, 9, 16]
    array = {job.job_id.split("_")[0] for job in jobs}
    assert len(array) == 1  # one array, three tasks
    assert sorted(job.job_id for job in jobs) == [f"{next(iter(array))}_{i}" for i in range(3)]
    for job in jobs:  # Slurm ran each task under its own id and wrote its log where submitit asked
        log = wait_for_text(Path(job.paths.stdout), "Exiting after successful completion")
        assert f"JobEnvironment(job_id={job.job_id}," in log


def experiment(tmp_path: Path, name: str, **changes) -> Path:
    """tests/experiments/cluster_toy.yaml with ``changes``, its toy world by absolute path."""
    data = yaml.safe_load(CLUSTER_TOY.read_text(encoding="utf-8"))
    data.update(name=name, **changes)
    data["overrides"]["toy_cache"] = str(REPO / ".cache" / "toy")
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def reproduce_cli(*args: str, wait: bool = True) -> subprocess.CompletedProcess | subprocess.Popen:
    command = [sys.executable, "-m", "selfsynth", "reproduce", *args]
    env = dict(os.environ, TQDM_DISABLE="1")
    if wait:
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_reproduce_through_slurm_matches_the_local_launcher(slurm, tmp_path, toy_world):
    """tests/experiments/cluster_toy.yaml through slurmctld/slurmd: two lanes as one job array,
    each seed's selection evaluation a job after its lane, Tables 1 and 13 written; the answers
    are the local launcher's, sample for sample."""
    local = reproduce_cli(str(experiment(tmp_path, "local", select_encoders=[], tables=["1"])), "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr[-3000:]
    out = tmp_path / "slurm"
    done = reproduce_cli(str(CLUSTER_TOY), "--launcher", "slurm", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    tables = out / "experiments" / "cluster-toy"
    assert {p.name for p in tables.glob("table*.json")} == {"table1.json", "table13.json"}
    assert json.loads((tables / "table13.json").read_text())["rows"]  # the extras' output made it to the table
    assert answers(local_out := tmp_path / "local") and answers(out) == answers(local_out)
    # the jobs Slurm ran: an array of two lanes and one extra job per seed after its lane's task
    array = re.search(r"lane\(s\) as array job (\d+)", done.stderr).group(1)
    assert sorted(re.findall(r"select-eval:toy__seed_(\d) as job \d+ after lane job", done.stderr)) == ["0", "1"]
    for seed, job in re.findall(r"select-eval:toy__seed_(\d) as job (\d+) after", done.stderr):
        script = (out / "jobs" / job / f"{job}_submission.sh").read_text()
        assert f"--dependency=afterok:{array}_{seed}" in script and "--kill-on-invalid-dep=yes" in script
        log = wait_for_text(out / "jobs" / job / f"{job}_0_log.out", "Exiting after successful completion")
        assert f"select-eval toy seed {seed}" in (out / "jobs" / job / f"{job}_0_log.err").read_text() + log
    for task in ("0", "1"):
        log = wait_for_text(out / "jobs" / f"{array}_{task}" / f"{array}_{task}_0_log.out", "Exiting after successful completion")
        assert f"JobEnvironment(job_id={array}_{task}," in log
    controller = (slurm / "log" / "slurmctld.log").read_text(errors="replace")
    assert f"JobId={array}_0" in controller and f"JobId={array}_1" in controller


@pytest.mark.slow
def test_a_preempted_lane_is_requeued_and_resumes_from_the_run_store(slurm, tmp_path, toy_world):
    """A lane (base, then nl) is signalled as Slurm signals a preemption once base has finished:
    submitit checkpoints it, Slurm requeues it, and the second attempt reuses base's steps."""
    out = tmp_path / "requeue"
    path = experiment(tmp_path, "requeue", methods=["base", "nl"], seeds=[0], iterations=1, select_encoders=[], tables=["1"])
    proc = reproduce_cli(str(path), "--launcher", "slurm", "--out", str(out), wait=False)
    base = out / "default" / "toy" / "base" / "seed_0"
    deadline = time.time() + 600
    while not (base / "results.json").is_file():
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        assert time.time() < deadline, "base never finished"
        time.sleep(0.5)
    job = next(p.name for p in (out / "jobs").iterdir() if p.is_dir())
    subprocess.run(["scancel", "--signal=USR2", job], check=True, timeout=60)
    output, _ = proc.communicate(timeout=1200)
    assert proc.returncode == 0, output[-3000:]
    log = (out / "jobs" / job / f"{job}_0_log.out").read_text()
    assert "this job is preempted" in log + (out / "jobs" / job / f"{job}_0_log.err").read_text()
    assert "Calling checkpoint method" in log and f"Requeued job {job}" in log
    assert log.count(f"Starting with JobEnvironment(job_id={job},") == 2  # the first attempt and the requeued one
    manifest = json.loads((base / "manifest.json").read_text())
    assert manifest["resumed"] == 1  # base ran once more on the requeued attempt: every step reused
    results = json.loads((base / "results.json").read_text())
    assert results["invocation"]["computed"] == [] and results["invocation"]["reused"]
    nl = json.loads((out / "default" / "toy" / "nl" / "seed_0" / "results.json").read_text())
    assert len(nl["iterations"]) == 2
    assert (out / "experiments" / "requeue" / "table1.json").is_file()
