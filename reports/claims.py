"""The paper's claims, checked over stored runs: each with a paired interval and a verdict.

Claims are data (``reports/claims/paper.yaml``, or a user's file of the same entries; the file
documents the fields). ``check_claims(run_dirs)`` is the API behind ``selfsynth claims``, the block
``selfsynth reproduce`` prints last, and ``make demo``'s closing lines; ``render_claims`` prints
the result as text, markdown (the README's demo section) or JSON (CI).

Intervals come from ``selfsynth.reports.stats.hierarchical_bootstrap``: per-image scores paired by
(seed, image id), seeds resampled, then images within each drawn seed; 95%, percentile, seeded.
Per-image scores are the evaluation's ``records.jsonl`` (accuracy) and the judge's
``judge_records.jsonl`` (EE, CS; a reply the judge could not parse is left out and counted).
Table 11 (general ability) and Table 13 (selection precision) store one number per seed, so their
intervals resample seeds only, and a claim resting on a single seed is *not shown*: one number
carries no spread to judge it by.

Runs are found with the table builder's reader (``selfsynth.reports.tables.load_store``, over
``selfsynth.results``); their per-image files are read through ``selfsynth.results`` (each
iteration's evaluation folder), and the judge's records are looked up as the HTML report does
(``reports.html.collect.judge_folder``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from selfsynth.errors import UserError
from selfsynth.io import iter_jsonl

VERDICTS = ("holds", "not shown", "contradicted")
PER_IMAGE = {"accuracy": ("records", "match"), "accuracy_paper": ("records", "paper_match"),
             "ee": ("judge", "ee"), "cs": ("judge", "cs")}
METRICS = (*PER_IMAGE, "general", "selection")
RELATIONS = (">", ">=", "<=")
FORMATS = ("text", "md", "json")
LEVEL = 0.95


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    metric: str
    a: dict[str, Any]
    b: dict[str, Any] | None
    relation: str
    value: float
    iterations: str = "last"


@dataclass
class Check:
    """One interval: an iteration of a claim (or a benchmark / encoder for Tables 11 and 13)."""

    where: str
    estimate: float | None
    low: float | None
    high: float | None
    n_seeds: int
    n_samples: int
    verdict: str
    note: str = ""


@dataclass
class ClaimResult:
    claim: Claim
    experiment: str
    task: str
    checks: list[Check] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if not self.checks:
            return "not shown"
        verdicts = {c.verdict for c in self.checks}
        if "contradicted" in verdicts:
            return "contradicted"
        return "holds" if verdicts == {"holds"} else "not shown"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.claim.id, "text": self.claim.text, "experiment": self.experiment, "task": self.task,
                "metric": self.claim.metric, "relation": self.claim.relation, "value": self.claim.value,
                "verdict": self.verdict, "level": LEVEL,
                "checks": [c.__dict__ for c in self.checks]}


# -- the claims file -------------------------------------------------------------------------------
def default_claims_file() -> Path:
    return Path(str(resources.files("selfsynth.reports") / "claims" / "paper.yaml"))


def load_claims(path: str | Path | None = None) -> list[Claim]:
    """The claims of a YAML file (default: the paper's); every mistake names the entry and field."""
    import yaml

    path = Path(path) if path is not None else default_claims_file()
    if not path.is_file():
        raise UserError(f"--claims {path}: no such file")
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{path}: expected a non-empty list of claims")
    claims, seen = [], set()
    known = {"id", "text", "metric", "a", "b", "relation", "value", "iterations"}
    for i, entry in enumerate(entries, 1):
        where = f"{path}: claim {i}"
        if not isinstance(entry, dict):
            raise UserError(f"{where}: expected a mapping")
        unknown = set(entry) - known
        if unknown:
            raise UserError(f"{where}: unknown field(s) {', '.join(sorted(unknown))} (expected {', '.join(sorted(known))})")
        for name in ("id", "metric", "relation", "value"):
            if name not in entry:
                raise UserError(f"{where}: missing {name!r}")
        if entry["metric"] not in METRICS:
            raise UserError(f"{where}: metric {entry['metric']!r}: expected one of {', '.join(METRICS)}")
        if entry["relation"] not in RELATIONS:
            raise UserError(f"{where}: relation {entry['relation']!r}: expected one of {', '.join(RELATIONS)}")
        if entry.get("iterations", "last") not in ("each", "last"):
            raise UserError(f"{where}: iterations {entry['iterations']!r}: expected each or last")
        a, b = entry.get("a") or {}, entry.get("b")
        if entry["metric"] in PER_IMAGE and "method" not in a:
            raise UserError(f"{where}: a needs a method")
        if entry["relation"] == "<=" and b is not None:
            raise UserError(f"{where}: relation <= is for one side (a) only")
        if entry["relation"] != "<=" and b is None and entry["metric"] in PER_IMAGE:
            raise UserError(f"{where}: relation {entry['relation']} compares a with b: b is missing")
        if b is not None and "offset" in b and entry.get("iterations", "last") != "each":
            raise UserError(f"{where}: b's offset is relative to each iteration: set iterations: each")
        if entry["id"] in seen:
            raise UserError(f"{where}: id {entry['id']!r} repeats")
        seen.add(entry["id"])
        try:
            value = float(entry["value"])
        except (TypeError, ValueError):
            raise UserError(f"{where}: value {entry['value']!r}: expected a number") from None
        claims.append(Claim(str(entry["id"]), str(entry.get("text", entry["id"])), entry["metric"], dict(a),
                            dict(b) if b is not None else None, entry["relation"], value, entry.get("iterations", "last")))
    return claims


# -- per-image scores ------------------------------------------------------------------------------
@dataclass
class _Scores:
    """Per (experiment, task): method → seed → iteration → metric → {image id: score}."""

    by_unit: dict[tuple[str, str], dict[str, dict[int, dict[int, dict[str, dict[str, float | None]]]]]] = field(default_factory=dict)
    unparsed: int = 0
    judged: int = 0


def _read_scores(store: Any, as_experiment: str | None = None) -> _Scores:
    """Per-image scores of every stored run, read through ``selfsynth.results``: each iteration's
    evaluation folder (``RunResults.eval_folder``) and the judge's records beside it or in the
    iteration's judge step (found as the HTML report finds them)."""
    from selfsynth import results as stored
    from selfsynth.reports.html.collect import judge_folder

    scores = _Scores()
    for entry in store.runs:
        run = stored.read_run(Path(entry["path"]).parent)
        if run is None:
            continue
        unit = scores.by_unit.setdefault((as_experiment or entry["experiment"], entry["task"]), {})
        per_seed = unit.setdefault(entry["method"], {}).setdefault(entry["seed"], {})
        for record in run.iterations:
            iteration = int(record["iteration"])
            evaluation = stored.read_eval_optional(run.eval_folder(iteration))
            if evaluation is None:
                continue
            metrics: dict[str, dict[str, float | None]] = {name: {} for name in PER_IMAGE}
            for _, row in iter_jsonl(evaluation.records_path):
                metrics["accuracy"][str(row["id"])] = float(bool(row.get("match")))
                metrics["accuracy_paper"][str(row["id"])] = float(bool(row.get("paper_match")))
            graded = judge_folder(evaluation.path)
            if graded is not None:
                for _, row in iter_jsonl(graded / stored.JUDGE_RECORDS):
                    scores.judged += 1
                    if row.get("judge_status", "scored") != "scored" or row.get("cs") is None:
                        scores.unparsed += 1  # left out of the interval, counted in the report
                        continue
                    metrics["ee"][str(row["id"])] = float(row["ee"])
                    metrics["cs"][str(row["id"])] = float(row["cs"])
            per_seed[iteration] = metrics
    return scores


def image_groups(store: Any) -> dict[tuple[str, str, str, int, str], list[Any]]:
    """Per (experiment, task, method, iteration, metric): one array of per-image scores per seed —
    what ``stats.hierarchical_bootstrap`` resamples for a table cell's or a plot band's interval."""
    import numpy as np

    out: dict[tuple[str, str, str, int, str], list[Any]] = {}
    for (experiment, task), methods in _read_scores(store).by_unit.items():
        for method, seeds in methods.items():
            for seed in sorted(seeds, key=str):
                for iteration, metrics in seeds[seed].items():
                    for metric, values in metrics.items():
                        present = [v for v in values.values() if v is not None]
                        if present:
                            out.setdefault((experiment, task, method, iteration, metric), []).append(np.array(present))
    return out


def _iteration(spec: dict[str, Any], available: Sequence[int], anchor: int | None) -> int | None:
    if anchor is not None:
        target = anchor + int(spec.get("offset", 0))
    else:
        chosen = spec.get("iteration", "last")
        target = max(available) if chosen == "last" else min(available) if chosen == "first" else int(chosen)
    return target if target in available else None


def _values(runs: dict[int, dict[int, dict[str, dict[str, float | None]]]], spec: dict[str, Any], metric: str,
            anchor: int | None) -> dict[int, dict[str, float | None]]:
    """seed → {image id: score} at the iteration ``spec`` names (or ``anchor`` + its offset)."""
    out = {}
    for seed, iterations in runs.items():
        iteration = _iteration(spec, sorted(iterations), anchor)
        if iteration is not None and iterations[iteration][metric]:
            out[seed] = iterations[iteration][metric]
    return out


def _verdict(claim: Claim, low: float, high: float) -> str:
    if claim.relation == "<=":
        return "holds" if high <= claim.value else "contradicted" if low > claim.value else "not shown"
    if claim.relation == ">":
        return "holds" if low > claim.value else "contradicted" if high <= claim.value else "not shown"
    return "holds" if low >= claim.value else "contradicted" if high < claim.value else "not shown"


def _check(claim: Claim, where: str, groups: list[Any], seed_level: bool = False) -> Check:
    from selfsynth.reports.stats import hierarchical_bootstrap

    interval = hierarchical_bootstrap(groups, level=LEVEL)
    if interval is None:
        return Check(where, None, None, None, 0, 0, "not shown", "no stored values")
    if seed_level and interval.n_seeds < 2:
        return Check(where, interval.estimate, None, None, 1, interval.n_samples, "not shown",
                     "one seed and no per-image scores: no interval")
    return Check(where, interval.estimate, interval.low, interval.high, interval.n_seeds, interval.n_samples,
                 _verdict(claim, interval.low, interval.high), "seeds only" if seed_level else "")


def _per_image(claim: Claim, unit: dict[str, Any]) -> list[Check]:
    import numpy as np
    from selfsynth.reports.stats import pair_by_id

    runs_a = unit.get(claim.a["method"], {})
    runs_b = unit.get(claim.b["method"], {}) if claim.b else {}
    if not runs_a or (claim.b and not runs_b):
        missing = claim.a["method"] if not runs_a else claim.b["method"]
        return [Check("–", None, None, None, 0, 0, "not shown", f"no stored run of {missing}")]
    offset = int(claim.b.get("offset", 0)) if claim.b else 0
    if claim.iterations == "each":  # iteration 0 is the base model, the same for every method
        anchors: list[int | None] = sorted({i for its in runs_a.values() for i in its if i >= 1 and i + offset >= 0})
    else:
        anchors = [None]
    checks = []
    for anchor in anchors:
        spec_a = claim.a if anchor is None else {**claim.a, "iteration": anchor}
        a = _values(runs_a, spec_a, claim.metric, None)
        if claim.b is None:
            groups = [np.array([v for v in seed.values() if v is not None]) for _, seed in sorted(a.items())]
        elif anchor is not None:
            spec_b = claim.b if "offset" in claim.b else {**claim.b, "iteration": anchor}
            groups = pair_by_id(_values(runs_b, spec_b, claim.metric, anchor if "offset" in claim.b else None), a)
        else:
            groups = pair_by_id(_values(runs_b, claim.b, claim.metric, None), a)  # differences a − b
        if anchor is None:
            where = f"iteration {spec_a.get('iteration', 'last')}"
        else:
            where = f"iteration {anchor}" + (f" vs {anchor + offset}" if offset else "")
        checks.append(_check(claim, where, groups))
    return checks or [Check("–", None, None, None, 0, 0, "not shown", "no iteration to compare")]


def _general(claim: Claim, store: Any, experiment: str, task: str, as_experiment: str | None = None) -> list[Check]:
    from selfsynth.reports.tables import _general_row_key, _headline, display_name

    tuned, base = display_name(claim.a.get("method", "ours")), "Base"
    by_model: dict[str, dict[Any, dict[str, Any]]] = {}
    for entry in store.general:
        exp, t, model = _general_row_key(entry)
        if (as_experiment or exp, t) == (experiment, task):
            by_model.setdefault(model.split(" (iter")[0], {}).setdefault(entry["run"].get("seed"), entry["data"])
    if tuned not in by_model or base not in by_model:
        return []
    names = sorted({n for data in by_model[tuned].values() for n in (data.get("benchmarks") or {})})
    checks = []
    for name in names:
        groups = []
        for seed, data in sorted(by_model[tuned].items(), key=lambda kv: str(kv[0])):
            other = by_model[base].get(seed)
            t, b = _headline(data, name), _headline(other, name) if other else None
            if t is not None and b is not None:
                scale = 100.0 if max(abs(t), abs(b)) <= 1.0 else 1.0  # accuracies in points; MME in its own
                groups.append([(t - b) * scale])
        checks.append(_check(claim, name, groups, seed_level=True))
    return checks


def _selection(claim: Claim, store: Any, task: str) -> list[Check]:
    by_encoder: dict[str, list[list[float]]] = {}
    for data in store.selection:
        if data.get("task", "–") != task:
            continue
        for encoder, result in (data.get("encoders") or {}).items():
            if result.get("precision") is not None and result.get("random_precision") is not None:
                by_encoder.setdefault(encoder, []).append([result["precision"] - result["random_precision"]])
    return [_check(claim, encoder, groups, seed_level=True) for encoder, groups in sorted(by_encoder.items())]


@dataclass
class ClaimsReport:
    results: list[ClaimResult]
    judged: int
    unparsed: int
    claims_file: str

    def as_dict(self) -> dict[str, Any]:
        return {"claims_file": self.claims_file, "level": LEVEL, "judged_replies": self.judged,
                "unparsed_replies": self.unparsed, "claims": [r.as_dict() for r in self.results]}


def check_claims(run_dirs: Sequence[str | Path], claims_file: str | Path | None = None,
                 experiment: str | None = None, as_experiment: str | None = None) -> ClaimsReport:
    """Every claim of ``claims_file`` (default: the paper's) checked over the runs stored under
    ``run_dirs`` (only experiment ``experiment``, if given), per (experiment, task).
    ``as_experiment`` names every run found as one experiment (an experiment's cells may be runs
    another experiment made first: shared cells run once per store)."""
    from selfsynth.reports.tables import load_store

    claims = load_claims(claims_file)
    results: list[ClaimResult] = []
    store = load_store(run_dirs, experiment)
    scores = _read_scores(store, as_experiment=as_experiment)
    judged, unparsed = scores.judged, scores.unparsed
    general = {(as_experiment or e["run"].get("experiment") or "default", e["run"].get("task") or "–") for e in store.general}
    units = sorted(set(scores.by_unit) | general)
    # select_eval.json names no experiment: its task's first unit carries it (or one of its own)
    covered = {t for _, t in units}
    units += sorted({(as_experiment or "default", d.get("task", "–")) for d in store.selection if d.get("task", "–") not in covered})
    selection_done: set[str] = set()
    if not units:
        raise UserError(f"{', '.join(map(str, run_dirs))}: no stored results (run `selfsynth run` or `selfsynth reproduce` first)")
    for experiment_name, task in units:
        for claim in claims:
            result = ClaimResult(claim, experiment_name, task)
            if claim.metric in PER_IMAGE:
                result.checks = _per_image(claim, scores.by_unit[(experiment_name, task)]) if (experiment_name, task) in scores.by_unit else []
                missing = "no stored run of this task"
            elif claim.metric == "general":
                result.checks = _general(claim, store, experiment_name, task, as_experiment)
                missing = "no stored general.json of both models (selfsynth run --general)"
            else:
                if task in selection_done:
                    continue
                selection_done.add(task)
                result.checks = _selection(claim, store, task)
                missing = "no stored select_eval.json (selfsynth select-eval)"
            # every claim is listed: one without data is not shown, and says what is missing
            result.checks = result.checks or [Check("–", None, None, None, 0, 0, "not shown", missing)]
            results.append(result)
    return ClaimsReport(results, judged, unparsed, str(claims_file or default_claims_file()))


# -- output ----------------------------------------------------------------------------------------
def _number(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:+.3f}"


def _interval(check: Check) -> str:
    if check.low is None:
        return f"{_number(check.estimate)} ({check.note})" if check.estimate is not None else f"({check.note})"
    text = f"{_number(check.estimate)} [{_number(check.low)}, {_number(check.high)}] seeds={check.n_seeds}"
    return text + (f" images={check.n_samples}" if check.note != "seeds only" else " (seeds only)")


def render_claims(report: ClaimsReport, fmt: str = "text") -> str:
    """The claims as text (one line per claim, its checks indented), markdown or JSON."""
    if fmt == "json":
        return json.dumps(report.as_dict(), indent=2)
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    several = len({(r.experiment, r.task) for r in report.results}) > 1
    lines = []
    if fmt == "md":
        lines += ["| claim | verdict | Δ [95% interval] |", "|---|---|---|"]
    for result in report.results:
        where = f"{result.experiment}/{result.task}: " if several else ""
        checks = "; ".join(f"{c.where}: {_interval(c)}" for c in result.checks)
        if fmt == "md":
            lines.append(f"| {where}{result.claim.text} | **{result.verdict}** | {checks} |")
        else:
            lines.append(f"{result.verdict.upper():<12} {where}{result.claim.text}")
            lines += [f"{'':<14}{c.where}: {_interval(c)}  {c.verdict}" for c in result.checks]
    footer = (f"{LEVEL:.0%} intervals of Δ (a − b) by a hierarchical paired bootstrap (seeds, then images); "
              f"judge replies left out as unparseable: {report.unparsed} of {report.judged}")
    lines += ["", footer] if fmt == "text" else ["", f"{footer}."]
    return "\n".join(lines)
