"""Running an experiment's unfinished cells. Cells of one (task, seed) form a *lane*, run in order
because they share method-independent synthesis files (descriptions, selection); lanes are
independent. A ``Launcher`` takes the lanes and returns one outcome per cell; ``make_launcher``
picks one from ``reproduce --launcher`` / ``--jobs``:

- ``InProcess``: every cell in this process, one after another (``local``, one job);
- ``LocalProcesses``: lanes in parallel, at most ``--jobs`` at once, each a process on its own
  GPUs taken from the visible ones, or on its share of the CPU cores (``local`` with ``--jobs N``);
- ``SubmititLocal``: the same through submitit's local executor (separate processes, the job
  code path of Slurm);
- ``Slurm``: the lanes as one job array, the extra evaluations (Table 13's selection evaluation,
  transfer) as jobs that start after their lanes succeeded (``afterok``). A job that reaches its
  time limit or is preempted is requeued by submitit and resumes from the run store.

A lane with ``slurm.gpus_per_cell`` > 1 GPUs runs each cell under ``accelerate launch`` (data-
parallel training and sharded generation, see ``selfsynth.train``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Protocol, Sequence

from selfsynth.errors import UserError
from selfsynth.experiment.cells import cell_done, cell_results_path, selection_path, write_cell_files
from selfsynth.experiment.spec import Cell, Experiment, SlurmSettings

LauncherKind = Literal["local", "slurm", "submitit_local"]
Progress = Callable[[str], None]
Outcome = dict[str, Any]  # {cell, ok, error?, log, seconds?}
MAX_TIMEOUTS = 20  # requeues after a time limit (each resumes from the run store); preemptions are not counted
POLL_S = 2.0


class Launcher(Protocol):
    def run(self, groups: list[list[Cell]], files: dict[str, Path], progress: Progress) -> list[Outcome]:
        """Run every lane (cells in order within a lane); one outcome per cell."""
        ...


# -- GPUs -------------------------------------------------------------------------------------------
def visible_gpus(environ: dict[str, str] | None = None, device_count: Callable[[], int] | None = None) -> list[str]:
    """The GPUs this process may hand out, as ``CUDA_VISIBLE_DEVICES`` entries: the inherited mask
    when one is set (indices or UUIDs, kept as they are), else every device CUDA sees."""
    environ = os.environ if environ is None else environ
    mask = environ.get("CUDA_VISIBLE_DEVICES")
    if mask is not None:
        entries = [entry.strip() for entry in mask.split(",") if entry.strip()]
        # CUDA stops at the first invalid entry (e.g. -1): what follows it is not visible either
        valid = []
        for entry in entries:
            if entry.startswith("-"):
                break
            valid.append(entry)
        return valid
    if device_count is None:
        def device_count() -> int:
            try:
                import torch

                return torch.cuda.device_count()
            except Exception:  # noqa: BLE001 - no torch or no driver: no GPU
                return 0
    return [str(i) for i in range(device_count())]


def gpu_slots(visible: Sequence[str], jobs: int, per_lane: int) -> list[str | None]:
    """The ``CUDA_VISIBLE_DEVICES`` of each lane that may run at once: up to ``jobs`` slots of
    ``per_lane`` GPUs each, taken in order from ``visible`` and never shared; None slots (the
    inherited environment, no GPU to hand out) when no GPU is visible or lanes use none."""
    if jobs < 1:
        raise UserError(f"--jobs {jobs}: expected a positive number")
    if per_lane == 0 or not visible:
        return [None] * jobs
    fits = len(visible) // per_lane
    if fits == 0:
        raise UserError(f"slurm.gpus_per_cell {per_lane}: only {len(visible)} GPU(s) visible ({','.join(visible)})")
    return [",".join(visible[i * per_lane:(i + 1) * per_lane]) for i in range(min(jobs, fits))]


def cell_command(cell_file: str | Path, gpus: int = 1, port: int | None = None) -> list[str]:
    """The command that runs one cell: ``selfsynth run --config FILE``, under ``accelerate launch``
    with one process per GPU when the lane has more than one."""
    run = ["-m", "selfsynth", "run", "--config", str(cell_file)]
    if gpus <= 1:
        return [sys.executable, *run]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "1",
              "--num_processes", str(gpus)]
    if port is not None:  # lanes sharing a node each need their own rendezvous port
        launch += ["--main_process_port", str(port)]
    return [*launch, *run]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- a lane ---------------------------------------------------------------------------------------
def run_lane(cell_files: Sequence[str], gpus: int = 1) -> list[Outcome]:
    """Run cells one after another (the body of a Slurm / local job): in this process, or each
    under ``accelerate launch`` when the lane has ``gpus`` > 1. A failed cell is recorded and the
    lane goes on."""
    from selfsynth.api import resolve_run_config
    from selfsynth.api import run as run_cell

    outcomes = []
    for path in cell_files:
        started = time.time()
        try:
            if gpus > 1:
                code = subprocess.run(cell_command(path, gpus, _free_port()), check=False).returncode
                if code != 0:
                    raise RuntimeError(f"accelerate launch exited with {code}")
            else:
                run_cell(resolve_run_config(path))
            outcomes.append({"cell": path, "ok": True, "seconds": round(time.time() - started, 1)})
        except Exception as exc:  # noqa: BLE001 - one cell's failure must not stop the others
            outcomes.append({"cell": path, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
    return outcomes


class LaneJob:
    """A lane as a submitit job. ``checkpoint`` makes it requeueable: on a time limit or a
    preemption submitit resubmits it unchanged, and the rerun skips what the run store holds."""

    def __init__(self, gpus: int = 1, mask: str | None = None):
        self.gpus = gpus
        self.mask = mask  # CUDA_VISIBLE_DEVICES for local jobs; Slurm sets it from the allocation

    def __call__(self, cell_files: Sequence[str]) -> list[Outcome]:
        if self.mask is not None:  # before anything imports torch
            os.environ["CUDA_VISIBLE_DEVICES"] = self.mask
        return run_lane(cell_files, self.gpus)

    def checkpoint(self, cell_files: Sequence[str]) -> Any:
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, cell_files)


class ExtrasJob:
    """Extra evaluations of a one-item experiment (see ``pending_extras``) as a submitit job;
    requeueable like ``LaneJob`` (a stored evaluation is skipped)."""

    def __call__(self, experiment: Experiment) -> list[Outcome]:
        from selfsynth.experiment.cells import run_extras

        run_extras(experiment, lambda line: print(line, file=sys.stderr, flush=True))
        return []

    def checkpoint(self, experiment: Experiment) -> Any:
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, experiment)


def lanes(cells: Sequence[Cell]) -> list[list[Cell]]:
    grouped: dict[tuple[str, int], list[Cell]] = {}
    for cell in cells:
        grouped.setdefault(cell.lane, []).append(cell)
    return list(grouped.values())


def pending_extras(experiment: Experiment) -> list[tuple[str, tuple[str, int], Experiment]]:
    """(label, the lane it needs, a one-item experiment ``run_extras`` completes) for each
    selection evaluation and transfer evaluation not stored yet."""
    import json

    found = []
    encoders = set(experiment.config.select_encoders)
    for cell in experiment.selection:
        path = selection_path(cell)
        if path.is_file() and set(json.loads(path.read_text(encoding="utf-8")).get("encoders", {})) >= encoders:
            continue
        found.append((f"select-eval:{cell.task}__seed_{cell.seed}", cell.lane,
                      dataclasses.replace(experiment, selection=[cell], transfer=[])))
    for item in experiment.transfer:
        for seed in experiment.config.seeds:
            if _transfer_stored(experiment, item, seed):
                continue  # (run_extras checks its config when the job runs)
            one = dataclasses.replace(experiment, selection=[], transfer=[item],
                                      config=dataclasses.replace(experiment.config, seeds=[seed]))
            found.append((f"transfer:{item.train_task}__{item.method}__seed_{seed}->{item.eval_task}", (item.train_task, seed), one))
    return found


def _transfer_stored(experiment: Experiment, item: Any, seed: int) -> bool:
    """An evaluation is stored in the transfer folder of a finished source cell."""
    from selfsynth import results
    from selfsynth.experiment.cells import cell_unit

    source = next((c for c in experiment.cells if c.task == item.train_task and c.method == item.method and c.seed == seed), None)
    if source is None or not cell_done(source):
        return False
    run = results.read_run(cell_unit(source))
    return run is not None and results.read_eval_optional(run.transfer_folder(item.eval_task)) is not None


def _with_logs(outcomes: list[Outcome], cells: Sequence[Cell]) -> list[Outcome]:
    for outcome, cell in zip(outcomes, cells):
        outcome["cell"] = cell.id
        outcome["log"] = str(cell_results_path(cell).with_name("run.log"))
    return outcomes


# -- launchers ------------------------------------------------------------------------------------
@dataclass
class InProcess:
    """Every cell in this process, lane after lane; with ``threads``, torch uses that many CPU
    threads while the cells run."""

    threads: int | None = None

    def run(self, groups: list[list[Cell]], files: dict[str, Path], progress: Progress) -> list[Outcome]:
        cells = [cell for group in groups for cell in group]
        outcomes: list[Outcome] = []
        with _torch_threads(self.threads):
            for index, cell in enumerate(cells, 1):
                progress(f"[{index}/{len(cells)}] {cell.task}/{cell.method}/seed {cell.seed}")
                outcomes += _with_logs(run_lane([str(files[cell.id])]), [cell])
        return outcomes


@contextlib.contextmanager
def _torch_threads(threads: int | None):
    if threads is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class LocalProcesses:
    """Lanes in parallel, at most ``jobs`` at once, each on its own GPUs (see ``gpu_slots``).

    A lane with at most one GPU is one process (``selfsynth.experiment.lane``) that runs its cells
    in order; a lane with several GPUs runs each cell under ``accelerate launch``. CPU lanes share
    the machine's cores: each gets ``threads`` torch threads (``lane_threads``), so that lanes do
    not oversubscribe the cores with one full-width thread pool each."""

    jobs: int
    gpus_per_lane: int = 1
    threads: int | None = None

    def run(self, groups: list[list[Cell]], files: dict[str, Path], progress: Progress) -> list[Outcome]:
        import queue
        import threading
        from concurrent.futures import ThreadPoolExecutor

        slots = gpu_slots(visible_gpus(), self.jobs, self.gpus_per_lane)
        threads = lane_threads(self.jobs, self.threads, slots)
        where = f"{len(slots)} lane(s) at once"
        if threads is not None:
            where += f", {threads} CPU thread(s) each"
        if len(slots) < self.jobs:
            where += f" ({self.gpus_per_lane} GPU(s) each of the visible ones)"
        progress(f"--jobs {self.jobs}: {where}")
        free: queue.Queue[str | None] = queue.Queue()
        for slot in slots:
            free.put(slot)
        total = sum(len(group) for group in groups)
        finished, lock = [0], threading.Lock()

        def report(outcome: Outcome, mask: str | None) -> None:
            with lock:
                finished[0] += 1
                count = finished[0]
            gpu = f"GPU {mask}" if mask else (f"{threads} CPU thread(s)" if threads is not None else "no GPU assigned")
            seconds = f" in {outcome['seconds']:.0f} s" if isinstance(outcome.get("seconds"), (int, float)) else ""
            state = f"done{seconds}" if outcome["ok"] else f"FAILED, log {outcome['log']}"
            progress(f"[{count}/{total}] {outcome['cell']}: {state} ({gpu})")

        def lane_job(cells: list[Cell]) -> list[Outcome]:
            mask = free.get()
            try:
                env = lane_environment(mask, threads)
                gpus = len(mask.split(",")) if mask else 1
                if gpus <= 1:
                    return _lane_subprocess(cells, files, env, progress, lambda o: report(o, mask))
                results = []
                for cell in cells:
                    log = cell_results_path(cell).with_name("reproduce.log")
                    log.parent.mkdir(parents=True, exist_ok=True)
                    with open(log, "w", encoding="utf-8") as handle:
                        proc = subprocess.run(cell_command(files[cell.id], gpus, _free_port()), stdout=handle,
                                              stderr=subprocess.STDOUT, env=env, check=False)
                    ok = proc.returncode == 0
                    results.append({"cell": cell.id, "ok": ok, "log": str(log), **({} if ok else {"error": f"exit {proc.returncode}"})})
                    report(results[-1], mask)
                return results
            finally:
                free.put(mask)

        outcomes: list[Outcome] = []
        with ThreadPoolExecutor(max_workers=len(slots)) as pool:
            for result in pool.map(lane_job, groups):
                outcomes += result
        return outcomes


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def lane_threads(jobs: int, threads: int | None, slots: Sequence[str | None],
                 environ: dict[str, str] | None = None, cores: int | None = None) -> int | None:
    """Torch CPU threads for each local lane: ``threads`` when given (``reproduce --threads``);
    else, for CPU lanes run side by side (no GPU slots, ``jobs`` > 1, no ``OMP_NUM_THREADS`` set by
    the user), the usable cores divided among the lanes (at least 1); else None (torch's default)."""
    environ = os.environ if environ is None else environ
    if threads is not None:
        return threads
    if jobs <= 1 or any(slot is not None for slot in slots) or "OMP_NUM_THREADS" in environ:
        return None
    return max(1, (cores if cores is not None else usable_cores()) // jobs)


def lane_environment(mask: str | None, threads: int | None) -> dict[str, str]:
    """A lane process's environment: its GPUs, its thread count (read by torch at import), no
    progress bars, and unbuffered output (its lines reach the terminal as they are written)."""
    env = dict(os.environ, TQDM_DISABLE="1", PYTHONUNBUFFERED="1")
    if mask is not None:
        env["CUDA_VISIBLE_DEVICES"] = mask
    if threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def _lane_subprocess(cells: Sequence[Cell], files: dict[str, Path], env: dict[str, str], progress: Progress,
                     report: Callable[[Outcome], None]) -> list[Outcome]:
    """One lane as one ``selfsynth.experiment.lane`` process. Its output goes to each cell's
    ``reproduce.log`` (split at the outcome lines) and, line by line, to ``progress``; a cell the
    process did not finish (it died) is a failure naming the exit code."""
    from selfsynth.experiment.lane import parse_outcome

    logs = [cell_results_path(cell).with_name("reproduce.log") for cell in cells]
    for log in logs:
        log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "selfsynth.experiment.lane", *(str(files[cell.id]) for cell in cells)]
    outcomes: list[Outcome] = []
    handle = open(logs[0], "w", encoding="utf-8")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
                            encoding="utf-8", errors="replace")
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            outcome = parse_outcome(line) if len(outcomes) < len(cells) else None
            if outcome is None:
                handle.write(line)
                handle.flush()
                if line.strip():
                    progress(line.rstrip())
                continue
            index = len(outcomes)
            outcome = {**outcome, "cell": cells[index].id, "log": str(logs[index])}
            outcomes.append(outcome)
            report(outcome)
            handle.close()
            # the next cell's log; anything after the last cell's outcome stays with the last cell
            following = index + 1 < len(logs)
            handle = open(logs[index + 1] if following else logs[-1], "w" if following else "a", encoding="utf-8")
    finally:
        handle.close()
        code = proc.wait()
    for index in range(len(outcomes), len(cells)):
        outcome = {"cell": cells[index].id, "ok": False, "log": str(logs[index]),
                   "error": f"the lane process exited with {code} before this cell finished"}
        outcomes.append(outcome)
        report(outcome)
    return outcomes


