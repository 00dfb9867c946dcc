"""The state of an experiment's cells in the run store: where each cell's results live, whether it
is done, whether the experiment file changed since its cells ran, which inputs this machine lacks,
the per-cell config files a launcher runs, the extra evaluations (Table 13's selection, transfer)
and the tables written from finished cells.

Cells that two experiments share (``ours`` in Tables 1 and 12) resolve to the same config and the
same run-store folder, so they run once.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from selfsynth import config as cfg
from selfsynth import results
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


def cell_unit(cell: Cell) -> Path:
    """The run-store folder of the cell's run."""
    from selfsynth.store import RunStore

    store = RunStore(Path(cell.config.out), experiment=cell.config.experiment, seed=cell.seed)
    return store.unit_dir(cell.task, cell.method)


def cell_results_path(cell: Cell) -> Path:
    return results.run_results_path(cell_unit(cell))


def cell_change(cell: Cell) -> str | None:
    """Why the run stored at the cell's folder is not the cell's (its config differs), as
    "field: stored X, requested Y"; None when nothing is stored there or it is the cell's run.
    A stored run with more iterations than asked is another run too (its table would differ)."""
    run = results.read_run(cell_unit(cell))
    if run is None:
        return None
    if run.fingerprint is None:
        return "the stored run records no config fingerprint (written by an older selfsynth)"
    if run.fingerprint != results.config_fingerprint(cell.config):
        diff = results.first_difference(run.requested or {}, results.comparable_config(cell.config))
        return f"{diff[0]}: stored {diff[1]!r}, requested {diff[2]!r}" if diff else "config fingerprint differs"
    stored_k = run.config.get("iterations")
    if isinstance(stored_k, int) and stored_k > cell.config.iterations and len(run.iterations) > cell.config.iterations + 1:
        return f"iterations: stored {stored_k!r}, requested {cell.config.iterations!r}"
    return None


def cell_done(cell: Cell) -> bool:
    """Finished: the cell's own run (same config fingerprint) holds every iteration (graded when
    a judge is set) and the general-ability summary when benchmarks are asked for."""
    run = results.read_run(cell_unit(cell))
    return run is not None and cell_change(cell) is None and run.complete


OnChange = Literal["stop", "new_run"]


def _moved(config: Any, fingerprint: str) -> Any:
    """``config`` stored in a folder of its own, named by its fingerprint, beside the default one."""
    return dataclasses.replace(config, experiment=f"{config.experiment}-{fingerprint[:10]}")


def resolve_changes(experiment: Experiment, on_change: OnChange = "stop") -> Experiment:
    """Every cell (and selection cell) whose folder holds a run of another config: with ``stop``
    one UserError line naming the first differing field and both values; with ``new_run`` the
    cell moves to a folder of its own (``<experiment>-<fingerprint>``), where it runs or resumes."""
    def settle(cell: Cell, change: str | None) -> Cell:
        if change is None:
            return cell
        if on_change == "stop":
            raise UserError(
                f"{experiment.path}: cell {cell.id}: {cell_unit(cell)} holds a run of another config ({change}); "
                "use another --out, or --new-run-on-change to run this config in a folder of its own")
        moved = dataclasses.replace(cell, config=_moved(cell.config, results.config_fingerprint(cell.config)))
        again = cell_change(moved) if cell.method != "select_eval" else selection_change(moved)
        if again is not None:
            raise UserError(f"{experiment.path}: cell {cell.id}: {cell_unit(moved)} holds a run of another config ({again})")
        return moved

    cells = [settle(c, cell_change(c)) for c in experiment.cells]
    selection = [settle(c, selection_change(c)) for c in experiment.selection]
    return dataclasses.replace(experiment, cells=cells, selection=selection)


def missing_inputs(experiment: Experiment) -> list[str]:
    """One line per input a cell needs and this machine lacks: ``selfsynth.api.input_problems``,
    the same check a run makes before any model loads (nothing is downloaded here)."""
    from selfsynth.api import input_problems

    lines: dict[str, None] = {}
    for cell in [*experiment.cells, *experiment.selection]:
        for problem in input_problems(cell.config, fetch=False):
            lines[f"{cell.task}: {problem}"] = None
    return list(lines)


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
    from selfsynth.store import RunStore

    store = RunStore(Path(cell.config.out), experiment=cell.config.experiment, seed=cell.seed)
    return store.unit_dir(cell.task, "select_eval") / results.SELECTION


