"""What an experiment will cost before it runs (``reproduce --dry-run``), stage by stage.

The estimate lists *units of work* and counts each once, the way the run store and the response
cache share them:

- ``eval`` / ``judge`` of iteration 0 (the base model on a test subset): once per task and test
  subset, whichever methods need it (a seeded subset under ``--limit``, else the whole split,
  shared across seeds too); later iterations once per cell;
- ``describe`` (step 1): once per task, training subset and sampling seed, for every method that
  describes images (``ours``, ``no_filter``) and for Table 13's selection evaluation;
- ``rewrite`` (iteration 1): per method and hidden-context choice (``no_filter`` with
  ``synth.no_filter_concepts: selected`` shares ``ours``'s); ``reject`` and ``train`` per cell;
- ``general``: lmms-eval on the base and the final model of each cell (each in its own step);
- ``select_eval``: steps 0-2 per (task, seed) (descriptions shared with ``ours``); ``transfer``:
  the final model of a cell on another task's test split.

Answers are generated sequences (a sampled request of ``n`` samples is ``n`` answers); tokens are
answers × ``max_new_tokens`` × ``cost.answer_fill``. The judge's price is its own config's
(``judging.<judge>.price_*_per_mtok``, what the run reports) and nothing for the local judge. A
cell whose dataset size is unknown is left out of the totals and named on a loud line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfsynth.errors import UserError
from selfsynth.experiment.cells import cell_change, cell_done, missing_inputs
from selfsynth.experiment.spec import Cell, CostSettings, Experiment

STAGES = ("eval", "judge", "describe", "rewrite", "reject", "train", "general", "select_eval", "transfer")
# lmms-eval's multiple-choice benchmarks answer with a letter or a short phrase
GENERAL_ANSWER_TOKENS = 16
# published sizes of the general benchmarks' evaluated splits, when no local copy is here to count
GENERAL_SIZES = {"mmstar": 1500, "seedbench_2_plus": 2277, "mmmu_val": 900, "mme": 2374, "mmbench_en_dev": 4329}


def split_sizes(cell: Cell) -> tuple[int, int] | None:
    """(train, test) images of the cell's task after --limit: from the dataset when it is here,
    else from the experiment file or the task's published split sizes."""
    full = _full_sizes(cell)
    if full is None:
        return None
    config = cell.config
    test_limit = config.test_limit if config.test_limit is not None else config.limit
    return (min(full[0], config.limit or full[0]), min(full[1], test_limit or full[1]))


def _full_sizes(cell: Cell) -> tuple[int, int] | None:
    from selfsynth.tasks.base import build_task, parse_option_pairs, task_class

    config = cell.config
    if config.root is not None and Path(config.root).is_dir():
        try:
            task = build_task(cell.task, config.root, parse_option_pairs(config.task_options))
            return (len(task.load("train")), len(task.load("test")))
        except UserError:
            pass
    if cell.entry.split_sizes:
        return (int(cell.entry.split_sizes[0]), int(cell.entry.split_sizes[-1]))
    return task_class(cell.task).expected_split_sizes(parse_option_pairs(config.task_options))


def _describe_prompts(cell: Cell) -> int:
    """Step-1 prompt variants a run uses: the first ``describe_prompts`` of the task's list."""
    from selfsynth.tasks.base import build_task, parse_option_pairs

    wanted = cell.config.synth.describe_prompts
    try:
        task = build_task(cell.task, cell.config.root, parse_option_pairs(cell.config.task_options))
        return min(wanted, len(task.prompts().describe))
    except Exception:  # noqa: BLE001 - no dataset here: the configured number
        return wanted


@dataclass
class Unit:
    """One piece of work that runs once, however many cells need it."""

    stage: str
    cells: list[str] = field(default_factory=list)  # cell ids needing it, first one is charged
    answers: int = 0
    generated_tokens: float = 0.0
    training_tokens: float = 0.0
    judge_calls: int = 0
    judge_usd: float | None = None
    gpus: int = 1


class Ledger:
    def __init__(self, cost: CostSettings):
        self.cost = cost
        self.units: dict[tuple, Unit] = {}

    def add(self, key: tuple, cell: str, stage: str, **work: Any) -> None:
        unit = self.units.get(key)
        if unit is None:
            unit = self.units[key] = Unit(stage, **work)
        if cell not in unit.cells:
            unit.cells.append(cell)

    def generate(self, key: tuple, cell: str, stage: str, answers: int, max_new_tokens: int, gpus: int = 1) -> None:
        self.add(key, cell, stage, answers=answers, generated_tokens=answers * max_new_tokens * self.cost.answer_fill, gpus=gpus)


