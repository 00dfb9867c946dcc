"""Experiments as files: one YAML names the tasks, methods, seeds, judge, benchmarks and tables of
a paper table; ``reproduce`` expands it into cells (task × method × seed), runs the cells that are
not finished, then writes the tables and plots.

A cell is exactly one ``selfsynth run`` (its resolved ``RunConfig`` is written to
``<out>/cells/<cell>.yaml`` and can be run by hand with ``selfsynth run --config``). Cells that two
experiments share (``ours`` in Tables 1 and 12) resolve to the same config and the same run-store
folder, so they run once. Cells of one (task, seed) form a *lane* run in order, because they share
method-independent synthesis files (descriptions, selection); lanes run in parallel.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from selfsynth import config as cfg
from selfsynth.errors import UserError
from selfsynth.io import write_json, write_text

EXPERIMENT_RECORD = "experiment.json"  # <out>/experiments/<name>/experiment.json


@dataclass
class TaskEntry:
    task: str = cfg.field(help="task name (see `selfsynth ls tasks`)")
    config: str | None = cfg.field(None, help="RunConfig YAML of this task (e.g. configs/paper/cub200.yaml)")
    root: str | None = cfg.field(None, help="dataset folder (default: the config's, or the task's default)")
    concepts: str | None = cfg.field(None, help="class concepts JSON (default: the config's, or the task's default)")
    task_options: list[str] = cfg.field(default_factory=list, help="task options KEY=VALUE")
    split_sizes: list[int] | None = cfg.field(None, help="[train, test] images, for --dry-run estimates when the dataset is not on this machine")

    def __post_init__(self) -> None:
        cfg.check_fields(self)


@dataclass
class TransferEntry:
    train_task: str = cfg.field(help="task whose runs' final models are evaluated")
    eval_task: str = cfg.field(help="task they are evaluated on (must be one of the experiment's tasks)")
    method: str = cfg.field("ours", help="which method's final model")

    def __post_init__(self) -> None:
        cfg.check_fields(self)


@dataclass
class SlurmSettings:
    partition: str | None = cfg.field(None, help="Slurm partition")
    account: str | None = cfg.field(None, help="Slurm account")
    gpus_per_cell: int = cfg.field(1, help="GPUs per lane job (a cell may use them with `accelerate launch`)", ge=0)
    cpus_per_cell: int = cfg.field(8, help="CPU cores per lane job", ge=1)
    mem_gb: int = cfg.field(64, help="memory per lane job in GB", ge=1)
    time_min: int = cfg.field(24 * 60, help="wall-time limit per lane job in minutes", ge=1)

    def __post_init__(self) -> None:
        cfg.check_fields(self)


@dataclass
class CostSettings:
    """The assumptions behind ``--dry-run``'s estimate (DESIGN §8), each one a field to adjust."""

    answer_fill: float = cfg.field(0.6, help="generated tokens per answer as a share of its max_new_tokens (CUB: ~150 of 256)", gt=0, le=1)
    image_tokens: int = cfg.field(576, help="image tokens per training row (LLaVA-1.5 at 336 px: 576)", ge=0)
    text_tokens: int = cfg.field(100, help="question + answer tokens per training row", ge=0)
    judge_input_tokens: int = cfg.field(700, help="prompt tokens per judge call", ge=0)
    judge_output_tokens: int = cfg.field(150, help="completion tokens per judge call", ge=0)
    price_input_per_mtok: float | None = cfg.field(None, help="judge price in USD per million prompt tokens", ge=0)
    price_output_per_mtok: float | None = cfg.field(None, help="judge price in USD per million completion tokens", ge=0)
    gen_tokens_per_s: float | None = cfg.field(None, help="generated tokens per second per GPU (measure with `make bench` or an earlier run)", gt=0)
    train_tokens_per_s: float | None = cfg.field(None, help="training tokens per second per GPU", gt=0)

    def __post_init__(self) -> None:
        cfg.check_fields(self)


