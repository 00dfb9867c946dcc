"""The paper's tables from stored results only (no model is loaded): every number traces back to a
``results.json`` (and its per-sample records), a ``general.json``, a ``select_eval.json`` or an
evaluation's ``metrics.json``.

``build_table(number, run_dirs)`` is the API (``selfsynth table`` and ``selfsynth reproduce`` call
it); ``render(table, fmt)`` prints it. Tables:

- ``1``: rows task × method (Base, NL, L+GE, Ours, then any plugin method); accuracy per
  iteration, then EE, CS and FS of each run's final iteration.
- ``11``: general ability: base and fine-tuned models per benchmark, and the overall improvement.
- ``12``: Ours vs w/o Filtering: accuracy and CS per iteration.
- ``13``: concept-selection precision per text encoder (``selfsynth select-eval``).
- ``transfer``: train task × evaluation task accuracy (``selfsynth eval`` of a run's model), with
  the base model's row and each evaluation task's own model (the diagonal).
- ``cs``: CS per iteration of Ours on every dataset, and its relative gain from iteration 1 to K.

Runs of several seeds are aggregated: a cell holds the mean, the sample standard deviation over
seeds (n − 1) and, on request, a 95% t-interval over seeds. A cell with no stored result is "–".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from selfsynth import results as stored_results
from selfsynth.errors import UserError

TABLES = ("1", "11", "12", "13", "transfer", "cs")
FORMATS = ("md", "latex", "csv", "json")
EMPTY = "–"
INCOMPLETE = "†"  # marks a row with a run that stopped before its last iteration
METHOD_ORDER = ["base", "nl", "lge", "ours", "no_filter"]
TABLE1_EXCLUDED = ("no_filter",)  # the ablation has its own table (12); plugin methods join Table 1
TABLE12_METHODS = ("ours", "no_filter")
# README "General ability (Table 11)": the benchmarks of Table 11 in the paper's order, and the four whose relative change
# is summed into "overall improvement"
GENERAL_ORDER = ["mmstar", "seedbench_2_plus", "mmmu_val", "mme", "mmbench_en_dev"]
OVERALL_BENCHMARKS = ("mmstar", "seedbench_2_plus", "mmbench_en_dev", "mme")
TABLE1_GENERAL = ("MMMU", "mmmu_val")  # Table 1's general-ability column: (header, lmms-eval benchmark)
TRANSFER_BASE_ROW = "none (base model)"  # the transfer table's row of the untrained model
ACCURACY_RULES = {
    "accuracy": "accuracy: digit-preserving, word-boundary, alias-aware label match",
    "accuracy_paper": "accuracy: the published rule (letters only, substring containment)",
}


# -- what is stored --------------------------------------------------------------------------------
@dataclass
class Store:
    """Every result file found under the run folders, read once."""

    iterations: list[dict[str, Any]] = field(default_factory=list)  # one per (run, iteration)
    runs: list[dict[str, Any]] = field(default_factory=list)  # one per results.json
    general: list[dict[str, Any]] = field(default_factory=list)
    selection: list[dict[str, Any]] = field(default_factory=list)
    transfer: list[dict[str, Any]] = field(default_factory=list)


def load_store(run_dirs: Sequence[str | Path], experiment: str | None = None) -> Store:
    """Every run (found by its manifest), general.json, select_eval.json and transfer evaluation
    under ``run_dirs`` (optionally only experiment ``experiment``), read through ``selfsynth.results``."""
    from selfsynth.store import run_provenance

    store = Store()
    seen: set[Path] = set()
    for run_dir in run_dirs:
        root = Path(run_dir)
        if not root.is_dir():
            raise UserError(f"{root}: no such run folder (expected a folder written by `selfsynth run`)")
        for run in stored_results.iter_runs(root, experiment):
            if run.path.resolve() not in seen and run.results is not None:
                seen.add(run.path.resolve())
                _add_run(store, run)
        for path, data in stored_results.iter_general(root):
            where = run_provenance(path.parent) or {}
            if experiment is None or where.get("experiment") in (None, experiment):
                store.general.append({"path": path, "data": data, "run": where})
        for _path, data in stored_results.iter_named(root, stored_results.SELECTION):
            if experiment is None or data.get("experiment") in (None, experiment):
                store.selection.append(data)
        for evaluation in stored_results.iter_transfers(root):
            store.transfer.append(evaluation.metrics)
    return store


def _add_run(store: Store, run: stored_results.RunResults) -> None:
    stored = run.results or {}
    base = {"experiment": run.experiment, "task": run.task, "method": run.method, "seed": run.seed}
    missing = run.missing()
    store.runs.append({**base, "limit": stored.get("limit"), "test_limit": stored.get("test_limit", stored.get("limit")),
                       "n_test": stored.get("n_test"), "path": stored_results.run_results_path(run.path),
                       "complete": not missing, "missing": missing})
    records = run.iterations
    final = max((r["iteration"] for r in records), default=None)
    judged_by_iteration = run.judge_outputs()
    for record in records:
        metrics = record.get("metrics") or {}
        judged = judged_by_iteration.get(int(record["iteration"])) or {}
        identity = judged.get("judge") or {}
        store.iterations.append({
            **base,
            "iteration": record["iteration"],
            "final": record["iteration"] == final,
            "complete": not missing,
            "accuracy": metrics.get("accuracy"),
            "accuracy_paper": metrics.get("accuracy_paper"),
            "n": metrics.get("n"),
            "ee": judged.get("ee"),
            "cs": judged.get("cs"),
            "fs": judged.get("fs_mean"),
            "judge": identity.get("judge"),
            "judge_proxy": identity.get("proxy"),
            "fluency_reference": (judged.get("fluency_reference") or {}).get("name"),
            "judged_n": judged.get("n"),
            "parse_failures": judged.get("parse_failures"),
        })


# -- cells -----------------------------------------------------------------------------------------
def cell(values: Iterable[float | None], ci: bool = False, groups: Sequence[Any] | None = None) -> dict[str, Any] | None:
    """Mean, sample std (n − 1) and count of the non-missing values (one per seed); with ``ci`` a
    95% percentile interval from the hierarchical bootstrap of ``selfsynth claims``
    (``reports.stats``): seeds, then images when ``groups`` holds each seed's per-image scores,
    else seeds alone (None with fewer than two). Inside the metric's range by construction, unlike
    a t-interval over 2–3 seeds. None when there is no value."""
    data = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not data:
        return None
    n = len(data)
    mean = sum(data) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in data) / (n - 1)) if n > 1 else None
    out: dict[str, Any] = {"mean": mean, "std": std, "n": n}
    if ci:
        from selfsynth.reports.stats import hierarchical_bootstrap

        interval = hierarchical_bootstrap(groups if groups else [[v] for v in data]) if groups or n > 1 else None
        out["ci95"] = [interval.low, interval.high] if interval else None
    return out


def format_cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return EMPTY
    if not isinstance(value, dict):
        return str(value)
    text = f"{value['mean']:.{digits}f}"
    if value.get("std") is not None:
        text += f" ± {value['std']:.{digits}f}"
    if value.get("ci95"):
        low, high = value["ci95"]
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    if value.get("expected_n") is not None and value.get("n") != value["expected_n"]:
        text += f" (n={value['n']})"  # fewer seeds than asked behind this number
    return text


@dataclass
class Table:
    number: str
    title: str
    columns: list[str]  # in display order; key columns first
    rows: list[dict[str, Any]]  # column -> text key or cell dict (or None: no data)
    footer: list[str]
    digits: dict[str, int] = field(default_factory=dict)  # decimals per column (default 3)

    def records(self) -> list[dict[str, Any]]:
        """The JSON rows: every column, cells as {mean, std, n[, ci95]} or null."""
        return [{c: row.get(c) for c in self.columns} for row in self.rows]


# -- the tables ------------------------------------------------------------------------------------
def method_sort_key(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)


def display_name(method: str) -> str:
    """A method's name in tables: its runner class's ``display_name`` (the registry's)."""
    from selfsynth.registry import METHODS

    return METHODS.display_name(method)


def _experiments(rows: list[dict[str, Any]]) -> bool:
    return len({r["experiment"] for r in rows}) > 1


def _groups(rows: list[dict[str, Any]], methods: Sequence[str] | None, excluded: Sequence[str] = ()) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if (methods is None or row["method"] in methods) and row["method"] not in excluded:
            groups.setdefault((row["experiment"], row["task"], row["method"]), []).append(row)
    return dict(sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], method_sort_key(kv[0][2]))))


