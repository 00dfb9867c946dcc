"""Write the static HTML report of a run folder.

The report is a folder that opens from disk: ``index.html``, ``report.css``, ``report.js``, the
data under ``data/`` and thumbnails under ``thumbs/``. Browsers refuse ``fetch()`` of local files,
so every data file is a small script that hands one JSON value to the page
(``SELFSYNTH.receive(name, value)``); the page loads the chunk it needs when it needs it, so a
6,000-image run opens as fast as a toy one. Answers, labels and concept names travel as JSON
strings and are shown with ``textContent`` only.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

from selfsynth.errors import UserError
from selfsynth.io import claim_output_dir, read_jsonl, read_mapping, record_owned_files, write_text
from selfsynth.reports.html.collect import RunFolder, load_run_folder, test_split_images
from selfsynth.reports.html.thumbs import thumbnail_name, write_thumbnails

log = logging.getLogger(__name__)

REPORT_VERSION = 1
SAMPLES_PER_CHUNK = 100
TRAIN_IMAGES_PER_CHUNK = 25
STATIC_FILES = ("index.html", "report.css", "report.js")
METRIC_FIELDS = {"accuracy": "match", "accuracy_paper": "paper_match"}


@dataclass
class ReportSummary:
    index: Path
    samples: int
    columns: int
    train_images: int
    thumbnails: int
    thumbnail_failures: int
    seconds: float


def _script(name: str, value: Any) -> str:
    # a JavaScript file, not JSON: NaN and Infinity (a judge's degenerate score) are valid literals here
    return f"SELFSYNTH.receive({json.dumps(name)}, {json.dumps(value, ensure_ascii=False, separators=(',', ':'))});\n"


def _finite(value: Any) -> Any:
    return value if not isinstance(value, float) or math.isfinite(value) else None


# -- samples -------------------------------------------------------------------------------------
def _cell(record: dict[str, Any], judged: dict[str, Any] | None) -> dict[str, Any]:
    cell: dict[str, Any] = {"answer": str(record.get("answer", "")), "match": bool(record.get("match")),
                            "paper_match": bool(record.get("paper_match"))}
    if judged is not None:
        detail = judged.get("judge_detail") or {}
        cell.update({
            "ee": _finite(judged.get("ee")), "cs": _finite(judged.get("cs")), "fs": _finite(judged.get("fs")),
            "status": judged.get("judge_status"), "error": judged.get("judge_error"),
            # the judge's claims as it wrote them (claim, consistent, reference, reference_similarity,
            # contrast, contrast_similarity): copied, not rebuilt, since a large run has ~10^6 of them
            "claims": detail.get("attribute_claims") or [],
            "other_claims": detail.get("other_claims") or [],
            "rationale": detail.get("rationale"),
        })
    return cell


def _samples(folder: RunFolder) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    """One entry per test image (task order, then record order) with its cell per column, and
    {task: {id: image path}}."""
    samples: dict[tuple[str, str], dict[str, Any]] = {}
    images: dict[str, dict[str, str]] = {}
    for run in folder.runs:
        if run.task not in images and run.evaluations:
            images[run.task] = test_split_images(run)
        for ev in run.evaluations:
            for record in ev.records:
                sid = str(record["id"])
                entry = samples.setdefault((run.task, sid), {"task": run.task, "id": sid, "label": str(record.get("label", "")),
                                                              "cells": {}, "concepts": None, "question": record.get("question")})
                judged = ev.judge.get(sid)
                entry["cells"][ev.column.key] = _cell(record, judged)
                if entry["concepts"] is None and judged is not None and judged.get("concepts") is not None:
                    entry["concepts"] = [str(c) for c in judged["concepts"]]
    return list(samples.values()), images


# -- synthesis -----------------------------------------------------------------------------------
def _rewrite_row(row: dict[str, Any]) -> dict[str, Any]:
    return {"question": row.get("question"), "type": row.get("question_type"), "raw": row.get("raw_answer"),
            "answer": row.get("answer"), "kept": bool(row.get("kept")), "reason": row.get("reason"),
            "ratio": _finite(row.get("label_ratio")), "mentioned": row.get("concepts_mentioned") or [],
            "concepts": row.get("concepts") or []}


def _reject_row(row: dict[str, Any]) -> dict[str, Any]:
    return {"question": row.get("candidate_question"), "type": row.get("candidate_question_type"),
            "candidates": row.get("candidates") or [], "scores": row.get("scores"), "has_label": row.get("has_label") or [],
            "chosen": row.get("chosen"), "kept": bool(row.get("kept")), "reason": row.get("reason"),
            "fallback_question": row.get("question") if not row.get("kept") else None, "answer": row.get("answer")}


def _train_images(folder: RunFolder) -> list[dict[str, Any]]:
    """One entry per training image that any synthesis file mentions."""
    images: dict[tuple[str, str], dict[str, Any]] = {}

    def entry(task: str, sid: str, label: str, image: str | None) -> dict[str, Any]:
        found = images.setdefault((task, sid), {"task": task, "id": sid, "label": label, "image": None, "shared": [], "steps": []})
        if image and not found["image"]:
            found["image"] = image
        return found

    for shared in folder.shared:
        for sid, row in shared.selection.items():
            scores = [_finite(s) for s in row.get("scores") or []]
            kept = {name: rank for rank, name in enumerate(row.get("selected") or [])}
            threshold = _finite(row.get("threshold"))
            entry(shared.task, sid, str(row.get("label", "")), shared.images.get(sid))["shared"].append({
                "digest": shared.digest,
                "concepts": [{"name": name, "score": score, "kept": name in kept, "rank": kept.get(name),
                              "above": threshold is None or (score is not None and score > threshold)}
                             for name, score in zip(row["concepts"], scores)],
                "threshold": threshold, "min_keep_filled": bool(row.get("min_keep_filled")),
                "precision": _finite(row.get("precision")), "random_precision": _finite(row.get("random_precision")),
                "descriptions": [{"prompt": d.get("prompt_index"), "sample": d.get("sample_index"), "text": str(d.get("text", ""))}
                                 for d in shared.descriptions.get(sid, [])],
            })
    for run in folder.runs:
        for iteration, stages in sorted(run.synthesis.items()):
            for stage, rows in stages.items():
                grouped: dict[str, list[dict[str, Any]]] = {}
                for row in rows:
                    grouped.setdefault(str(row["id"]), []).append(row)
                convert = _rewrite_row if stage == "rewrite" else _reject_row
                for sid, group in grouped.items():
                    first = group[0]
                    entry(run.task, sid, str(first.get("label", "")), first.get("image"))["steps"].append({
                        "method": run.method, "seed": folder.shown_seed(run), "iteration": iteration, "stage": stage,
                        "rows": [convert(r) for r in sorted(group, key=lambda r: r.get("question_index", 0))],
                    })
    ordered = sorted(images.values(), key=lambda e: (e["task"], e["label"], e["id"]))
    for item in ordered:
        item["steps"].sort(key=lambda s: (s["method"], s["seed"] or 0, s["iteration"]))
    return ordered


# -- overview ------------------------------------------------------------------------------------
def _table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], notes: Sequence[str] = ()) -> dict[str, Any]:
    return {"title": title, "columns": list(columns), "rows": [[_finite(v) for v in row] for row in rows], "notes": list(notes)}


def _three(value: Any) -> Any:
    return f"{value:.3f}" if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else value


def _evaluations_table(folder: RunFolder) -> dict[str, Any] | None:
    """One row per evaluated model: what the run folder holds, with or without paper tables."""
    order = {c.key: i for i, c in enumerate(folder.columns)}
    per_column = []
    for run in folder.runs:
        for ev in sorted(run.evaluations, key=lambda e: order[e.column.key]):
            jm = ev.judge_metrics or {}
            per_column.append([
                run.task, ev.column.method, run.seed if run.seed is not None else "-", ev.column.iteration,
                len(ev.records), *(_three(v) for v in (ev.metrics.get("accuracy"), ev.metrics.get("accuracy_paper"),
                                                        jm.get("ee"), jm.get("cs"), jm.get("fs_mean"))),
                (jm.get("judge") or {}).get("judge", "-") if jm else "not judged",
            ])
    if not per_column:
        return None
    notes = sorted({(ev.judge_metrics or {}).get("note") for run in folder.runs for ev in run.evaluations} - {None})
    return _table(
        "Accuracy, EE, CS and FS of each evaluated model",
        ["task", "method", "seed", "iteration", "n", "accuracy", "accuracy (paper rule)", "EE", "CS", "FS (perplexity, lower is better)", "judge"],
        per_column, notes=notes,
    )


def _store(folder: RunFolder):
    """The paper tables' view of the store (``selfsynth.reports.tables.load_store``), or None
    where that API is not there."""
    from selfsynth.reports import tables as store_tables

    load_store = getattr(store_tables, "load_store", None)
    if load_store is None:
        return None
    try:
        return load_store([folder.out], folder.experiment)
    except UserError as exc:
        log.info("paper tables not shown: %s", exc)
        return None


def _store_tables(folder: RunFolder, store: Any) -> list[dict[str, Any]]:
    """The paper's tables that the stored results support (``selfsynth.reports.tables``); a table
    without rows is left out."""
    from selfsynth.reports import tables as store_tables

    build_table, format_cell = getattr(store_tables, "build_table", None), getattr(store_tables, "format_cell", None)
    if store is None or build_table is None or format_cell is None:
        return []
    found = []
    for number in getattr(store_tables, "TABLES", ()):
        try:
            table = build_table(number, [folder.out], experiment=folder.experiment, store=store)
        except UserError as exc:
            log.info("table %s not shown: %s", number, exc)
            continue
        if not table.rows:
            continue
        rows = [[format_cell(row.get(c), table.digits.get(c, 3)) for c in table.columns] for row in table.rows]
        found.append(_table(table.title, table.columns, rows, notes=list(table.footer)))
    return found


def _series(folder: RunFolder) -> list[dict[str, Any]]:
    """Accuracy per iteration, one line per (task, method, seed): the overview's plot."""
    plots: dict[str, dict[str, Any]] = {}
    for run in folder.runs:
        points = [[ev.column.iteration, ev.metrics.get("accuracy")] for ev in run.evaluations if ev.metrics.get("accuracy") is not None]
        if not points:
            continue
        plot = plots.setdefault(run.task, {"task": run.task, "metric": "accuracy", "lines": []})
        name = run.method + (f" seed {run.seed}" if folder.shown_seed(run) is not None else "")
        plot["lines"].append({"name": name, "points": sorted(points)})
    return list(plots.values())