def _job_outcomes(job: Any, cells: Sequence[Cell]) -> list[Outcome]:
    try:
        return _with_logs(job.result(), cells)
    except Exception as exc:  # noqa: BLE001 - a lost job is reported with its log; the rest go on
        return [{"cell": cell.id, "ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}",
                 "log": str(job.paths.stdout)} for cell in cells]


@dataclass
class SubmititLocal:
    """Lanes as submitit local jobs (separate processes on this machine), at most ``jobs`` at
    once, each with its own GPUs from the visible ones."""

    folder: Path
    slurm: SlurmSettings
    jobs: int = 1

    def run(self, groups: list[list[Cell]], files: dict[str, Path], progress: Progress) -> list[Outcome]:
        import submitit

        slots = gpu_slots(visible_gpus(), self.jobs, self.slurm.gpus_per_cell)
        executor = submitit.AutoExecutor(folder=str(self.folder), cluster="local")
        executor.update_parameters(timeout_min=self.slurm.time_min or 24 * 60)
        waiting = list(groups)
        running: list[tuple[list[Cell], Any, str | None]] = []
        free = list(slots)
        outcomes: list[Outcome] = []
        finished, last = 0, ""
        while waiting or running:
            while waiting and free:
                cells, mask = waiting.pop(0), free.pop(0)
                job = executor.submit(LaneJob(self.slurm.gpus_per_cell, mask), [str(files[c.id]) for c in cells])
                running.append((cells, job, mask))
            for entry in [r for r in running if r[1].done()]:
                running.remove(entry)
                free.append(entry[2])
                outcomes += _job_outcomes(entry[1], entry[0])
                finished += 1
            line = f"submitit_local: {finished}/{len(groups)} lane jobs finished"
            if line != last:
                progress(line)
                last = line
            if waiting or running:
                time.sleep(POLL_S)
        return outcomes