def _judge_price(cell: Cell) -> tuple[float, float] | None:
    """(USD per M prompt tokens, per M completion tokens) of the cell's judge, from its own config;
    (0, 0) for the local judge; None when the judge has no price set."""
    judge = cell.config.judge
    if judge == "local":
        return (0.0, 0.0)
    section = getattr(cell.config.judging, judge, None)
    prices = (getattr(section, "price_input_per_mtok", None), getattr(section, "price_output_per_mtok", None))
    return prices if None not in prices else None  # type: ignore[return-value]


def _general_answers(cell: Cell) -> int | None:
    sizes = []
    for name in cell.config.general:
        size = GENERAL_SIZES.get(name)
        if size is None:
            return None
        limit = cell.config.general_limit
        sizes.append(min(size, limit) if limit else size)
    return sum(sizes)


def _subset_key(seed: int, limit: int | None, full: int) -> Any:
    # the whole split is the same for every seed; a --limit subset is drawn per seed
    return "all" if limit is None or limit >= full else seed


def _cell_units(ledger: Ledger, cell: Cell, gpus: int) -> str | None:
    """Add the cell's work to ``ledger``; returns why it could not be sized, or None."""
    from selfsynth.registry import METHODS

    full = _full_sizes(cell)
    if full is None:
        return "dataset size unknown (add tasks[].split_sizes)"
    n_train, n_test = split_sizes(cell)  # type: ignore[misc]
    c, s = cell.config, cell.config.synth
    runner = METHODS.get(cell.method)
    k = c.iterations if runner.trains else 0
    test_limit = c.test_limit if c.test_limit is not None else c.limit
    test_key = (cell.task, c.model, _subset_key(cell.seed, test_limit, full[1]), tuple(c.task_options))
    train_key = (cell.task, c.model, _subset_key(cell.seed, c.limit, full[0]), tuple(c.task_options))
    price = _judge_price(cell) if c.judge else None
    for r in range(k + 1):
        where = ("base",) + test_key if r == 0 else (cell.id, r)
        ledger.generate(("eval",) + where, cell.id, "eval", n_test, c.eval_max_new_tokens, gpus)
        if c.judge:
            usd = None if price is None else n_test * (ledger.cost.judge_input_tokens * price[0] + ledger.cost.judge_output_tokens * price[1]) / 1e6
            ledger.add(("judge", c.judge) + where, cell.id, "judge", judge_calls=n_test, judge_usd=usd)
    if runner.trains and k > 0:
        if getattr(runner, "describes_images", False):
            _describe(ledger, cell, train_key, n_train, gpus)
        if getattr(runner, "generates_data", True):
            concepts = {"ours": "selected", "lge": "class"}.get(cell.method, cell.method)
            if cell.method == "no_filter" and s.no_filter_concepts == "selected":
                concepts = "selected"
            ledger.generate(("rewrite", concepts, cell.seed) + train_key, cell.id, "rewrite",
                            n_train * s.rewrite_questions, s.rewrite_max_new_tokens, gpus)
            for r in range(2, k + 1):
                ledger.generate(("reject", cell.id, r), cell.id, "reject",
                                n_train * s.reject_questions * s.reject_samples, s.reject_max_new_tokens, gpus)
        mix = 2.0 if c.train.general_data else 1.0  # 1:1 general instruction rows
        for r in range(1, k + 1):
            rows = n_train * (s.rewrite_questions if r == 1 else s.reject_questions)
            ledger.add(("train", cell.id, r), cell.id, "train", gpus=gpus,
                       training_tokens=rows * mix * c.train.epochs * (ledger.cost.image_tokens + ledger.cost.text_tokens))
    if c.general:
        answers = _general_answers(cell)
        if answers is None:
            return f"general benchmarks {', '.join(c.general)}: size unknown"
        for model in ("base", "final") if k > 0 else ("base",):
            ledger.generate(("general", cell.id, model), cell.id, "general", answers, GENERAL_ANSWER_TOKENS, gpus)
    return None


def _describe(ledger: Ledger, cell: Cell, train_key: tuple, n_train: int, gpus: int) -> None:
    s = cell.config.synth
    ledger.generate(("describe", cell.seed) + train_key, cell.id, "describe",
                    n_train * _describe_prompts(cell) * s.describe_samples, s.describe_max_new_tokens, gpus)