def _image_groups(store: Store, ci: bool) -> dict[tuple[str, str, str, int, str], list[Any]]:
    """Per-image scores per seed for the --ci intervals (none without --ci: they are read only then)."""
    from selfsynth.reports.claims import image_groups

    return image_groups(store) if ci else {}


def _per_iteration(rows: list[dict[str, Any]], metric: str, ci: bool,
                   images: dict[tuple[str, str, str, int, str], list[Any]] | None = None) -> dict[int, dict[str, Any] | None]:
    by_iteration: dict[int, list[float | None]] = {}
    for row in rows:
        by_iteration.setdefault(row["iteration"], []).append(row[metric])
    key = (rows[0]["experiment"], rows[0]["task"], rows[0]["method"]) if rows else None
    return {it: cell(values, ci, (images or {}).get((*key, it, metric)) if key else None) for it, values in sorted(by_iteration.items())}


def _final(rows: list[dict[str, Any]], metric: str, ci: bool,
           images: dict[tuple[str, str, str, int, str], list[Any]] | None = None) -> dict[str, Any] | None:
    last = max(r["iteration"] for r in rows)
    key = (rows[0]["experiment"], rows[0]["task"], rows[0]["method"], last, metric)
    return cell((r[metric] for r in rows if r["iteration"] == last), ci, (images or {}).get(key))