def lane_time_min(experiment: Experiment) -> int:
    """A lane job's time limit: ``slurm.time_min`` when set; else, given throughputs, 1.5 × the
    longest lane's estimate (+10 min to load models); else 24 h. A job that reaches it is
    requeued and resumes, so a short limit costs a restart, not the work done."""
    from selfsynth.experiment.cost import lane_hours

    slurm = experiment.config.slurm
    if slurm.time_min is not None:
        return slurm.time_min
    hours = lane_hours(experiment)
    if not hours:
        return 24 * 60
    return int(max(hours.values()) / max(1, slurm.gpus_per_cell) * 60 * 1.5) + 10


@dataclass
class Slurm:
    """The lanes as one job array; each extra evaluation a job after its lane (``afterok``)."""

    folder: Path
    slurm: SlurmSettings
    job_name: str
    time_min: int
    extras: list[tuple[str, tuple[str, int], Experiment]] = dataclasses.field(default_factory=list)

    def _executor(self, name: str, time_min: int, **extra: Any) -> Any:
        import submitit

        executor = submitit.AutoExecutor(folder=str(self.folder), cluster="slurm", slurm_max_num_timeout=MAX_TIMEOUTS)
        params: dict[str, Any] = {"timeout_min": time_min, "gpus_per_node": self.slurm.gpus_per_cell,
                                  "cpus_per_task": self.slurm.cpus_per_cell, "mem_gb": self.slurm.mem_gb, "name": name, **extra}
        if self.slurm.partition:
            params["slurm_partition"] = self.slurm.partition
        if self.slurm.account:
            params["slurm_account"] = self.slurm.account
        executor.update_parameters(**params)
        return executor

    def run(self, groups: list[list[Cell]], files: dict[str, Path], progress: Progress) -> list[Outcome]:
        jobs: list[tuple[Any, Callable[[Any], list[Outcome]]]] = []
        lane_jobs: dict[tuple[str, int], Any] = {}
        if groups:
            executor = self._executor(self.job_name, self.time_min)
            array = executor.map_array(LaneJob(self.slurm.gpus_per_cell), [[str(files[c.id]) for c in cells] for cells in groups])
            for cells, job in zip(groups, array):
                lane_jobs[cells[0].lane] = job
                jobs.append((job, lambda j, cells=cells: _job_outcomes(j, cells)))
            progress(f"slurm: {len(groups)} lane(s) as array job {array[0].job_id.split('_')[0]} "
                     f"({self.time_min} min each, requeued on timeout or preemption); logs in {self.folder.parent}")
        for label, lane, one in self.extras:
            after = lane_jobs.get(lane)
            # a lane that fails hard (killed, node lost) cancels its extras instead of leaving them pending forever
            extra = {"slurm_additional_parameters": {"dependency": f"afterok:{after.job_id}", "kill-on-invalid-dep": "yes"}} if after else {}
            job = self._executor(f"{self.job_name}-extra", self.time_min, **extra).submit(ExtrasJob(), one)
            progress(f"slurm: {label} as job {job.job_id}" + (f" after lane job {after.job_id}" if after else ""))
            jobs.append((job, lambda j, label=label: _extra_outcome(j, label)))
        return _follow(jobs, len(lane_jobs), progress)