def selection_change(cell: Cell) -> str | None:
    """As ``cell_change``, for a stored select_eval.json (it records its config's fingerprint)."""
    path = selection_path(cell)
    if not path.is_file():
        return None
    stored = results.read_object(path, what="a selection evaluation").get("fingerprint")
    if stored is None:
        return "the stored selection evaluation records no config fingerprint (written by an older selfsynth)"
    return None if stored == results.config_fingerprint(cell.config) else "config fingerprint differs"


def transfer_fingerprint(source_fingerprint: str, eval_config: Any) -> str:
    """What a transfer evaluation depends on: the run that made the model and how it is evaluated."""
    return results.config_fingerprint({"train_run": source_fingerprint, "eval": results.comparable_config(eval_config)})


def run_extras(experiment: Experiment, progress: Callable[[str], None], on_change: OnChange = "stop") -> None:
    """Table 13's selection evaluation and the transfer evaluations (each skipped when stored
    with the same config fingerprint; a stored one of another config is refused or, with
    ``new_run``, replaced by a fresh evaluation in a folder of its own)."""
    from selfsynth.api import EvalConfig, evaluate, evaluate_selection
    from selfsynth.models import quiet_model_loading  # one progress line each, as a run's steps

    for cell in experiment.selection:
        path = selection_path(cell)
        if path.is_file() and set(results.read_object(path).get("encoders", {})) >= set(experiment.config.select_encoders):
            continue
        progress(f"select-eval {cell.task} seed {cell.seed}: {', '.join(experiment.config.select_encoders)}")
        with quiet_model_loading():
            evaluate_selection(cell.config, experiment.config.select_encoders)
    for item in experiment.transfer:
        for seed in experiment.config.seeds:
            source = next((c for c in experiment.cells if c.task == item.train_task and c.method == item.method and c.seed == seed), None)
            target = next((c for c in experiment.cells if c.task == item.eval_task and c.seed == seed), None)
            if source is None or target is None or not cell_done(source):
                continue
            run = results.read_run(cell_unit(source))
            eval_config = EvalConfig(
                task=item.eval_task, model=run.iterations[-1]["model"], root=target.config.root, limit=target.config.limit, seed=seed,
                batch_size=target.config.eval_batch_size, max_new_tokens=target.config.eval_max_new_tokens,
                task_options=list(target.config.task_options), prompts=target.config.prompts, toy_cache=target.config.toy_cache,
            )
            fingerprint = transfer_fingerprint(run.fingerprint, eval_config)
            out = run.transfer_folder(item.eval_task)
            stored = results.read_eval_optional(out)
            if stored is not None and stored.fingerprint != fingerprint:
                if on_change == "stop":
                    why = "records no config fingerprint (written by an older selfsynth)" if stored.fingerprint is None else "is of another config"
                    raise UserError(f"{experiment.path}: transfer {item.train_task}/{item.method} seed {seed} -> {item.eval_task}: "
                                    f"the evaluation in {out} {why}; use another --out, or --new-run-on-change")
                out = out.with_name(f"{item.eval_task}-{fingerprint[:10]}")
                stored = results.read_eval_optional(out)
            if stored is not None:
                continue
            progress(f"transfer {item.train_task}/{item.method} seed {seed} -> {item.eval_task}")
            with quiet_model_loading():
                evaluate(dataclasses.replace(eval_config, out=str(out)), record={"fingerprint": fingerprint})


def write_tables(experiment: Experiment, formats: Sequence[str] = ("md", "latex", "csv", "json"), plots: bool = True) -> tuple[list[str], list[Path]]:
    """The experiment's tables in every format (and the plots) under <out>/experiments/<name>/;
    returns (markdown of each table, written files). Only this experiment's cells are read."""
    from selfsynth.reports.tables import build_table, load_store, render

    suffix = {"md": "md", "latex": "tex", "csv": "csv", "json": "json"}
    cell_dirs = [cell_unit(c) for c in experiment.cells if cell_results_path(c).is_file()]
    select_dirs = [selection_path(c).parent for c in experiment.selection if selection_path(c).is_file()]
    run_dirs = sorted({*cell_dirs, *select_dirs})
    if not run_dirs:
        raise UserError(f"{experiment.out}: no finished cell of experiment {experiment.config.name!r} to tabulate")
    store = load_store(run_dirs)
    written: list[Path] = []
    shown = []
    for number in experiment.config.tables:
        table = build_table(number, run_dirs, metric=experiment.config.metric, store=store, seeds=experiment.config.seeds)
        for fmt in formats:
            path = experiment.folder / f"table{number}.{suffix[fmt]}"
            write_text(path, render(table, fmt) + "\n")
            written.append(path)
        shown.append(render(table, "md"))
    if plots:
        from selfsynth.reports.plots import write_plots

        written += write_plots(store, experiment.folder / "plots", metric=experiment.config.metric)
    return shown, written