def _accuracy_row(experiment: str, task: str, method: str, members: list[dict[str, Any]], metric: str, ci: bool,
                  images: Any) -> dict[str, Any]:
    """A method's row head: who, how many seeds, and the accuracy per iteration."""
    row: dict[str, Any] = {"experiment": experiment, "task": task, "method": display_name(method),
                           "seeds": len({m["seed"] for m in members})}
    for it, value in _per_iteration(members, metric, ci, images).items():
        row[f"iter {it}"] = value
    return row


def table_1(store: Store, metric: str = "accuracy", ci: bool = False, seeds: Sequence[int] | None = None) -> Table:
    groups = _groups(store.iterations, None, excluded=TABLE1_EXCLUDED)
    images = _image_groups(store, ci)
    iterations = sorted({r["iteration"] for rows in groups.values() for r in rows})
    acc_columns = [f"iter {i}" for i in iterations]
    beside = "final (ours)" if metric != "accuracy" else None
    general_header, benchmark = TABLE1_GENERAL
    keys = (["experiment"] if _experiments(store.iterations) else []) + ["task", "method", "seeds"]
    rows = []
    for (experiment, task, method), members in groups.items():
        row = _accuracy_row(experiment, task, method, members, metric, ci, images)
        if beside:  # our rule's final accuracy next to the published rule's
            row[beside] = _final(members, "accuracy", ci, images)
        row.update({"EE": _final(members, "ee", ci, images), "CS": _final(members, "cs", ci, images), "FS": _final(members, "fs", ci)})
        row[general_header] = _general_final(store, experiment, task, method, benchmark, ci)
        rows.append(row)
    footer = _footer(store, [r for rows_ in groups.values() for r in rows_], metric, ci)
    footer += _completeness(store, groups, rows, seeds)
    footer.insert(0, f"iter r: {metric} after iteration r (iter 0: the base model); EE, CS, FS: each run's final iteration (FS: perplexity, lower is better)")
    if beside:
        footer.insert(1, f"{beside}: the final iteration's accuracy by our rule ({ACCURACY_RULES['accuracy'].split(': ', 1)[1]}), beside the published rule's")
    footer.append(f"{general_header}: {benchmark} of each row's final model (Base: the base model), from `selfsynth run --general`; –: not run")
    return Table("1", "Table 1: accuracy per iteration and explanation quality",
                 keys + acc_columns + ([beside] if beside else []) + ["EE", "CS", "FS", general_header],
                 rows, footer, digits={"FS": 2})