def _extra_outcome(job: Any, label: str) -> list[Outcome]:
    try:
        job.result()
        return [{"cell": label, "ok": True, "log": str(job.paths.stdout)}]
    except Exception as exc:  # noqa: BLE001 - reported with its log
        return [{"cell": label, "ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}", "log": str(job.paths.stdout)}]


def _queued(job_ids: Sequence[str]) -> set[str] | None:
    """Job ids Slurm still holds (pending, running, requeued), array tasks one per line; None
    when squeue cannot be asked."""
    bases = sorted({job_id.split("_")[0] for job_id in job_ids})
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(bases)], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 and "Invalid job id" not in out.stderr:
        return None
    return {line.strip() for line in out.stdout.splitlines() if line.strip()}


def _follow(jobs: list[tuple[Any, Callable[[Any], list[Outcome]]]], n_lanes: int, progress: Progress) -> list[Outcome]:
    """Wait for every job; one progress line per change. A job is over when submitit sees its
    result, or when Slurm no longer holds it (twice in a row, e.g. cancelled): without an
    accounting database submitit cannot tell that state on its own."""
    outcomes: dict[int, list[Outcome]] = {}
    gone: dict[int, int] = {}
    last = ""
    while len(outcomes) < len(jobs):
        open_jobs = [i for i in range(len(jobs)) if i not in outcomes]
        queued = _queued([jobs[i][0].job_id for i in open_jobs])
        for i in open_jobs:
            job, collect = jobs[i]
            if job.done():
                outcomes[i] = collect(job)
            elif queued is not None and job.job_id not in queued:
                gone[i] = gone.get(i, 0) + 1
                if gone[i] >= 3 and not job.done():
                    outcomes[i] = collect(job)  # result() raises: reported as lost, with its log
            else:
                gone.pop(i, None)
        lanes_done = sum(1 for i in outcomes if i < n_lanes)
        line = f"slurm: {lanes_done}/{n_lanes} lane jobs finished, {len(outcomes) - lanes_done}/{len(jobs) - n_lanes} extra jobs"
        if line != last:
            progress(line)
            last = line
        if len(outcomes) < len(jobs):
            time.sleep(POLL_S)
    return [o for i in range(len(jobs)) for o in outcomes[i]]