@dataclass
class ExperimentConfig:
    name: str = cfg.field(help="experiment name: its tables go to <out>/experiments/<name>/")
    tasks: list[Any] = cfg.field(help="tasks: names or {task, config, root, concepts, task_options, split_sizes}")
    methods: list[str] = cfg.field(help="methods (see `selfsynth ls methods`)")
    seeds: list[int] = cfg.field(default_factory=lambda: [0], help="seeds; tables show mean ± std over them")
    iterations: int | None = cfg.field(None, help="iterations K (default: the task config's)", ge=0)
    model: str | None = cfg.field(None, help="base model (default: the task config's, or the task's default)")
    judge: str | None = cfg.field(None, help="grade every iteration with this judge (local, openai, a plugin)")
    fluency_model: str | None = cfg.field(None, help="reference LM of FS (default: the run default)")
    general: list[str] = cfg.field(default_factory=list, help="general-ability benchmarks (Table 11)")
    general_root: str | None = cfg.field(None, help="folder of local benchmark copies (toy: the miniatures)")
    select_encoders: list[str] = cfg.field(default_factory=list, help="text encoders compared by concept-selection precision (Table 13)")
    transfer: list[Any] = cfg.field(default_factory=list, help="cross-dataset evaluations: {train_task, eval_task, method}")
    tables: list[str] = cfg.field(default_factory=lambda: ["1"], help="tables to write: 1, 11, 12, 13, transfer")
    metric: Literal["accuracy", "accuracy_paper"] = cfg.field("accuracy", help="accuracy rule of the tables")
    out: str = cfg.field("runs", help="run store folder shared by experiments (shared cells run once)")
    overrides: dict[str, Any] = cfg.field(default_factory=dict, help="RunConfig keys applied to every cell (e.g. limit, train: {...})")
    slurm: SlurmSettings = cfg.field(default_factory=SlurmSettings, help="Slurm settings of --launcher slurm")
    cost: CostSettings = cfg.field(default_factory=CostSettings, help="assumptions of the --dry-run estimate")

    def __post_init__(self) -> None:
        from selfsynth.reports.tables import TABLES

        cfg.check_fields(self)
        if not self.tasks or not self.seeds:
            raise ValueError("tasks and seeds must each name at least one entry")
        if not self.methods and not self.select_encoders:
            raise ValueError("methods: name at least one (or select_encoders, for Table 13 alone)")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds {self.seeds}: a seed is listed twice")
        unknown = [t for t in self.tables if str(t) not in TABLES]
        if unknown:
            raise ValueError(f"tables {unknown}: expected some of {', '.join(TABLES)}")
        self.tables = [str(t) for t in self.tables]


@dataclass
class Cell:
    task: str
    method: str
    seed: int
    config: Any  # the resolved RunConfig
    entry: TaskEntry

    @property
    def id(self) -> str:
        return f"{self.task}__{self.method}__seed_{self.seed}"

    @property
    def lane(self) -> tuple[str, int]:
        return (self.task, self.seed)


@dataclass
class Experiment:
    path: Path
    config: ExperimentConfig
    tasks: list[TaskEntry]
    transfer: list[TransferEntry]
    cells: list[Cell]
    selection: list[Cell]  # Table 13: steps 0-2 of each (task, seed), per encoder

    @property
    def out(self) -> Path:
        return Path(self.config.out)

    @property
    def folder(self) -> Path:
        return self.out / "experiments" / self.config.name


# -- loading ------------------------------------------------------------------------------------
def load_experiment(path: str | Path, out: str | None = None) -> Experiment:
    """Read and check an experiment file: every key, task, method and cell config is validated
    now, so a mistake is one line before anything runs."""
    from selfsynth.api import resolve_run_config
    from selfsynth.registry import METHODS, TASKS

    path = Path(path)
    data = cfg.read_yaml(path)
    if out is not None:
        data["out"] = out
    config = cfg.from_dict(ExperimentConfig, data, str(path))
    tasks = [_entry(TaskEntry, {"task": item} if isinstance(item, str) else item, f"{path}: tasks[{i}]")
             for i, item in enumerate(config.tasks)]
    transfer = [_entry(TransferEntry, item, f"{path}: transfer[{i}]") for i, item in enumerate(config.transfer)]
    names = [t.task for t in tasks]
    if len(set(names)) != len(names):
        raise UserError(f"{path}: tasks: a task is listed twice")
    for entry in tasks:
        TASKS.get(entry.task)
    for method in config.methods:
        METHODS.get(method)
    for item in transfer:
        if item.train_task not in names or item.eval_task not in names:
            raise UserError(f"{path}: transfer {item.train_task} -> {item.eval_task}: both tasks must be among the experiment's tasks ({', '.join(names)})")
    cells = []
    for entry in tasks:
        if entry.config is not None and not Path(entry.config).is_file():
            raise UserError(f"{path}: tasks: {entry.task}: config file {entry.config} not found")
        for method in config.methods:
            for seed in config.seeds:
                overrides = _cell_overrides(config, entry, method, seed)
                try:
                    run_config = resolve_run_config(entry.config, overrides)
                except UserError as exc:
                    raise UserError(f"{path}: cell {entry.task}/{method}/seed {seed}: {exc}") from None
                cells.append(Cell(entry.task, method, seed, _absolute_paths(run_config), entry))
    selection = []
    if config.select_encoders:
        for entry in tasks:
            for seed in config.seeds:
                try:
                    run_config = resolve_run_config(entry.config, _cell_overrides(config, entry, "ours", seed))
                except UserError as exc:
                    raise UserError(f"{path}: selection {entry.task}/seed {seed}: {exc}") from None
                selection.append(Cell(entry.task, "select_eval", seed, _absolute_paths(run_config), entry))
    return Experiment(path, config, tasks, transfer, cells, selection)


