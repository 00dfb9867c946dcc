"""What an experiment will cost before it runs (``reproduce --dry-run``): each cell's split sizes,
generated and training tokens, judge calls (and, given prices and throughputs, USD and GPU-hours),
summed over the cells still to run."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from selfsynth.errors import UserError
from selfsynth.experiment.cells import cell_done, missing_inputs
from selfsynth.experiment.spec import Cell, CostSettings, Experiment


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


