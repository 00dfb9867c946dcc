"""An experiment file and the cells it expands into: its schema (``ExperimentConfig`` and its
entries), ``load_experiment`` which validates everything before anything runs, and ``Cell``.

A cell is exactly one ``selfsynth run``: task × method × seed with its resolved ``RunConfig``.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from selfsynth import config as cfg
from selfsynth.errors import UserError


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
    time_min: int | None = cfg.field(None, help="wall-time limit per lane job in minutes (default: 1.5 x the estimate when cost throughputs are given, else 24 h); a job that reaches it is requeued and resumes", ge=1)

    def __post_init__(self) -> None:
        cfg.check_fields(self)


@dataclass
class CostSettings:
    """The assumptions behind ``--dry-run``'s estimate (README, "Speed and engines"), each one a field to adjust."""

    answer_fill: float = cfg.field(0.6, help="generated tokens per answer as a share of its max_new_tokens (CUB: ~150 of 256)", gt=0, le=1)
    image_tokens: int = cfg.field(576, help="image tokens per training row (LLaVA-1.5 at 336 px: 576)", ge=0)
    text_tokens: int = cfg.field(100, help="question + answer tokens per training row", ge=0)
    judge_input_tokens: int = cfg.field(700, help="prompt tokens per judge call", ge=0)
    judge_output_tokens: int = cfg.field(150, help="completion tokens per judge call", ge=0)
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


def with_cells(experiment: Experiment, cells: list[Cell]) -> Experiment:
    return dataclasses.replace(experiment, cells=cells)