def _absolute_paths(run_config: Any) -> Any:
    """Paths relative to where reproduce was started, made absolute: a cell runs the same from a
    Slurm job's or a worker's working directory."""
    changes = {key: str(Path(value).resolve()) for key in ("root", "concepts", "prompts", "toy_cache", "general_root")
               if isinstance(value := getattr(run_config, key), str)}
    if run_config.model is not None and Path(run_config.model).exists():
        changes["model"] = str(Path(run_config.model).resolve())
    general = run_config.train.general_data
    if general is not None and Path(general).exists():
        changes["train"] = dataclasses.replace(run_config.train, general_data=str(Path(general).resolve()))
    return dataclasses.replace(run_config, **changes)


def _entry(cls: type, item: Any, where: str) -> Any:
    if not isinstance(item, dict):
        raise UserError(f"{where}: expected a mapping, got {type(item).__name__}")
    return cfg.from_dict(cls, item, where)


def _cell_overrides(config: ExperimentConfig, entry: TaskEntry, method: str, seed: int) -> dict[str, Any]:
    overrides: dict[str, Any] = json.loads(json.dumps(config.overrides))  # a deep copy
    overrides.update({"task": entry.task, "method": method, "seed": seed, "out": str(Path(config.out).resolve())})
    optional = {
        "iterations": config.iterations, "model": config.model, "judge": config.judge,
        "fluency_model": config.fluency_model, "general_root": config.general_root,
        "root": entry.root, "concepts": entry.concepts,
    }
    overrides.update({k: v for k, v in optional.items() if v is not None})
    if config.general:
        overrides["general"] = list(config.general)
    if entry.task_options:
        overrides["task_options"] = list(entry.task_options)
    return overrides


def check_unchanged(experiment: Experiment) -> None:
    """Refuse an experiment file whose cells changed since they ran under this --out (as a run
    refuses a changed config); new cells (another seed) and other tables are allowed."""
    record = experiment.folder / EXPERIMENT_RECORD
    current = {cell.id: cfg.to_dict(cell.config) for cell in experiment.cells}
    if record.is_file():
        before = json.loads(record.read_text(encoding="utf-8")).get("cells", {})
        changed = sorted(cid for cid in current if cid in before and before[cid] != current[cid])
        if changed:
            diff = _first_difference(before[changed[0]], current[changed[0]])
            raise UserError(
                f"{experiment.path}: experiment {experiment.config.name!r} changed since its cells ran under "
                f"{experiment.out} ({len(changed)} cell(s), e.g. {changed[0]}: {diff}); use another --out or name"
            )
        current = {**before, **current}
    write_json(record, {"experiment": experiment.config.name, "file": str(experiment.path),
                        "config": cfg.to_dict(experiment.config), "cells": current})


