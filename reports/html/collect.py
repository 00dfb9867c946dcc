"""Read a run folder into what the HTML report shows.

Everything is found through the files the run store writes, never through the folder layout
alone: runs are found by their manifest (``selfsynth.results.iter_runs``); each ``results.json``
names its task, method, seed and, per iteration, the path of its
``records.jsonl`` (relative to the store root); the judge's ``judge_records.jsonl`` sits next to
the records or in the iteration's ``judge_<name>/`` step, the iteration's synthesis files (``rewrite.jsonl``, ``reject.jsonl``) in the sibling
``data/`` folder, and the method-independent steps (``describe.jsonl``, ``select.jsonl``) in the
task's ``_shared/<digest>/`` folders. A file that is missing is simply not shown.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfsynth import results as stored
from selfsynth.errors import UserError
from selfsynth.io import read_json, read_jsonl

log = logging.getLogger(__name__)

SHARED = "_shared"
JUDGE_RECORDS = stored.JUDGE_RECORDS
JUDGE_METRICS = stored.JUDGE_METRICS


@dataclass
class Column:
    """One evaluated model: a method at one iteration (and seed, when a run has several)."""

    key: str
    method: str
    iteration: int
    seed: int | None
    label: str


@dataclass
class Evaluation:
    task: str
    column: Column
    folder: Path
    records: list[dict[str, Any]]
    judge: dict[str, dict[str, Any]]  # sample id -> judge record
    metrics: dict[str, Any]
    judge_metrics: dict[str, Any] | None


@dataclass
class Run:
    task: str
    method: str
    seed: int | None
    results_path: Path
    results: dict[str, Any]
    complete: bool = True  # False: killed or still running (fewer iterations than asked)
    evaluations: list[Evaluation] = field(default_factory=list)
    synthesis: dict[int, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)  # iteration -> stage -> rows


@dataclass
class SharedSynthesis:
    """One ``_shared/<digest>`` folder: descriptions and concept selection of a task's train images."""

    task: str
    digest: str
    descriptions: dict[str, list[dict[str, Any]]]  # image id -> describe rows
    selection: dict[str, dict[str, Any]]  # image id -> select row (with "concepts" names)
    images: dict[str, str]  # image id -> image path (from the describe rows)
    stats: dict[str, Any]


@dataclass
class RunFolder:
    out: Path
    experiment: str
    runs: list[Run]
    columns: list[Column]
    shared: list[SharedSynthesis]
    seeds: dict[str, set] = field(default_factory=dict)  # method -> seeds found

    def shown_seed(self, run: Run) -> int | None:
        """The run's seed where its method has runs of several seeds, else None (not worth a label)."""
        return run.seed if len(self.seeds.get(run.method, ())) > 1 else None


def _read_optional_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = read_json(path)
    except ValueError as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None
    return data if isinstance(data, dict) else None


def judge_folder(eval_folder: Path, judge: str | None = None) -> Path | None:
    """Where an evaluation's judge records are: beside the records (`selfsynth judge`) or in the
    iteration's ``judge_<name>/`` step (`selfsynth run --judge NAME`). With several, ``judge``
    picks one by name; else the first of: beside the records, then the steps by name."""
    found = []
    if (eval_folder / JUDGE_RECORDS).is_file():
        metrics = _read_optional_json(eval_folder / JUDGE_METRICS) or {}
        found.append(((metrics.get("judge") or {}).get("judge"), eval_folder))
    for step in sorted(eval_folder.parent.glob("judge_*")):
        if (step / JUDGE_RECORDS).is_file():
            found.append((step.name[len("judge_"):], step))
    if judge is not None:
        # a step is named after the registry name (local), its metrics after the judge (local-proxy)
        found = [(name, path) for name, path in found if name == judge or path.name == f"judge_{judge}"]
    return found[0][1] if found else None