def _general_final(store: Store, experiment: str, task: str, method: str, benchmark: str, ci: bool) -> dict[str, Any] | None:
    """``benchmark``'s headline for the final model of the (experiment, task, method) runs, one
    value per seed; for ``base`` the base model (any run's iteration 0 of the task). None: not run."""
    by_seed: dict[Any, tuple[int, float]] = {}
    for entry in store.general:
        where = entry["run"]
        iteration = where.get("iteration")
        if (where.get("experiment") or "default") != experiment or where.get("task") != task or iteration is None:
            continue
        if (method == "base") != (iteration == 0) or (method != "base" and where.get("method") != method):
            continue
        value = _headline(entry["data"], benchmark)
        seed = where.get("seed")
        if value is not None and (seed not in by_seed or iteration > by_seed[seed][0]):
            by_seed[seed] = (iteration, value)
    return cell((value for _, value in by_seed.values()), ci)


def table_12(store: Store, metric: str = "accuracy", ci: bool = False, seeds: Sequence[int] | None = None) -> Table:
    groups = _groups(store.iterations, TABLE12_METHODS)
    images = _image_groups(store, ci)
    iterations = sorted({r["iteration"] for rows in groups.values() for r in rows})
    keys = (["experiment"] if _experiments(store.iterations) else []) + ["task", "method", "seeds"]
    rows = []
    for (experiment, task, method), members in groups.items():
        row = _accuracy_row(experiment, task, method, members, metric, ci, images)
        for it, value in _per_iteration(members, "cs", ci, images).items():
            row[f"CS iter {it}"] = value
        rows.append(row)
    footer = _footer(store, [r for rows_ in groups.values() for r in rows_], metric, ci)
    footer += _completeness(store, groups, rows, seeds)
    footer.insert(0, f"iter r: {metric} after iteration r; CS iter r: cognition score of iteration r's answers")
    columns = keys + [f"iter {i}" for i in iterations] + [f"CS iter {i}" for i in iterations]
    return Table("12", "Table 12: Ours vs w/o Filtering", columns, rows, footer)


def _general_row_key(entry: dict[str, Any]) -> tuple[str, str, str]:
    data, where = entry["data"], entry["run"]
    task = where.get("task") or data.get("task") or "–"
    iteration = where.get("iteration", data.get("iteration"))
    method = where.get("method") or data.get("method")
    if iteration == 0 or method == "base":
        model = "Base"
    elif method:
        model = f"{display_name(method)}" + (f" (iter {iteration})" if iteration is not None else "")
    else:
        model = str(data.get("model") or entry["path"].parent)
    return where.get("experiment") or "default", task, model


def _headline(data: dict[str, Any], name: str) -> float | None:
    """A benchmark's headline number in a general.json (``selfsynth.metrics.general``: "value")."""
    entry = (data.get("benchmarks") or {}).get(name)
    value = entry.get("value", entry.get("headline")) if isinstance(entry, dict) else entry
    return float(value) if isinstance(value, (int, float)) else None


def _stored_improvement(data: dict[str, Any]) -> float | None:
    """The overall improvement a general.json computed against its --baseline, if any."""
    value = (data.get("baseline") or {}).get("overall_improvement_pct", data.get("overall_improvement"))
    return float(value) if isinstance(value, (int, float)) else None


def overall_improvement(base: dict[str, float | None], tuned: dict[str, float | None]) -> float | None:
    """The paper's overall improvement: the sum over MMStar, SEED-2-Plus, MMBench and MME-cognition of the relative
    change vs base, in %; None when one of the four is missing on either side."""
    total = 0.0
    for name in OVERALL_BENCHMARKS:
        b, t = base.get(name), tuned.get(name)
        if b is None or t is None or b == 0:
            return None
        total += (t - b) / b * 100.0
    return total


