"""Experiments as files: one YAML names the tasks, methods, seeds, judge, benchmarks and tables of
a paper table; ``reproduce`` expands it into cells (task × method × seed), runs the cells that are
not finished, then writes the tables and plots.

- ``spec``: the experiment file's schema and ``load_experiment`` (every cell's resolved
  ``RunConfig``, written to ``<out>/experiments/<name>/cells/<cell>.yaml`` and runnable by hand with
  ``selfsynth run --config``);
- ``cells``: each cell's state in the run store, the extra evaluations and the tables;
- ``cost``: the ``--dry-run`` plan and estimate;
- ``launch``: running the unfinished cells (in process, local processes, submitit / Slurm).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from selfsynth.errors import UserError
from selfsynth.experiment.cells import (
    EXPERIMENT_RECORD, OnChange, cell_change, cell_done, cell_results_path, cell_unit, check_unchanged,
    missing_inputs, resolve_changes, run_extras, selection_change, selection_path, write_cell_files,
    write_tables,
)
from selfsynth.experiment.cost import estimate_cell, format_plan, plan, split_sizes
from selfsynth.experiment.launch import Launcher, LauncherKind, lanes, make_launcher, run_cells, run_lane
from selfsynth.experiment.spec import (
    Cell, CostSettings, Experiment, ExperimentConfig, SlurmSettings, TaskEntry, TransferEntry,
    load_experiment, with_cells,
)
from selfsynth.io import claim_output_dir

__all__ = [
    "Cell", "CostSettings", "EXPERIMENT_RECORD", "Experiment", "ExperimentConfig", "Launcher", "LauncherKind",
    "OnChange", "SlurmSettings", "TaskEntry", "TransferEntry", "cell_change", "cell_done",
    "cell_results_path", "cell_unit", "check_unchanged", "dry_run", "estimate_cell", "format_plan", "lanes",
    "load_experiment", "make_launcher", "missing_inputs", "plan", "reproduce", "resolve_changes", "run_cells",
    "run_extras", "run_lane", "selection_change", "selection_path", "split_sizes", "with_cells",
    "write_cell_files", "write_tables",
]


def reproduce(path: str | Path, out: str | None = None, launcher: LauncherKind = "local", jobs: int = 1,
              progress: Callable[[str], None] | None = None, on_change: OnChange = "stop",
              threads: int | None = None) -> dict[str, Any]:
    """Run what is missing of an experiment, then write its tables and plots. Returns
    {experiment, outcomes, tables (markdown), files, failed}. A cell whose run-store folder holds a
    run of another config (whatever experiment made it) stops everything with one line naming the
    first differing field (``on_change="stop"``), or runs in a folder of its own (``"new_run"``)."""
    progress = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    experiment = load_experiment(path, out)
    missing = missing_inputs(experiment)
    if missing:
        raise UserError(f"{path}: {len(missing)} input(s) missing; first: {missing[0]} (see `selfsynth reproduce {path} --dry-run`)")
    # the run store is a run's output folder: claimed before the experiment writes its records there
    claim_output_dir(experiment.out, "run", flag="--out")
    check_unchanged(experiment)
    experiment = resolve_changes(experiment, on_change)
    outcomes = run_cells(experiment, launcher, jobs, progress, threads)
    failed = [o for o in outcomes if not o["ok"]]
    for outcome in failed:
        progress(f"FAILED {outcome['cell']}: {outcome.get('error', '')} (log: {outcome.get('log')})")
    if launcher != "slurm":  # on Slurm they ran as jobs after their lanes (GPU work stays off the login node)
        run_extras(experiment, progress, on_change)
    tables, files = write_tables(experiment)
    return {"experiment": experiment.config.name, "outcomes": outcomes, "failed": failed,
            "tables": tables, "files": [str(f) for f in files], "folder": str(experiment.folder),
            "claims": _claims_block(experiment)}


def _claims_block(experiment: Experiment) -> str:
    """The paper's claims over the experiment's finished cells, as `selfsynth claims` prints them."""
    from selfsynth.experiment.cells import cell_results_path, selection_path
    from selfsynth.reports.claims import check_claims, render_claims

    run_dirs = sorted({*(cell_results_path(c).parent for c in experiment.cells if cell_results_path(c).is_file()),
                       *(selection_path(c).parent for c in experiment.selection if selection_path(c).is_file())})
    try:
        return render_claims(check_claims(run_dirs, as_experiment=experiment.config.name))
    except UserError as exc:  # e.g. no cell finished: the run's outcome and its tables stand
        return f"claims: not checked ({exc})"


def dry_run(path: str | Path, out: str | None = None) -> tuple[dict[str, Any], str]:
    experiment = load_experiment(path, out)
    report = plan(experiment)
    return report, format_plan(report)