def load_run_folder(out: str | Path, experiment: str = "default", judge: str | None = None) -> RunFolder:
    out = Path(out)
    root = out / experiment
    if not root.is_dir():
        raise UserError(f"{root}: no such run folder (expected OUT_DIR containing experiment {experiment!r}, written by `selfsynth run`)")
    runs = [Run(run.task, run.method, run.seed, stored.run_results_path(run.path), run.results, run.complete)
            for run in stored.iter_runs(root) if run.results is not None]
    if not runs:
        raise UserError(f"{root}: no run with a finished iteration found (run `selfsynth run --out {out}` first)")
    seeds_by_method: dict[str, set] = {}
    for run in runs:
        seeds_by_method.setdefault(run.method, set()).add(run.seed)
    columns: dict[str, Column] = {}
    from selfsynth.registry import METHODS

    display_name = METHODS.display_name
    for run in runs:
        show_seed = len(seeds_by_method[run.method]) > 1  # one seed per method: short column names
        for entry in run.results.get("iterations", []):
            iteration = int(entry["iteration"])
            seed_part = f"/s{run.seed}" if show_seed and run.seed is not None else ""
            key = f"{run.method}{seed_part}@{iteration}"
            label = f"{display_name(run.method)}{' seed ' + str(run.seed) if seed_part else ''} · iter {iteration}"
            if not run.complete:  # killed or still running: its last iterations are missing
                label += " (incomplete run)"
            column = columns.setdefault(key, Column(key, run.method, iteration, run.seed if seed_part else None, label))
            records_rel = entry.get("records")
            if not records_rel:
                continue
            records_path = out / records_rel
            if not records_path.is_file():
                log.warning("%s: records listed in %s are missing; column %s not shown", records_path, run.results_path, key)
                continue
            folder = records_path.parent
            graded = judge_folder(folder, judge)
            judge_rows = read_jsonl(graded / JUDGE_RECORDS) if graded else []
            run.evaluations.append(Evaluation(
                task=run.task, column=column, folder=folder, records=read_jsonl(records_path),
                judge={str(r["id"]): r for r in judge_rows if "id" in r},
                metrics=_read_optional_json(folder / stored.METRICS) or {},
                judge_metrics=_read_optional_json(graded / JUDGE_METRICS) if graded else None,
            ))
            data = folder.parent / "data"
            stages = {name: read_jsonl(data / f"{name}.jsonl") for name in ("rewrite", "reject") if (data / f"{name}.jsonl").is_file()}
            if stages:
                run.synthesis[iteration] = stages
    from selfsynth.reports.tables import METHOD_ORDER

    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    ordered = sorted(columns.values(), key=lambda c: (order.get(c.method, len(order)), c.method, c.seed or 0, c.iteration))
    return RunFolder(out, experiment, runs, ordered, _load_shared(root), seeds_by_method)


def _load_shared(root: Path) -> list[SharedSynthesis]:
    found = []
    for select_path in sorted(root.rglob("select.jsonl")):
        rel = select_path.relative_to(root).parts
        if SHARED not in rel:
            continue
        folder = select_path.parent
        task = rel[0]
        class_concepts = _read_optional_json(folder / "concepts.json") or {}
        selection = {}
        for row in read_jsonl(select_path):
            if "concepts" not in row:  # written before select rows named their concepts
                row = {**row, "concepts": list(class_concepts.get(row.get("label"), []))}
            if len(row["concepts"]) != len(row.get("scores") or []):
                row = {**row, "concepts": [f"concept {j + 1}" for j in range(len(row.get("scores") or []))]}
            selection[str(row["id"])] = row
        descriptions: dict[str, list[dict[str, Any]]] = {}
        images: dict[str, str] = {}
        if (folder / "describe.jsonl").is_file():
            for row in read_jsonl(folder / "describe.jsonl"):
                descriptions.setdefault(str(row["id"]), []).append(row)
                images.setdefault(str(row["id"]), str(row.get("image", "")))
        stats = _read_optional_json(folder / "select.stats.json") or {}
        found.append(SharedSynthesis(task, folder.name, descriptions, selection, images, stats))
    return found


def test_split_images(run: Run) -> dict[str, str]:
    """{sample id: image path} of a run's test split, from the task its results name (the records
    carry ids only). Empty when the dataset is not on this machine: the report then shows no
    thumbnails rather than failing."""
    from selfsynth.tasks.base import build_task, parse_option_pairs

    config = run.results.get("config") or {}
    root = config.get("root")
    if not root or not Path(root).is_dir():
        return {}
    try:
        from selfsynth.registry import TASKS

        options = parse_option_pairs(list(config.get("task_options") or []))
        if "verify" in {f.name for f in dataclasses.fields(TASKS.get(run.task).Options)}:
            options["verify"] = "false"  # no need to open every image here: an unreadable one just gets no thumbnail
        task = build_task(run.task, root, options)
        return {s.id: s.image_path for s in task.load("test")}
    except (UserError, OSError, ValueError, json.JSONDecodeError) as exc:
        log.warning("%s: test images of task %s not readable (%s); no thumbnails", root, run.task, exc)
        return {}