def table_11(store: Store, ci: bool = False) -> Table:
    names = sorted({n for e in store.general for n in (e["data"].get("benchmarks") or {})},
                   key=lambda n: (GENERAL_ORDER.index(n) if n in GENERAL_ORDER else len(GENERAL_ORDER), n))
    by_seed: dict[tuple[str, str, str], dict[Any, dict[str, Any]]] = {}
    for entry in store.general:
        # every method's run evaluates the same base model: one entry per seed, not per method
        by_seed.setdefault(_general_row_key(entry), {}).setdefault(entry["run"].get("seed"), entry)
    grouped = {key: list(entries.values()) for key, entries in by_seed.items()}
    # per (experiment, task, seed): the base model's headlines, for the improvement of the others
    base_of: dict[tuple[str, str, Any], dict[str, float | None]] = {}
    for (experiment, task, model), entries in grouped.items():
        if model == "Base":
            for e in entries:
                base_of[(experiment, task, e["run"].get("seed"))] = {n: _headline(e["data"], n) for n in names}
    rows = []
    for (experiment, task, model), entries in sorted(grouped.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] != "Base", kv[0][2])):
        row: dict[str, Any] = {"experiment": experiment, "task": task, "model": model, "seeds": len(entries)}
        for name in names:
            row[name] = cell((_headline(e["data"], name) for e in entries), ci)
        improvements = []
        for e in entries:
            stored = _stored_improvement(e["data"])
            if stored is not None:
                improvements.append(stored)
            elif model != "Base":
                base = base_of.get((experiment, task, e["run"].get("seed")))
                improvements.append(overall_improvement(base, {n: _headline(e["data"], n) for n in names}) if base else None)
        row["overall improvement (%)"] = cell(improvements, ci)
        rows.append(row)
    keys = (["experiment"] if len({k[0] for k in grouped}) > 1 else []) + ["task", "model", "seeds"]
    footer = ["headline metric per benchmark as lmms-eval scores it; MME: cognition score (max 800)",
              "overall improvement: sum over MMStar, SEED-2-Plus, MMBench and MME-cognition of the relative change vs the base model, in %"]
    metrics = sorted({f"{n}: {(e['data'].get('benchmarks') or {}).get(n, {}).get('metric')}" for e in store.general for n in names
                      if isinstance((e["data"].get("benchmarks") or {}).get(n), dict) and (e["data"]["benchmarks"][n].get("metric"))})
    if metrics:
        footer.append("metrics: " + "; ".join(metrics))
    limits = sorted({str(e["data"].get("limit")) for e in store.general if e["data"].get("limit") is not None})
    footer.append(f"limit: {', '.join(limits)} samples per benchmark" if limits else "limit: none (full benchmarks)")
    if not rows:
        footer.append("no general.json found (run `selfsynth run --general` or `selfsynth general`)")
    footer.append(_spread_line(ci))
    digits = {n: 3 for n in names}
    digits["overall improvement (%)"] = 2
    return Table("11", "Table 11: general ability of base and fine-tuned models", keys + names + ["overall improvement (%)"],
                 rows, footer, digits=digits)


def table_13(store: Store, ci: bool = False) -> Table:
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    images: dict[str, set[int]] = {}
    for data in store.selection:
        for encoder, result in (data.get("encoders") or {}).items():
            grouped.setdefault((data.get("task", "–"), encoder), []).append({**result, "seed": data.get("seed")})
        images.setdefault(data.get("task", "–"), set()).add(int(data.get("n_images", 0)))
    rows = []
    for (task, encoder), results in sorted(grouped.items()):
        rows.append({
            "task": task, "encoder": encoder, "seeds": len({r["seed"] for r in results}),
            "precision": cell((r.get("precision") for r in results), ci),
            "random selection": cell((r.get("random_precision") for r in results), ci),
            "concepts per image": cell((r.get("concepts_per_image") for r in results), ci),
        })
    footer = ["precision: share of the concepts selected for an image that are truly visible in it "
              "(toy: recorded visible concepts; CUB: per-image attribute annotations)",
              "random selection: expected precision of a random subset of the class concepts"]
    counts = ", ".join(f"{task} {'/'.join(map(str, sorted(n)))}" for task, n in sorted(images.items()))
    footer.append(f"images per task: {counts}" if counts else "no select_eval.json found (run `selfsynth select-eval`)")
    footer.append(_spread_line(ci))
    return Table("13", "Table 13: concept-selection precision per text encoder",
                 ["task", "encoder", "seeds", "precision", "random selection", "concepts per image"], rows, footer,
                 digits={"concepts per image": 2})


