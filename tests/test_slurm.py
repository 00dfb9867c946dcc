"""The cluster path on a real single-node Slurm (munged + slurmctld + slurmd on this machine,
started by .ci/slurm_up.sh for the session and stopped after it): `reproduce --launcher slurm`
end to end, lanes as one job array, extras after their lanes, requeue resuming from the run store.
Skipped, with the reason, where this machine cannot host Slurm (not root, no apt-get)."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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