def _plot_files(store: Any, target: Path, written: list[Path]) -> list[dict[str, str]]:
    """The figures of ``selfsynth.reports.plots`` (SVG: sharp on screen and on paper)."""
    try:
        from selfsynth.reports import plots
    except ImportError:
        return []
    write_plots = getattr(plots, "write_plots", None)
    if store is None or write_plots is None:
        return []
    # the figures go into the report's own plots/ (claimed with it); files there that an earlier
    # report wrote and this one does not are removed with the report's other stale files
    figures = [Path(p) for p in write_plots(store, target)]
    written.extend(figures)
    return [{"title": p.stem.replace("_", " "), "file": f"plots/{p.name}"} for p in figures if p.suffix == ".svg"]


# -- regression ----------------------------------------------------------------------------------
def _regressions(paths: Sequence[str | Path], folder: RunFolder) -> list[dict[str, Any]]:
    by_folder = {ev.folder.resolve(): (run.task, ev.column.key) for run in folder.runs for ev in run.evaluations}
    pages = []
    for path in paths:
        path = Path(path)
        report = read_mapping(path, "the JSON written by `selfsynth regress --out FILE`", flag="--regress")
        if not {"baseline", "candidate", "delta", "metric"} <= set(report):
            raise UserError(f"--regress {path}: expected the JSON of `selfsynth regress --out` (baseline, candidate, delta, metric)")
        sides = {}
        hits: dict[str, dict[str, bool]] = {}
        for side in ("baseline", "candidate"):
            where = _stored_folder(path, report[side].get("folder"))
            sides[side] = by_folder.get(where.resolve()) if where is not None else None
            records = where / "records.jsonl" if where is not None else None
            if "lost_ids" not in report and records is not None and records.is_file():
                field = METRIC_FIELDS.get(report["metric"], "match")
                hits[side] = {str(r["id"]): bool(r.get(field)) for r in read_jsonl(records)}
        lost = gained = None
        if "lost_ids" in report:  # what the decision rested on, stored with it
            lost, gained = [str(i) for i in report["lost_ids"]], [str(i) for i in report.get("gained_ids", [])]
        elif len(hits) == 2:  # a file written before the ids were stored: recounted from the folders now
            base, cand = hits["baseline"], hits["candidate"]
            lost = [i for i in base if base[i] and not cand.get(i, False)]
            gained = [i for i in base if not base[i] and cand.get(i, False)]
        pages.append({"file": str(path), "report": report, "baseline_column": sides["baseline"], "candidate_column": sides["candidate"],
                      "task": report.get("task"), "lost": lost, "gained": gained})
    return pages