def table_transfer(store: Store, metric: str = "accuracy", ci: bool = False) -> Table:
    grouped: dict[tuple[str, str], dict[str, list[float | None]]] = {}
    counts: dict[str, set[int]] = {}
    for data in store.transfer:
        origin = data["train_run"]
        key = (origin.get("task") or "–", origin.get("method") or "–")
        grouped.setdefault(key, {}).setdefault(data.get("task", "–"), []).append(data.get(metric))
        counts.setdefault(data.get("task", "–"), set()).add(int(data.get("n", 0)))
    # the paper's other rows: the base model on each evaluation task (None → Dogs), and the
    # evaluation task's own final model of the same method (Dogs → Dogs)
    for eval_task, method in sorted({(d.get("task", "–"), d["train_run"].get("method") or "–") for d in store.transfer}):
        base = _base_accuracy(store, eval_task, metric)
        if base:
            grouped.setdefault((TRANSFER_BASE_ROW, "base"), {})[eval_task] = base
        if (eval_task, method) not in grouped:
            grouped[(eval_task, method)] = {}
    # the diagonal: each train task's own final-iteration accuracy, from its runs
    for (train_task, method), by_eval in grouped.items():
        own = [r[metric] for r in store.iterations if r["task"] == train_task and r["method"] == method and r["final"]]
        if own and train_task not in by_eval:
            by_eval[train_task] = own
    eval_tasks = sorted({t for by_eval in grouped.values() for t in by_eval})
    rows = []
    grouped = {key: by_eval for key, by_eval in grouped.items() if by_eval}
    for (train_task, method), by_eval in sorted(grouped.items(), key=lambda kv: (kv[0][0] != TRANSFER_BASE_ROW, kv[0][0], method_sort_key(kv[0][1]))):
        row: dict[str, Any] = {"train task": train_task, "method": display_name(method)}
        for task in eval_tasks:
            row[f"eval {task}"] = cell(by_eval.get(task, []), ci)
        rows.append(row)
    footer = [f"{metric} of each train task's final model on each evaluation task (diagonal: the run's own test split)",
              f"{TRANSFER_BASE_ROW}: the untrained base model on each evaluation task (iteration 0 of that task's runs)",
              ACCURACY_RULES.get(metric, metric)]
    sizes = ", ".join(f"{task} {'/'.join(map(str, sorted(n)))}" for task, n in sorted(counts.items()))
    footer.append(f"transfer test samples: {sizes}" if sizes else "no transfer evaluation found (selfsynth eval --model <run>/iter_<K>/train/merged --out <run folder>/transfer/<train>__<eval>)")
    footer.append(_spread_line(ci))
    return Table("transfer", "Cross-dataset transfer: train task × evaluation task", ["train task", "method"] + [f"eval {t}" for t in eval_tasks],
                 rows, footer)


def _base_accuracy(store: Store, task: str, metric: str) -> list[float | None]:
    """The base model's ``metric`` on ``task``, one value per seed: iteration 0 of the task's runs
    (a ``base`` run's where there is one)."""
    by_seed: dict[Any, tuple[bool, float | None]] = {}
    for r in store.iterations:
        if r["task"] == task and r["iteration"] == 0:
            preferred = r["method"] == "base"
            if r["seed"] not in by_seed or (preferred and not by_seed[r["seed"]][0]):
                by_seed[r["seed"]] = (preferred, r[metric])
    return [value for _, value in by_seed.values()]


CS_GAIN = "CS gain 1→K (%)"


