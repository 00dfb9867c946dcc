"""Running an experiment's unfinished cells. Cells of one (task, seed) form a *lane*, run in order
because they share method-independent synthesis files (descriptions, selection); lanes are
independent. A ``Launcher`` takes the lanes and returns one outcome per cell; ``make_launcher``
picks one from ``reproduce --launcher`` / ``--jobs``:

- ``InProcess``: every cell in this process, one after another (``local``, one job);
- ``LocalProcesses``: lanes in parallel, each a ``selfsynth run`` subprocess on its own GPU
  (``local`` with ``--jobs N``);
- ``Submitit``: one submitit job per lane, on Slurm or submitit's local executor.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Protocol, Sequence

from selfsynth.experiment.cells import cell_done, cell_results_path, write_cell_files
from selfsynth.experiment.spec import Cell, Experiment, SlurmSettings

LauncherKind = Literal["local", "slurm", "submitit_local"]
Progress = Callable[[str], None]
Outcome = dict[str, Any]  # {cell, ok, error?, log, seconds?}


class Launcher(Protocol):
    def run(self, groups: list[list[Cell]], files: dict[str, Path], progress: Progress) -> list[Outcome]:
        """Run every lane (cells in order within a lane); one outcome per cell."""
        ...


def run_lane(cell_files: Sequence[str]) -> list[Outcome]:
    """Run cells one after another in this process (the body of a Slurm / local job). A failed
    cell is recorded and the lane goes on."""
    from selfsynth.api import resolve_run_config
    from selfsynth.api import run as run_cell

    outcomes = []
    for path in cell_files:
        started = time.time()
        try:
            run_cell(resolve_run_config(path))
            outcomes.append({"cell": path, "ok": True, "seconds": round(time.time() - started, 1)})
        except Exception as exc:  # noqa: BLE001 - one cell's failure must not stop the others
            outcomes.append({"cell": path, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
    return outcomes


def lanes(cells: Sequence[Cell]) -> list[list[Cell]]:
    grouped: dict[tuple[str, int], list[Cell]] = {}
    for cell in cells:
        grouped.setdefault(cell.lane, []).append(cell)
    return list(grouped.values())


def _with_logs(outcomes: list[Outcome], cells: Sequence[Cell]) -> list[Outcome]:
    for outcome, cell in zip(outcomes, cells):
        outcome["cell"] = cell.id
        outcome["log"] = str(cell_results_path(cell).with_name("run.log"))
    return outcomes


@dataclass
class InProcess:
    """Every cell in this process, lane after lane."""

    def run(self, groups: list[list[Cell]], files: dict[str, Path], progress: Progress) -> list[Outcome]:
        cells = [cell for group in groups for cell in group]
        outcomes: list[Outcome] = []
        for index, cell in enumerate(cells, 1):
            progress(f"[{index}/{len(cells)}] {cell.task}/{cell.method}/seed {cell.seed}")
            outcomes += _with_logs(run_lane([str(files[cell.id])]), [cell])
        return outcomes


@dataclass
class LocalProcesses:
    """Lanes in parallel, ``jobs`` at a time, each its own process on one GPU (CUDA_VISIBLE_DEVICES)."""

    jobs: int

    def run(self, groups: list[list[Cell]], files: dict[str, Path], progress: Progress) -> list[Outcome]:
        import queue
        from concurrent.futures import ThreadPoolExecutor

        gpus: queue.Queue[int] = queue.Queue()
        for index in range(self.jobs):
            gpus.put(index)

        def lane_job(cells: list[Cell]) -> list[Outcome]:
            gpu = gpus.get()
            try:
                results = []
                for cell in cells:
                    log = cell_results_path(cell).with_name("reproduce.log")
                    log.parent.mkdir(parents=True, exist_ok=True)
                    env = dict(os.environ, CUDA_VISIBLE_DEVICES=str(gpu), TQDM_DISABLE="1")
                    with open(log, "w", encoding="utf-8") as handle:
                        proc = subprocess.run([sys.executable, "-m", "selfsynth", "run", "--config", str(files[cell.id])],
                                              stdout=handle, stderr=subprocess.STDOUT, env=env, check=False)
                    ok = proc.returncode == 0
                    results.append({"cell": cell.id, "ok": ok, "log": str(log), **({} if ok else {"error": f"exit {proc.returncode}"})})
                    progress(f"{cell.id}: {'done' if ok else 'FAILED, log ' + str(log)} (gpu slot {gpu})")
                return results
            finally:
                gpus.put(gpu)

        outcomes: list[Outcome] = []
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            for result in pool.map(lane_job, groups):
                outcomes += result
        return outcomes


@dataclass
class Submitit:
    """One submitit job per lane: Slurm, or submitit's local executor (separate processes on this
    machine, the same code path). Followed with one progress line until every job ends."""

    cluster: Literal["slurm", "local"]
    folder: Path  # submitit's job folder (``%j`` is the job id)
    slurm: SlurmSettings
    job_name: str

    def run(self, groups: list[list[Cell]], files: dict[str, Path], progress: Progress) -> list[Outcome]:
        import submitit

        executor = submitit.AutoExecutor(folder=str(self.folder), cluster=self.cluster)
        if self.cluster == "slurm":
            slurm = self.slurm
            params: dict[str, Any] = {"timeout_min": slurm.time_min, "gpus_per_node": slurm.gpus_per_cell,
                                      "cpus_per_task": slurm.cpus_per_cell, "mem_gb": slurm.mem_gb, "name": self.job_name}
            if slurm.partition:
                params["slurm_partition"] = slurm.partition
            if slurm.account:
                params["slurm_account"] = slurm.account
            executor.update_parameters(**params)
        else:
            executor.update_parameters(timeout_min=self.slurm.time_min)
        label = "slurm" if self.cluster == "slurm" else "submitit_local"
        submitted = [(cells, executor.submit(run_lane, [str(files[c.id]) for c in cells])) for cells in groups]
        last = ""
        while True:
            states = [job.done() for _, job in submitted]
            line = f"{label}: {sum(states)}/{len(states)} lane jobs finished"
            if line != last:
                progress(line)
                last = line
            if all(states):
                break
            time.sleep(2)
        outcomes: list[Outcome] = []
        for cells, job in submitted:
            try:
                outcomes += _with_logs(job.result(), cells)
            except Exception as exc:  # noqa: BLE001 - a lost job is reported with its log; the rest go on
                for cell in cells:
                    outcomes.append({"cell": cell.id, "ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}",
                                     "log": str(job.paths.stderr)})
        return outcomes


def make_launcher(kind: LauncherKind, experiment: Experiment, jobs: int = 1) -> Launcher:
    if kind == "local":
        return InProcess() if jobs <= 1 else LocalProcesses(jobs)
    return Submitit(cluster="slurm" if kind == "slurm" else "local", folder=experiment.out.resolve() / "jobs" / "%j",
                    slurm=experiment.config.slurm, job_name=f"selfsynth-{experiment.config.name}")


def run_cells(experiment: Experiment, launcher: LauncherKind = "local", jobs: int = 1,
              progress: Progress | None = None) -> list[Outcome]:
    """Run every unfinished cell; returns one outcome per cell run ({cell, ok, error?, log})."""
    progress = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    files = write_cell_files(experiment)
    todo = [c for c in experiment.cells if not cell_done(c)]
    done = len(experiment.cells) - len(todo)
    progress(f"reproduce {experiment.config.name}: {len(experiment.cells)} cells, {done} done, {len(todo)} to run ({launcher})")
    if not todo:
        return []
    return make_launcher(launcher, experiment, jobs).run(lanes(todo), files, progress)