def _stored_folder(regress_file: Path, folder: Any) -> Path | None:
    """A folder named in a regress.json: absolute as written since the ids are stored; a relative
    one (older files) is read relative to the file, then to the current directory."""
    if not folder:
        return None
    where = Path(str(folder))
    if where.is_absolute():
        return where
    beside = regress_file.parent / where
    return beside if beside.exists() else where


# -- writing -------------------------------------------------------------------------------------
def _chunks(items: Sequence[Any], size: int) -> Iterable[tuple[int, Sequence[Any]]]:
    for start in range(0, len(items), size):
        yield start // size, items[start : start + size]


def default_report_dir(out: str | Path, experiment: str = "default") -> Path:
    return Path(out) / ("report" if experiment == "default" else f"report_{experiment}")


def build_report(out: str | Path, html_dir: str | Path | None = None, experiment: str = "default",
                 regress: Sequence[str | Path] = (), title: str | None = None, judge: str | None = None) -> ReportSummary:
    """Write the report of run folder ``out`` into ``html_dir`` (default ``<out>/report``);
    ``judge`` picks the judge shown where an evaluation was graded by several."""
    started = time.time()
    folder = load_run_folder(out, experiment, judge)
    target = Path(html_dir) if html_dir is not None else default_report_dir(out, experiment)
    # a folder this command did not make is refused, never cleared (a user's --html may hold their data)
    claim_output_dir(target, "report", flag="--html", adopt=("index.html", "data/meta.js"))
    data_dir, thumbs_dir = target / "data", target / "thumbs"
    data_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def write(path: Path, text: str) -> None:
        write_text(path, text)
        written.append(path)

    store = _store(folder)
    samples, images = _samples(folder)
    train = _train_images(folder)
    thumb_jobs: list[tuple[str, str]] = []

    def thumb_for(path: str | None) -> str:
        name = thumbnail_name(path) if path else None
        if name is None:
            return ""
        thumb_jobs.append((path, name))
        return name

    tasks = list(dict.fromkeys([s["task"] for s in samples] + [t["task"] for t in train]))
    labels = list(dict.fromkeys([s["label"] for s in samples] + [t["label"] for t in train]))
    task_index = {t: i for i, t in enumerate(tasks)}
    label_index = {name: i for i, name in enumerate(labels)}
    keys = [c.key for c in folder.columns]

    def marks(cells: dict[str, Any]) -> str:
        return "".join("-" if k not in cells else ("1" if cells[k]["match"] else "0") for k in keys)

    index = {
        "uid": [f"{s['task']}:{s['id']}" for s in samples], "id": [s["id"] for s in samples],
        "task": [task_index[s["task"]] for s in samples], "label": [label_index[s["label"]] for s in samples],
        "thumb": [thumb_for(images.get(s["task"], {}).get(s["id"])) for s in samples],
        "marks": [marks(s["cells"]) for s in samples], "chunk_size": SAMPLES_PER_CHUNK,
    }
    synth_index = {
        "uid": [f"{t['task']}:{t['id']}" for t in train], "id": [t["id"] for t in train],
        "task": [task_index[t["task"]] for t in train], "label": [label_index[t["label"]] for t in train],
        "thumb": [thumb_for(t["image"]) for t in train],
        "methods": [sorted({s["method"] for s in t["steps"]}) for t in train], "chunk_size": TRAIN_IMAGES_PER_CHUNK,
    }
    failed = write_thumbnails(thumb_jobs, thumbs_dir)
    if failed:
        index["thumb"] = ["" if name in failed else name for name in index["thumb"]]
        synth_index["thumb"] = ["" if name in failed else name for name in synth_index["thumb"]]

    for number, chunk in _chunks(samples, SAMPLES_PER_CHUNK):
        write(data_dir / f"samples_{number:05d}.js", _script(f"samples:{number}", [
            {"cells": s["cells"], "concepts": s["concepts"], "question": s["question"]} for s in chunk]))
    for number, chunk in _chunks(train, TRAIN_IMAGES_PER_CHUNK):
        write(data_dir / f"synth_{number:05d}.js", _script(f"synth:{number}", [
            {"shared": t["shared"], "steps": t["steps"]} for t in chunk]))
    write(data_dir / "index.js", _script("index", index))
    write(data_dir / "synth_index.js", _script("synth_index", synth_index))

    describe_prompts = {}
    for shared in folder.shared:
        prompts: dict[int, str] = {}
        for rows in shared.descriptions.values():
            for row in rows:
                prompts.setdefault(row.get("prompt_index"), str(row.get("prompt", "")))
        describe_prompts[f"{shared.task}:{shared.digest}"] = [prompts[k] for k in sorted(p for p in prompts if p is not None)]
    meta = {
        "version": REPORT_VERSION,
        "title": title or f"SelfSynth report: {Path(out).resolve().name}",
        "out": str(Path(out).resolve()), "experiment": experiment,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "tasks": tasks, "labels": labels,
        "columns": [{"key": c.key, "method": c.method, "iteration": c.iteration, "seed": c.seed, "label": c.label} for c in folder.columns],
        "runs": [{"task": r.task, "method": r.method, "seed": r.seed, "limit": r.results.get("limit"),
                  "n_train": r.results.get("n_train"), "n_test": r.results.get("n_test"),
                  "results": str(r.results_path.relative_to(folder.out))} for r in folder.runs],
        "questions": sorted({str(s["question"]) for s in samples if s.get("question")}),
        "samples": len(samples), "train_images": len(train),
        "images_found": {t: bool(v) for t, v in images.items()},
        "evaluations": _evaluations_table(folder), "tables": _store_tables(folder, store), "series": _series(folder),
        "plots": _plot_files(store, target / "plots", written),
        "describe_prompts": describe_prompts,
        "regressions": _regressions(regress, folder),
    }
    write(data_dir / "meta.js", _script("meta", meta))
    for name in STATIC_FILES:  # index.html last: a report that opens is a finished one
        if name != "index.html":
            write(target / name, resources.files("selfsynth.reports.html").joinpath(name).read_text(encoding="utf-8"))
    written.append(target / "index.html")
    # chunks of an earlier, larger report must not linger: only files a report recorded are removed
    record_owned_files(target, written)
    write_text(target / "index.html", resources.files("selfsynth.reports.html").joinpath("index.html").read_text(encoding="utf-8"))
    return ReportSummary(target / "index.html", len(samples), len(keys), len(train), len(set(n for _, n in thumb_jobs)), len(failed),
                         round(time.time() - started, 2))