def _first_difference(a: Any, b: Any, where: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{where}.{key}" if where else key)
    return f"{where} {a!r} -> {b!r}"


# -- status, inputs and cost ---------------------------------------------------------------------
def cell_results_path(cell: Cell) -> Path:
    from selfsynth.store import RunStore

    store = RunStore(Path(cell.config.out), experiment=cell.config.experiment, seed=cell.seed)
    return store.unit_dir(cell.task, cell.method) / "results.json"


def cell_done(cell: Cell) -> bool:
    """Finished: results.json holds every iteration (graded when a judge is set) and the
    general-ability summary when benchmarks are asked for."""
    from selfsynth.registry import METHODS

    path = cell_results_path(cell)
    if not path.is_file():
        return False
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    expected = cell.config.iterations + 1 if METHODS.get(cell.method).trains else 1
    records = results.get("iterations") or []
    if len(records) < expected:
        return False
    if cell.config.judge and any("judge" not in r for r in records):
        return False
    return not (cell.config.general and "general" not in results)


def missing_inputs(experiment: Experiment) -> list[str]:
    """One line per dataset, model, concepts or prompts file a cell needs and this machine lacks."""
    from selfsynth.tasks.base import task_class

    lines: dict[str, None] = {}
    for cell in [*experiment.cells, *experiment.selection]:
        config = cell.config
        has_defaults = task_class(cell.task).has_defaults()
        if config.root is None and not has_defaults:
            lines[f"{cell.task}: no dataset folder (set tasks[].root or the config's root)"] = None
        elif config.root is not None and not Path(config.root).is_dir():
            lines[f"{cell.task}: dataset folder {config.root} not found"] = None
        if config.model is None and not has_defaults:
            lines[f"{cell.task}: no model (set model in the experiment or the config)"] = None
        elif config.model is not None:
            problem = _model_problem(config.model)
            if problem:
                lines[problem] = None
        if config.concepts is not None and not Path(config.concepts).is_file():
            lines[f"{cell.task}: concepts file {config.concepts} not found (make it with `selfsynth concepts --task {cell.task} --root DIR --out {config.concepts}`)"] = None
        if config.prompts is not None and not Path(config.prompts).is_file():
            lines[f"{cell.task}: prompts file {config.prompts} not found"] = None
    return list(lines)


def _model_problem(model: str) -> str | None:
    path = Path(model)
    if path.exists():
        return None if (path / "config.json").is_file() or (path / "adapter_config.json").is_file() else f"model folder {model} has no config.json"
    if model.count("/") == 1 and not model.startswith((".", "/")):  # a hub id
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(model, "config.json"), str):
            return None
        if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True"):
            return f"model {model} is not in the local Hugging Face cache (fetch it with `hf download {model}`)"
        return None  # downloaded on first use
    return f"model {model} not found (a local folder or a hub id)"


def split_sizes(cell: Cell) -> tuple[int, int] | None:
    """(train, test) images of the cell's task after --limit: from the dataset when it is here,
    else from the experiment file or the task's published split sizes."""
    from selfsynth.tasks.base import build_task, parse_option_pairs, task_class

    config = cell.config
    sizes: tuple[int, int] | None = None
    if config.root is not None and Path(config.root).is_dir():
        try:
            task = build_task(cell.task, config.root, parse_option_pairs(config.task_options))
            sizes = (len(task.load("train")), len(task.load("test")))
        except UserError:
            sizes = None
    if sizes is None and cell.entry.split_sizes:
        sizes = (int(cell.entry.split_sizes[0]), int(cell.entry.split_sizes[-1]))
    if sizes is None:
        sizes = task_class(cell.task).expected_split_sizes(parse_option_pairs(config.task_options))
    if sizes is None:
        return None
    test_limit = config.test_limit if config.test_limit is not None else config.limit
    return (min(sizes[0], config.limit or sizes[0]), min(sizes[1], test_limit or sizes[1]))


