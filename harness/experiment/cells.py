"""The state of an experiment's cells in the run store: where each cell's results live, whether it
is done, whether the experiment file changed since its cells ran, which inputs this machine lacks,
the per-cell config files a launcher runs, the extra evaluations (Table 13's selection, transfer)
and the tables written from finished cells.

Cells that two experiments share (``ours`` in Tables 1 and 12) resolve to the same config and the
same run-store folder, so they run once.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from selfsynth import config as cfg
from selfsynth.errors import UserError
from selfsynth.experiment.spec import Cell, Experiment
from selfsynth.io import write_json, write_text

EXPERIMENT_RECORD = "experiment.json"  # <out>/experiments/<name>/experiment.json


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


def write_cell_files(experiment: Experiment) -> dict[str, Path]:
    """Each cell's resolved RunConfig as YAML: what a lane job runs, and what a user reruns by hand.
    Under the experiment's own folder: another experiment sharing ``out`` never rewrites the
    config a running lane has yet to read (``check_unchanged`` keeps this experiment's fixed)."""
    paths = {}
    for cell in experiment.cells:
        path = experiment.folder.resolve() / "cells" / f"{cell.id}.yaml"
        write_text(path, cfg.dump_yaml(cell.config))
        paths[cell.id] = path
    return paths


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


