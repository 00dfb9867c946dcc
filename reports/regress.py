"""Regression gate: is a candidate checkpoint's accuracy worse than a baseline's, on the same samples?

Both sides are evaluation folders written by ``selfsynth eval`` or a run's ``iter_<r>/eval``
(``metrics.json`` + ``records.jsonl``). The comparison is paired, sample by sample:

- delta = candidate − baseline accuracy (Δ), the samples lost and gained (whole counts);
- a non-inferiority test, one-sided at ``alpha``: H0: Δ ≤ −max_drop against H1: Δ > −max_drop,
  and its mirror for "improved", H0: Δ ≤ 0 against H1: Δ > 0 — both the exact unconditional test
  for paired binary outcomes of ``selfsynth.reports.stats`` (McNemar's conditional test is exact
  only for a zero margin);
- the (1 − 2·alpha) interval of Δ obtained by inverting that same test, so the decision can be
  read off the interval: non-inferior exactly when its lower end is above −max_drop;
- the classes whose accuracy dropped, worst first.

The gate passes when non-inferiority is shown (verdict ``non-inferior``, or ``improved`` when the
mirror test is rejected too). It fails as ``regressed`` when the interval lies wholly below
−max_drop (a drop beyond the margin is shown) and as ``not-shown`` when the evidence is too thin
either way: with a margin of 0, or few samples, an unchanged model cannot show non-inferiority.
The default ``alpha`` is 0.025 one-sided, the convention for non-inferiority trials (ICH E9),
whose inverted interval is the usual two-sided 95% one.

Two evaluations are compared only when everything that decides an answer's score is the same
(``SETUP_KEYS``: task, split, subset, question and prompt set, generation settings, scoring rule)
and they cover the same sample ids with the same labels. Every difference is named in one error
(exit 2). The model and adapter fingerprints are what is being compared: they are reported, and
expected to differ.

Memory: records are read line by line keeping only id, label and the two verdicts; the test
needs only the three counts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from selfsynth import schema
from selfsynth.errors import UserError
from selfsynth.io import iter_jsonl
from selfsynth.reports.stats import paired_binary_bounds, paired_binary_test

METRIC_FIELDS = {"accuracy": "match", "accuracy_paper": "paper_match"}  # metric → per-record field
DEFAULT_ALPHA = 0.025  # one-sided; its inverted interval is the two-sided 95% one
TEST_NAME = "exact unconditional test for paired binary outcomes (Berger-Boos)"
# metrics.json keys that must agree for two evaluations to be comparable. Nested dicts
# (generation) are compared key by key so the error names the setting.
SETUP_KEYS = ("task", "split", "limit", "seed", "question", "prompts_hash", "generation", "engine", "scoring_rule")
# identities of what is compared: reported side by side, never a reason to refuse
IDENTITY_KEYS = ("model_fingerprint", "base_model_fingerprint", "adapter_fingerprint", "model_path", "adapter")


@dataclass
class Evaluation:
    folder: Path
    metrics: dict[str, Any]
    ids: list[str]
    labels: list[str]
    hits: dict[str, np.ndarray]  # record field (match, paper_match) → bool per sample, in id order


def is_evaluation_folder(path: str | Path) -> bool:
    from selfsynth.results import is_eval_folder

    return is_eval_folder(path)


def load_evaluation(path: str | Path) -> Evaluation:
    """An evaluation folder (or its metrics.json) with its per-sample verdicts."""
    from selfsynth.results import read_eval

    stored = read_eval(path)
    folder, metrics, records_path = stored.path, stored.metrics, stored.records_path
    ids, labels, hits = _read_verdicts(records_path)
    if len(set(ids)) != len(ids):
        raise UserError(f"{records_path}: sample ids repeat")
    return Evaluation(folder, metrics, ids, labels, {k: np.array(v, dtype=bool) for k, v in hits.items()})


def _read_verdicts(records_path: Path) -> tuple[list[str], list[str], dict[str, list[bool]]]:
    """Streams the records, keeping only what the gate needs (answers can be long)."""
    ids: list[str] = []
    labels: list[str] = []
    hits: dict[str, list[bool]] = {field: [] for field in METRIC_FIELDS.values()}
    for lineno, record in iter_jsonl(records_path):
        if not isinstance(record, dict) or not {"id", "label", *hits} <= set(record):
            raise UserError(f"{records_path}: line {lineno}: expected an object with id, label, match, paper_match")
        ids.append(record["id"])
        labels.append(record["label"])
        for field, values in hits.items():
            values.append(bool(record[field]))
    return ids, labels, hits


def setup_differences(base: Evaluation, cand: Evaluation) -> list[str]:
    """Each setting that differs, as ``"name: candidate vs baseline"`` (empty: comparable)."""
    differences = []
    for key in SETUP_KEYS:
        if key == "seed" and base.metrics.get("limit") is None and cand.metrics.get("limit") is None:
            continue  # the seed only picks the --limit subset
        b, c = base.metrics.get(key), cand.metrics.get(key)
        if isinstance(b, dict) and isinstance(c, dict):
            for sub in sorted(b.keys() | c.keys()):
                if b.get(sub) != c.get(sub):
                    differences.append(f"{key}.{sub}: {c.get(sub)!r} vs {b.get(sub)!r}")
        elif b != c:
            differences.append(f"{key}: {c!r} vs {b!r}")
    base_labels = dict(zip(base.ids, base.labels))
    cand_labels = dict(zip(cand.ids, cand.labels))
    if base_labels.keys() != cand_labels.keys():
        only_base = len(base_labels.keys() - cand_labels.keys())
        only_cand = len(cand_labels.keys() - base_labels.keys())
        differences.append(f"samples: {only_base} only in the baseline, {only_cand} only in the candidate")
    else:
        changed = [i for i in base.ids if base_labels[i] != cand_labels[i]]
        if changed:
            differences.append(f"labels differ for {len(changed)} samples, e.g. {changed[0]!r}")
    return differences


def _check_comparable(base: Evaluation, cand: Evaluation) -> None:
    differences = setup_differences(base, cand)
    if differences:
        raise UserError(
            f"{cand.folder} is not comparable with {base.folder} (candidate vs baseline): " + "; ".join(differences)
        )


def exact_fraction(value: float | str | Fraction) -> Fraction:
    """The decimal the user wrote (``0.01`` is exactly 1/100, not the nearest binary float)."""
    if isinstance(value, Fraction):
        return value
    try:
        return Fraction(repr(value) if isinstance(value, float) else str(value).strip())
    except (ValueError, ZeroDivisionError):
        raise UserError(f"max_drop {value!r}: expected a number such as 0.01") from None


def compare(base: Evaluation, cand: Evaluation, metric: str = "accuracy", max_drop: float | str = 0.0,
            alpha: float | None = DEFAULT_ALPHA) -> dict[str, Any]:
    """The regression report (see the module doc); ``report["verdict"]`` is improved,
    non-inferior, not-shown or regressed, and ``report["regressed"]`` whether the gate fails."""
    if metric not in METRIC_FIELDS:
        raise UserError(f"metric {metric!r}: expected one of {', '.join(METRIC_FIELDS)}")
    allowed = exact_fraction(max_drop)
    if not 0 <= allowed < 1:
        raise UserError(f"max_drop {max_drop}: expected a number in [0, 1)")
    alpha = DEFAULT_ALPHA if alpha is None else alpha
    if not 0 < alpha < 0.5:
        raise UserError(f"alpha {alpha}: expected a one-sided level between 0 and 0.5")
    _check_comparable(base, cand)
    n = len(base.ids)
    if n == 0:
        raise UserError(f"{base.folder} and {cand.folder}: no samples to compare (n = 0)")
    field = METRIC_FIELDS[metric]
    order = {sample_id: i for i, sample_id in enumerate(cand.ids)}
    base_hits = base.hits[field]
    cand_hits = cand.hits[field][np.fromiter((order[i] for i in base.ids), dtype=np.int64, count=n)]
    lost = int(np.sum(base_hits & ~cand_hits))
    gained = int(np.sum(~base_hits & cand_hits))
    margin = float(allowed)
    p_noninferior = paired_binary_test(lost, gained, n, -margin)
    p_improved = paired_binary_test(lost, gained, n, 0.0)
    low, high = paired_binary_bounds(lost, gained, n, alpha)
    # the decision is the test's; the interval is the same test inverted, so they agree
    if p_improved <= alpha:
        verdict = "improved"
    elif p_noninferior <= alpha:
        verdict = "non-inferior"
    elif paired_binary_test(gained, lost, n, margin) <= alpha:  # H0: Δ ≥ −max_drop rejected
        verdict = "regressed"
    else:
        verdict = "not-shown"
    level = 1.0 - 2.0 * alpha
    report = {
        "schema_version": schema.REGRESS_REPORT,
        "metric": metric,
        "task": base.metrics.get("task"),
        "n": n,
        "baseline": _side(base, metric, int(base_hits.sum()) / n),
        "candidate": _side(cand, metric, int(cand_hits.sum()) / n),
        "baseline_right": int(base_hits.sum()),
        "candidate_right": int(cand_hits.sum()),
        "delta": (gained - lost) / n,
        "delta_interval": [low, high],
        "interval_level": level,
        # the report page reads a 95% interval: the same test inverted at 0.025 per side
        "delta_ci95": [low, high] if alpha == DEFAULT_ALPHA else list(paired_binary_bounds(lost, gained, n, DEFAULT_ALPHA)),
        "test": TEST_NAME,
        "hypotheses": {"non_inferior": f"H0: delta <= {_negated(margin)} vs H1: delta > {_negated(margin)}",
                       "improved": "H0: delta <= 0 vs H1: delta > 0"},
        "p_noninferior": p_noninferior,
        "p_improved": p_improved,
        "lost": lost,
        "gained": gained,
        "net_lost": lost - gained,
        "allowed_net_lost": math.floor(allowed * n),  # the most samples a point estimate may lose within the margin
        "max_drop": margin,
        "alpha": alpha,
        "verdict": verdict,
        "regressed": verdict not in ("improved", "non-inferior"),
        "classes_dropped": _classes_dropped(base.labels, base_hits, cand_hits),
    }
    report["reason"] = _reason(report)
    return report


def _side(evaluation: Evaluation, metric: str, value: float) -> dict[str, Any]:
    side: dict[str, Any] = {"folder": str(evaluation.folder), metric: value}
    side.update({key: evaluation.metrics.get(key) for key in IDENTITY_KEYS if key in evaluation.metrics})
    return side


def _negated(margin: float) -> str:
    return f"-{margin:g}" if margin else "0"


def _reason(report: dict[str, Any]) -> str:
    """One line: which hypothesis was tested at what level, the p-value, the interval it agrees
    with, and the whole counts."""
    margin, alpha, n = report["max_drop"], report["alpha"], report["n"]
    low, high = report["delta_interval"]
    interval = f"{report['interval_level']:.0%} interval [{low:+.4f}, {high:+.4f}]"
    counts = f"lost {report['lost']}, gained {report['gained']} of {n}"
    verdict = report["verdict"]
    if verdict == "improved":
        return (f"H0: delta <= 0 rejected at one-sided alpha {alpha:g} (p={report['p_improved']:.3g}); "
                f"{interval} lies above 0; {counts}")
    tested = f"H0: delta <= {_negated(margin)} (non-inferiority margin --max-drop {margin:g})"
    if verdict == "non-inferior":
        return (f"{tested} rejected at one-sided alpha {alpha:g} (p={report['p_noninferior']:.3g}); "
                f"{interval} lies above {_negated(margin)}; {counts}")
    outcome = (f"{interval} lies below {_negated(margin)}: a drop beyond the margin is shown" if verdict == "regressed"
               else f"{interval} does not lie above {_negated(margin)}: non-inferiority not shown (more samples or a larger margin are needed)")
    return (f"{tested} not rejected at one-sided alpha {alpha:g} (p={report['p_noninferior']:.3g}); "
            f"{outcome}; {counts}")


def _classes_dropped(labels: list[str], base_hits: np.ndarray, cand_hits: np.ndarray) -> list[dict[str, Any]]:
    names, index = np.unique(np.asarray(labels, dtype=object), return_inverse=True)
    counts = np.bincount(index, minlength=len(names))
    base_right = np.bincount(index, weights=base_hits, minlength=len(names))
    cand_right = np.bincount(index, weights=cand_hits, minlength=len(names))
    rows = []
    for name, n, b, c in zip(names, counts, base_right, cand_right):
        if c < b:
            rows.append({"label": str(name), "n": int(n), "baseline": b / n, "candidate": c / n, "delta": (c - b) / n})
    rows.sort(key=lambda row: (row["delta"], row["label"]))
    return rows


def stored_decision(report: dict[str, Any], base: Evaluation, cand: Evaluation) -> dict[str, Any]:
    """``report`` as ``selfsynth regress --out FILE`` stores it: what the decision rested on kept
    with it, so reading it later never depends on the folders' current contents or the current
    directory: both folders as absolute paths, and the ids of the samples the candidate lost and
    gained on the gated metric at decision time."""
    field = METRIC_FIELDS[report["metric"]]
    cand_hit = dict(zip(cand.ids, cand.hits[field].tolist()))
    base_hit = dict(zip(base.ids, base.hits[field].tolist()))
    stored = {**report, "baseline": {**report["baseline"], "folder": str(base.folder.resolve())},
              "candidate": {**report["candidate"], "folder": str(cand.folder.resolve())}}
    stored["lost_ids"] = [i for i in base.ids if base_hit[i] and not cand_hit.get(i, False)]
    stored["gained_ids"] = [i for i in base.ids if not base_hit[i] and cand_hit.get(i, False)]
    return stored