def estimate_cell(cell: Cell, cost: CostSettings, describe_prompts: int | None = None) -> dict[str, Any]:
    """Generated tokens, training tokens and judge calls of one cell (DESIGN §8's arithmetic)."""
    from selfsynth.registry import METHODS

    runner = METHODS.get(cell.method)
    sizes = split_sizes(cell)
    if sizes is None:
        return {"cell": cell.id, "unknown": "dataset size unknown (add tasks[].split_sizes)"}
    n_train, n_test = sizes
    c, s, fill = cell.config, cell.config.synth, cost.answer_fill
    k = c.iterations if runner.trains else 0
    generated = (k + 1) * n_test * c.eval_max_new_tokens * fill
    train_rows = 0.0
    if runner.trains and k > 0:
        if getattr(runner, "describes_images", False):
            generated += n_train * min(s.describe_prompts, describe_prompts or s.describe_prompts) * s.describe_samples * s.describe_max_new_tokens * fill
        if getattr(runner, "generates_data", True):
            generated += n_train * s.rewrite_questions * s.rewrite_max_new_tokens * fill
            generated += (k - 1) * n_train * s.reject_questions * s.reject_samples * s.reject_max_new_tokens * fill
        train_rows = n_train * s.rewrite_questions + (k - 1) * n_train * s.reject_questions
    mix = 2.0 if c.train.general_data else 1.0  # 1:1 general instruction rows
    training = train_rows * mix * c.train.epochs * (cost.image_tokens + cost.text_tokens)
    judge_calls = (k + 1) * n_test if c.judge else 0
    estimate: dict[str, Any] = {
        "cell": cell.id, "n_train": n_train, "n_test": n_test, "iterations": k,
        "generated_tokens": int(generated), "training_tokens": int(training), "judge_calls": judge_calls,
    }
    if cost.price_input_per_mtok is not None and cost.price_output_per_mtok is not None:
        estimate["judge_usd"] = round(judge_calls * (cost.judge_input_tokens * cost.price_input_per_mtok
                                                      + cost.judge_output_tokens * cost.price_output_per_mtok) / 1e6, 2)
    if cost.gen_tokens_per_s and cost.train_tokens_per_s:
        estimate["gpu_hours"] = round((generated / cost.gen_tokens_per_s + training / cost.train_tokens_per_s) / 3600, 2)
    return estimate


def plan(experiment: Experiment) -> dict[str, Any]:
    """What --dry-run prints: every cell with its status and estimate, the missing inputs, totals."""
    rows = []
    for cell in experiment.cells:
        rows.append({**estimate_cell(cell, experiment.config.cost), "done": cell_done(cell)})
    todo = [r for r in rows if not r["done"]]
    totals: dict[str, Any] = {}
    for key in ("generated_tokens", "training_tokens", "judge_calls", "judge_usd", "gpu_hours"):
        values = [r[key] for r in todo if key in r]
        if values:
            totals[key] = round(sum(values), 2)
    return {"experiment": experiment.config.name, "cells": rows, "to_run": len(todo),
            "missing": missing_inputs(experiment), "totals_to_run": totals}


def format_plan(report: dict[str, Any]) -> str:
    from tabulate import tabulate

    def fmt(value: Any) -> str:
        if isinstance(value, bool):
            return "done" if value else "to run"
        if isinstance(value, (int, float)) and value >= 1e6:
            return f"{value / 1e6:.1f} M"
        return "–" if value is None else str(value)

    columns = ["cell", "done", "n_train", "n_test", "generated_tokens", "training_tokens", "judge_calls", "judge_usd", "gpu_hours"]
    rows = [[fmt(r.get(c)) for c in columns] for r in report["cells"]]
    lines = [f"experiment {report['experiment']}: {len(report['cells'])} cells, {report['to_run']} to run",
             tabulate(rows, headers=columns, tablefmt="github", disable_numparse=True)]
    totals = report["totals_to_run"]
    if totals:
        lines.append("to run: " + ", ".join(f"{k} {fmt(v)}" for k, v in totals.items()))
    if "gpu_hours" not in totals:
        lines.append("GPU-hours: give cost.gen_tokens_per_s and cost.train_tokens_per_s (from `make bench` or an earlier run)")
    lines += [f"missing: {line}" for line in report["missing"]]
    return "\n".join(lines)


# -- running ------------------------------------------------------------------------------------
Launcher = Literal["local", "slurm", "submitit_local"]


def write_cell_files(experiment: Experiment) -> dict[str, Path]:
    """Each cell's resolved RunConfig as YAML: what a lane job runs, and what a user reruns by hand."""
    paths = {}
    for cell in experiment.cells:
        path = experiment.out.resolve() / "cells" / f"{cell.id}.yaml"
        write_text(path, cfg.dump_yaml(cell.config))
        paths[cell.id] = path
    return paths


def run_lane(cell_files: Sequence[str]) -> list[dict[str, Any]]:
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