def estimate(experiment: Experiment) -> tuple[Ledger, dict[str, str]]:
    """Every unit of work of the experiment, and {cell id: why it could not be sized}."""
    cost = experiment.config.cost
    gpus = max(1, experiment.config.slurm.gpus_per_cell)
    ledger = Ledger(cost)
    unsized: dict[str, str] = {}
    for cell in experiment.cells:
        reason = _cell_units(ledger, cell, gpus)
        if reason:
            unsized[cell.id] = reason
    for cell in experiment.selection:  # Table 13: steps 0-2 per encoder, descriptions shared
        full = _full_sizes(cell)
        label = f"select_eval:{cell.task}__seed_{cell.seed}"
        if full is None:
            unsized[label] = "dataset size unknown (add tasks[].split_sizes)"
            continue
        n_train = split_sizes(cell)[0]  # type: ignore[index]
        train_key = (cell.task, cell.config.model, _subset_key(cell.seed, cell.config.limit, full[0]), tuple(cell.config.task_options))
        _describe(ledger, cell, train_key, n_train, gpus)
        ledger.add(("select_eval", cell.task, cell.seed), label, "select_eval")
    for item in experiment.transfer:
        for seed in experiment.config.seeds:
            source = next((c for c in experiment.cells if c.task == item.train_task and c.method == item.method and c.seed == seed), None)
            target = next((c for c in experiment.cells if c.task == item.eval_task and c.seed == seed), None)
            if source is None or target is None:
                continue
            sizes = split_sizes(target)
            label = f"transfer:{item.train_task}__{item.method}__seed_{seed}->{item.eval_task}"
            if sizes is None:
                unsized[label] = "dataset size unknown (add tasks[].split_sizes)"
                continue
            ledger.generate(("transfer", source.id, item.eval_task), label, "transfer", sizes[1], target.config.eval_max_new_tokens, gpus)
    return ledger, unsized


def _hours(unit: Unit, cost: CostSettings) -> float | None:
    if not (cost.gen_tokens_per_s and cost.train_tokens_per_s):
        return None
    # throughputs are per GPU: a lane job with g GPUs runs each stage about g times faster
    return (unit.generated_tokens / cost.gen_tokens_per_s + unit.training_tokens / cost.train_tokens_per_s) / 3600


TOTAL_KEYS = ("answers", "generated_tokens", "training_tokens", "judge_calls", "judge_usd", "gpu_hours")


def _sum(units: list[Unit], cost: CostSettings) -> dict[str, Any]:
    totals: dict[str, Any] = {
        "answers": sum(u.answers for u in units),
        "generated_tokens": int(sum(u.generated_tokens for u in units)),
        "training_tokens": int(sum(u.training_tokens for u in units)),
        "judge_calls": sum(u.judge_calls for u in units),
    }
    usd = [u.judge_usd for u in units if u.judge_calls]
    if usd and None not in usd:
        totals["judge_usd"] = round(sum(usd), 2)  # type: ignore[arg-type]
    hours = [_hours(u, cost) for u in units]
    if units and None not in hours:
        totals["gpu_hours"] = round(sum(hours), 2)  # type: ignore[arg-type]
    return totals


def estimate_cell(cell: Cell, cost: CostSettings) -> dict[str, Any]:
    """One cell on its own (nothing shared with other cells): its units summed."""
    from selfsynth.experiment.spec import with_cells

    experiment = with_cells(_alone(cell, cost), [cell])
    ledger, unsized = estimate(experiment)
    if unsized:
        return {"cell": cell.id, "unknown": unsized[cell.id]}
    sizes = split_sizes(cell)
    return {"cell": cell.id, "n_train": sizes[0], "n_test": sizes[1], **_sum(list(ledger.units.values()), cost)}  # type: ignore[index]


def _alone(cell: Cell, cost: CostSettings) -> Experiment:
    import dataclasses

    from selfsynth.experiment.spec import ExperimentConfig

    config = ExperimentConfig(name="cell", tasks=[cell.task], methods=[cell.method], seeds=[cell.seed], cost=cost)
    return Experiment(Path("."), config, [cell.entry], [], [cell], [])  # type: ignore[call-arg]