def table_cs(store: Store, ci: bool = False, seeds: Sequence[int] | None = None) -> Table:
    """CS per iteration of Ours on every dataset, and the relative CS gain from iteration 1 to the
    last (per seed (CS_K − CS_1) / CS_1 × 100, then mean ± std over seeds)."""
    groups = _groups(store.iterations, ("ours",))
    iterations = sorted({r["iteration"] for rows in groups.values() for r in rows if r["iteration"] >= 1})
    keys = (["experiment"] if _experiments(store.iterations) else []) + ["task", "seeds"]
    rows = []
    for (experiment, task, _method), members in groups.items():
        row: dict[str, Any] = {"experiment": experiment, "task": task, "seeds": len({m["seed"] for m in members})}
        for it, value in _per_iteration([m for m in members if m["iteration"] >= 1], "cs", ci).items():
            row[f"CS iter {it}"] = value
        gains = []
        for seed in sorted({m["seed"] for m in members}):
            by_iteration = {m["iteration"]: m["cs"] for m in members if m["seed"] == seed}
            last = max(by_iteration)
            first, final = by_iteration.get(1), by_iteration[last]
            gains.append((final - first) / first * 100.0 if last > 1 and first and final is not None else None)
        row[CS_GAIN] = cell(gains, ci)
        rows.append(row)
    footer = ["CS iter r: cognition score of Ours' answers after iteration r (the judge's, as in Table 1)",
              f"{CS_GAIN}: relative CS change from iteration 1 to the run's last iteration K, per seed, in %",
              _spread_line(ci)]
    if not any(row.get(f"CS iter {it}") for row in rows for it in iterations):
        footer.insert(0, "no judged Ours iteration found (selfsynth run --method ours --judge local|openai)")
    columns = keys + [f"CS iter {i}" for i in iterations] + [CS_GAIN]
    return Table("cs", "CS per iteration (Ours) and its relative gain from iteration 1 to K", columns, rows, footer,
                 digits={CS_GAIN: 1})


def _completeness(store: Store, groups: dict[tuple[str, str, str], list[dict[str, Any]]], rows: list[dict[str, Any]],
                  seeds: Sequence[int] | None) -> list[str]:
    """What each row stands on: every cell records the n it should have (the seeds asked for, else
    every seed of the table) and shows its own where it differs; a row with an incomplete run
    (killed, or still running) is marked INCOMPLETE, its runs listed. Returns footer lines."""
    expected = len(seeds) if seeds else len({m["seed"] for members in groups.values() for m in members})
    short = False
    partial_runs = []
    for (experiment, task, method), row in zip(groups, rows):
        for value in row.values():
            if isinstance(value, dict) and "n" in value:
                value["expected_n"] = expected
                short = short or value["n"] != expected
        partial = sorted((r for r in store.runs if not r["complete"]
                          and (r["experiment"], r["task"], r["method"]) == (experiment, task, method)), key=lambda r: r["seed"])
        if partial:
            row["method"] = f"{row['method']} {INCOMPLETE}"
            partial_runs += [f"{task}/{method} seed {r['seed']} ({', '.join(r['missing'])})" for r in partial]
    lines = []
    if short:
        asked = f"the {expected} seeds asked for ({', '.join(map(str, seeds))})" if seeds else f"the table's {expected} seeds"
        lines.append(f"(n=k): a cell over k of {asked}")
    if partial_runs:
        lines.append(f"{INCOMPLETE} incomplete run, only its finished iterations counted: {'; '.join(partial_runs)}")
    return lines


def _spread_line(ci: bool) -> str:
    return ("cells: mean ± std over seeds (n − 1)"
            + ("; [95% interval: hierarchical bootstrap over seeds, then test images (seeds alone where no per-image scores)]" if ci else "")
            + "; –: no stored result")