def run_cells(experiment: Experiment, launcher: Launcher = "local", jobs: int = 1,
              progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Run every unfinished cell; returns one outcome per cell run ({cell, ok, error?, log})."""
    progress = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    files = write_cell_files(experiment)
    todo = [c for c in experiment.cells if not cell_done(c)]
    done = len(experiment.cells) - len(todo)
    progress(f"reproduce {experiment.config.name}: {len(experiment.cells)} cells, {done} done, {len(todo)} to run ({launcher})")
    if not todo:
        return []
    groups = lanes(todo)
    if launcher == "local" and jobs <= 1:
        outcomes = []
        for index, cell in enumerate(todo, 1):
            progress(f"[{index}/{len(todo)}] {cell.task}/{cell.method}/seed {cell.seed}")
            outcomes += _with_logs(run_lane([str(files[cell.id])]), [cell])
        return outcomes
    if launcher == "local":
        return _run_local_parallel(groups, files, jobs, progress)
    return _run_submitit(experiment, groups, files, launcher, progress)


def _with_logs(outcomes: list[dict[str, Any]], cells: Sequence[Cell]) -> list[dict[str, Any]]:
    for outcome, cell in zip(outcomes, cells):
        outcome["cell"] = cell.id
        outcome["log"] = str(cell_results_path(cell).with_name("run.log"))
    return outcomes


def _run_local_parallel(groups: list[list[Cell]], files: dict[str, Path], jobs: int, progress) -> list[dict[str, Any]]:
    """Lanes in parallel, ``jobs`` at a time, each its own process on one GPU (CUDA_VISIBLE_DEVICES)."""
    import queue
    from concurrent.futures import ThreadPoolExecutor

    gpus: queue.Queue[int] = queue.Queue()
    for index in range(jobs):
        gpus.put(index)
    outcomes: list[dict[str, Any]] = []

    def lane_job(cells: list[Cell]) -> list[dict[str, Any]]:
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

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for result in pool.map(lane_job, groups):
            outcomes += result
    return outcomes


def _run_submitit(experiment: Experiment, groups: list[list[Cell]], files: dict[str, Path], launcher: Launcher, progress) -> list[dict[str, Any]]:
    """One submitit job per lane: Slurm, or submitit's local executor (separate processes on this
    machine, the same code path). Followed with one progress line until every job ends."""
    import submitit

    folder = experiment.out.resolve() / "jobs" / "%j"
    if launcher == "slurm":
        executor = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
        slurm = experiment.config.slurm
        params: dict[str, Any] = {"timeout_min": slurm.time_min, "gpus_per_node": slurm.gpus_per_cell,
                                  "cpus_per_task": slurm.cpus_per_cell, "mem_gb": slurm.mem_gb, "name": f"selfsynth-{experiment.config.name}"}
        if slurm.partition:
            params["slurm_partition"] = slurm.partition
        if slurm.account:
            params["slurm_account"] = slurm.account
        executor.update_parameters(**params)
    else:
        executor = submitit.AutoExecutor(folder=str(folder), cluster="local")
        executor.update_parameters(timeout_min=experiment.config.slurm.time_min)
    submitted = [(cells, executor.submit(run_lane, [str(files[c.id]) for c in cells])) for cells in groups]
    last = ""
    while True:
        states = [job.done() for _, job in submitted]
        line = f"{launcher}: {sum(states)}/{len(states)} lane jobs finished"
        if line != last:
            progress(line)
            last = line
        if all(states):
            break
        time.sleep(2)
    outcomes: list[dict[str, Any]] = []
    for cells, job in submitted:
        try:
            outcomes += _with_logs(job.result(), cells)
        except Exception as exc:  # noqa: BLE001 - a lost job is reported with its log; the rest go on
            for cell in cells:
                outcomes.append({"cell": cell.id, "ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}",
                                 "log": str(job.paths.stderr)})
    return outcomes


def selection_path(cell: Cell) -> Path:
    from selfsynth.metrics.select_eval import RESULT_FILE
    from selfsynth.store import RunStore

    store = RunStore(Path(cell.config.out), experiment=cell.config.experiment, seed=cell.seed)
    return store.unit_dir(cell.task, "select_eval") / RESULT_FILE


def run_extras(experiment: Experiment, progress: Callable[[str], None]) -> None:
    """Table 13's selection evaluation and the transfer evaluations (each skipped when stored)."""
    from selfsynth.api import EvalConfig, evaluate, evaluate_selection

    for cell in experiment.selection:
        path = selection_path(cell)
        if path.is_file() and set(json.loads(path.read_text(encoding="utf-8")).get("encoders", {})) >= set(experiment.config.select_encoders):
            continue
        progress(f"select-eval {cell.task} seed {cell.seed}: {', '.join(experiment.config.select_encoders)}")
        evaluate_selection(cell.config, experiment.config.select_encoders)
    for item in experiment.transfer:
        for seed in experiment.config.seeds:
            source = next((c for c in experiment.cells if c.task == item.train_task and c.method == item.method and c.seed == seed), None)
            target = next((c for c in experiment.cells if c.task == item.eval_task and c.seed == seed), None)
            if source is None or target is None or not cell_done(source):
                continue
            results = json.loads(cell_results_path(source).read_text(encoding="utf-8"))
            model = results["iterations"][-1]["model"]
            out = cell_results_path(source).parent / "transfer" / item.eval_task
            if (out / "metrics.json").is_file():
                continue
            progress(f"transfer {item.train_task}/{item.method} seed {seed} -> {item.eval_task}")
            evaluate(EvalConfig(
                task=item.eval_task, model=model, root=target.config.root, limit=target.config.limit, seed=seed,
                out=str(out), batch_size=target.config.eval_batch_size, max_new_tokens=target.config.eval_max_new_tokens,
                task_options=list(target.config.task_options), prompts=target.config.prompts, toy_cache=target.config.toy_cache,
            ))