def make_launcher(kind: LauncherKind, experiment: Experiment, jobs: int = 1, threads: int | None = None) -> Launcher:
    folder = experiment.out.resolve() / "jobs" / "%j"
    if kind == "local":
        if jobs <= 1:
            return InProcess(threads)
        return LocalProcesses(jobs, experiment.config.slurm.gpus_per_cell, threads)
    if kind == "submitit_local":
        return SubmititLocal(folder, experiment.config.slurm, jobs)
    return Slurm(folder, experiment.config.slurm, f"selfsynth-{experiment.config.name}", lane_time_min(experiment),
                 pending_extras(experiment))


def run_cells(experiment: Experiment, launcher: LauncherKind = "local", jobs: int = 1,
              progress: Progress | None = None, threads: int | None = None) -> list[Outcome]:
    """Run every unfinished cell; returns one outcome per cell run ({cell, ok, error?, log}). On
    Slurm the extra evaluations run as jobs too (``reproduce`` runs them here otherwise)."""
    progress = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    files = write_cell_files(experiment)
    todo = [c for c in experiment.cells if not cell_done(c)]
    done = len(experiment.cells) - len(todo)
    progress(f"reproduce {experiment.config.name}: {len(experiment.cells)} cells, {done} done, {len(todo)} to run ({launcher})")
    chosen = make_launcher(launcher, experiment, jobs, threads)
    if not todo and not (isinstance(chosen, Slurm) and chosen.extras):
        return []
    return chosen.run(lanes(todo), files, progress)