def _footer(store: Store, rows: list[dict[str, Any]], metric: str, ci: bool) -> list[str]:
    judges = sorted({(r["judge"], bool(r["judge_proxy"])) for r in rows if r["judge"]})
    if judges:
        named = ", ".join(f"{name}{' (local proxy, not an LLM judge)' if proxy else ''}" for name, proxy in judges)
        judge_line = f"EE/CS judge: {named}"
        references = sorted({r["fluency_reference"] for r in rows if r["fluency_reference"]})
        if references:
            judge_line += f"; FS reference LM: {', '.join(references)}"
        # replies the judge could not parse are left out of EE/CS means: their rate says how much
        judged = [r for r in rows if r.get("judged_n") and r.get("parse_failures") is not None]
        if judged:
            failed, total = sum(r["parse_failures"] for r in judged), sum(r["judged_n"] for r in judged)
            judge_line += f"; unparseable judge replies (left out of EE/CS): {failed} of {total} ({failed / total:.1%})"
    else:
        judge_line = "EE/CS/FS: no judged iteration (selfsynth run --judge local|openai)"
    units = {(r["experiment"], r["task"], r["method"], r["seed"]) for r in rows}
    runs = [r for r in store.runs if (r["experiment"], r["task"], r["method"], r["seed"]) in units]
    pairs = {(r["limit"], r.get("test_limit", r["limit"])) for r in runs}
    limits = sorted(f"{train} train / {test} test" if train != test else str(train)
                    for train, test in pairs if (train, test) != (None, None))
    full = (None, None) in pairs
    limit_line = ("limit: " + ", ".join(limits).replace("None", "all") + " images (a subset; not comparable to the paper)") if limits else "limit: none (full splits)"
    if limits and full:
        limit_line += "; some runs on full splits"
    seeds = sorted({r["seed"] for r in rows})
    n_by_task: dict[str, set[int]] = {}
    for r in rows:
        if r["n"] is not None:
            n_by_task.setdefault(r["task"], set()).add(int(r["n"]))
    samples = ", ".join(f"{task} {'/'.join(map(str, sorted(n)))}" for task, n in sorted(n_by_task.items()))
    return [
        judge_line,
        ACCURACY_RULES.get(metric, metric),
        limit_line,
        f"seeds: {', '.join(map(str, seeds)) if seeds else '–'}",
        f"test samples per task: {samples or '–'}",
        _spread_line(ci),
    ]


def build_table(number: str, run_dirs: Sequence[str | Path], metric: str = "accuracy", ci: bool = False,
                experiment: str | None = None, store: Store | None = None, seeds: Sequence[int] | None = None) -> Table:
    """Table ``number`` (one of ``TABLES``) from the results stored under ``run_dirs``; ``seeds``:
    the seeds asked for (a cell over fewer shows its n)."""
    number = str(number)
    if number not in TABLES:
        raise UserError(f"table {number!r}: expected one of {', '.join(TABLES)}")
    if metric not in ACCURACY_RULES:
        raise UserError(f"metric {metric!r}: expected one of {', '.join(ACCURACY_RULES)}")
    store = store if store is not None else load_store(run_dirs, experiment)
    if number in ("1", "12", "cs") and not store.iterations:
        where = ", ".join(str(d) for d in run_dirs)
        raise UserError(f"{where}: no run with a finished iteration found (run `selfsynth run` first)")
    if number == "1":
        return table_1(store, metric, ci, seeds)
    if number == "12":
        return table_12(store, metric, ci, seeds)
    if number == "11":
        return table_11(store, ci)
    if number == "13":
        return table_13(store, ci)
    if number == "cs":
        return table_cs(store, ci, seeds)
    return table_transfer(store, metric, ci)


# -- output ----------------------------------------------------------------------------------------
def render(table: Table, fmt: str = "md") -> str:
    """The table as markdown (with title and footer), LaTeX (footer as a comment block), CSV or JSON."""
    import json

    import pandas as pd

    if fmt == "json":
        return json.dumps({"table": table.number, "title": table.title, "columns": table.columns,
                           "rows": table.records(), "footer": table.footer}, indent=2, sort_keys=False)
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    text_rows = [[format_cell(row.get(c), table.digits.get(c, 3)) for c in table.columns] for row in table.rows]
    frame = pd.DataFrame(text_rows, columns=table.columns)
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "latex":
        from tabulate import tabulate

        body = tabulate(frame.values.tolist(), headers=list(frame.columns), tablefmt="latex_booktabs", disable_numparse=True)
        return "\n".join([f"% {table.title}", body, *(f"% {line}" for line in table.footer)])
    body = frame.to_markdown(index=False, tablefmt="github", disable_numparse=True) if table.rows else "(no rows)"
    return "\n".join([f"**{table.title}**", "", body, "", *(f"- {line}" for line in table.footer)])