def write_tables(experiment: Experiment, formats: Sequence[str] = ("md", "latex", "csv", "json"), plots: bool = True) -> tuple[list[str], list[Path]]:
    """The experiment's tables in every format (and the plots) under <out>/experiments/<name>/;
    returns (markdown of each table, written files). Only this experiment's cells are read."""
    from selfsynth.reports.tables import build_table, load_store, render

    suffix = {"md": "md", "latex": "tex", "csv": "csv", "json": "json"}
    cell_dirs = [cell_results_path(c).parent for c in experiment.cells if cell_results_path(c).is_file()]
    select_dirs = [selection_path(c).parent for c in experiment.selection if selection_path(c).is_file()]
    run_dirs = sorted({*cell_dirs, *select_dirs})
    if not run_dirs:
        raise UserError(f"{experiment.out}: no finished cell of experiment {experiment.config.name!r} to tabulate")
    store = load_store(run_dirs)
    written: list[Path] = []
    shown = []
    for number in experiment.config.tables:
        table = build_table(number, run_dirs, metric=experiment.config.metric, store=store)
        for fmt in formats:
            path = experiment.folder / f"table{number}.{suffix[fmt]}"
            write_text(path, render(table, fmt) + "\n")
            written.append(path)
        shown.append(render(table, "md"))
    if plots:
        from selfsynth.reports.plots import write_plots

        written += write_plots(store, experiment.folder / "plots", metric=experiment.config.metric)
    return shown, written


def reproduce(path: str | Path, out: str | None = None, launcher: Launcher = "local", jobs: int = 1,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run what is missing of an experiment, then write its tables and plots. Returns
    {experiment, outcomes, tables (markdown), files, failed}."""
    progress = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    experiment = load_experiment(path, out)
    missing = missing_inputs(experiment)
    if missing:
        raise UserError(f"{path}: {len(missing)} input(s) missing; first: {missing[0]} (see `selfsynth reproduce {path} --dry-run`)")
    check_unchanged(experiment)
    outcomes = run_cells(experiment, launcher, jobs, progress)
    failed = [o for o in outcomes if not o["ok"]]
    for outcome in failed:
        progress(f"FAILED {outcome['cell']}: {outcome.get('error', '')} (log: {outcome.get('log')})")
    run_extras(experiment, progress)
    tables, files = write_tables(experiment)
    return {"experiment": experiment.config.name, "outcomes": outcomes, "failed": failed,
            "tables": tables, "files": [str(f) for f in files], "folder": str(experiment.folder)}


def dry_run(path: str | Path, out: str | None = None) -> tuple[dict[str, Any], str]:
    experiment = load_experiment(path, out)
    report = plan(experiment)
    return report, format_plan(report)


def with_cells(experiment: Experiment, cells: list[Cell]) -> Experiment:
    return dataclasses.replace(experiment, cells=cells)