def lane_hours(experiment: Experiment) -> dict[tuple[str, int], float] | None:
    """GPU-hours of each (task, seed) lane's cells (shared work charged to the lane that runs it
    first), or None without throughputs: what sizes a lane job's time limit."""
    cost = experiment.config.cost
    if not (cost.gen_tokens_per_s and cost.train_tokens_per_s):
        return None
    ledger, _ = estimate(experiment)
    lanes = {c.id: c.lane for c in experiment.cells}
    hours: dict[tuple[str, int], float] = {}
    for unit in ledger.units.values():
        lane = lanes.get(unit.cells[0])
        if lane is not None:
            hours[lane] = hours.get(lane, 0.0) + (_hours(unit, cost) or 0.0)
    return hours


def plan(experiment: Experiment) -> dict[str, Any]:
    """What --dry-run prints: every cell with its status and its share of the work, a per-stage
    table of the work still to run, the cells that could not be sized, the missing inputs."""
    cost = experiment.config.cost
    ledger, unsized = estimate(experiment)
    done = {cell.id: cell_done(cell) for cell in experiment.cells}
    # work is in the store (or the cache) once any cell that needs it has finished
    todo = [u for u in ledger.units.values() if not any(done.get(c, False) for c in u.cells)]
    rows = []
    for cell in experiment.cells:
        charged = [u for u in ledger.units.values() if u.cells[0] == cell.id]
        sizes = split_sizes(cell)
        row: dict[str, Any] = {"cell": cell.id, "done": done[cell.id]}
        change = cell_change(cell)
        if change is not None:  # its folder holds a run of another config
            row["changed"] = change
        if cell.id in unsized:
            row["unknown"] = unsized[cell.id]
        else:
            row.update({"n_train": sizes[0], "n_test": sizes[1], **_sum(charged, cost)})  # type: ignore[index]
        rows.append(row)
    stages = {stage: _sum([u for u in todo if u.stage == stage], cost) for stage in STAGES}
    stages = {stage: totals for stage, totals in stages.items() if any(totals.get(k) for k in ("answers", "training_tokens", "judge_calls")) or any(u.stage == stage for u in todo)}
    judges = sorted({c.config.judge for c in experiment.cells if c.config.judge})
    return {"experiment": experiment.config.name, "cells": rows, "to_run": sum(not d for d in done.values()),
            "stages": stages, "totals_to_run": _sum(todo, cost), "unsized": unsized, "judges": judges,
            "missing": missing_inputs(experiment)}


def format_plan(report: dict[str, Any]) -> str:
    from tabulate import tabulate

    def fmt(value: Any) -> str:
        if isinstance(value, bool):
            return "done" if value else "to run"
        if isinstance(value, (int, float)) and value >= 1e6:
            return f"{value / 1e6:.1f} M"
        return "–" if value is None else str(value)

    columns = ["cell", "done", "n_train", "n_test", "answers", "generated_tokens", "training_tokens", "judge_calls", "judge_usd", "gpu_hours"]
    rows = [[fmt(r.get(c)) for c in columns] for r in report["cells"]]
    lines = [f"experiment {report['experiment']}: {len(report['cells'])} cells, {report['to_run']} to run",
             tabulate(rows, headers=columns, tablefmt="github", disable_numparse=True),
             "(work that cells share is counted once, on the first cell that needs it)", "", "to run, per stage:"]
    stage_rows = [[stage, *(fmt(t.get(k)) for k in TOTAL_KEYS)] for stage, t in report["stages"].items()]
    stage_rows.append(["total", *(fmt(report["totals_to_run"].get(k)) for k in TOTAL_KEYS)])
    lines.append(tabulate(stage_rows, headers=["stage", *TOTAL_KEYS], tablefmt="github", disable_numparse=True))
    if "local" in report["judges"]:
        lines.append("judge local: runs on this machine, no price")
    if report["totals_to_run"].get("judge_calls") and "judge_usd" not in report["totals_to_run"]:
        lines.append("judge USD: set judging.<judge>.price_input_per_mtok and price_output_per_mtok in the overrides")
    if "gpu_hours" not in report["totals_to_run"]:
        lines.append("GPU-hours: give cost.gen_tokens_per_s and cost.train_tokens_per_s (from `make bench` or an earlier run)")
    for label, reason in report["unsized"].items():
        lines.append(f"NOT SIZED (left out of every total): {label}: {reason}")
    lines += [f"missing: {line}" for line in report["missing"]]
    lines += [f"changed: {r['cell']}: its folder holds a run of another config ({r['changed']}); reproduce stops there "
              "unless --new-run-on-change" for r in report["cells"] if r.get("changed")]
    return "\n".join(lines)
