"""Regression gate: is a candidate checkpoint's accuracy worse than a baseline's, on the same samples?

Both sides are evaluation folders written by ``selfsynth eval`` or a run's ``iter_<r>/eval``
(``metrics.json`` + ``records.jsonl``). The comparison is paired, sample by sample:

- delta = candidate − baseline accuracy, with a paired percentile-bootstrap 95% interval
  (resampling sample ids, numpy PCG64 seeded, so the same records always give the same interval);
- McNemar's exact test on the discordant pairs (scipy's binomial test), as a p-value;
- the classes whose accuracy dropped, worst first.

The verdict: ``regressed`` when delta < −``max_drop`` and, if ``alpha`` is given, McNemar's
p < ``alpha`` too. Two evaluations are only compared when they asked the same question (prompt
hash) about the same sample ids with the same labels; anything else is an error, not a verdict.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from selfsynth.errors import UserError
from selfsynth.io import read_json, read_jsonl

SCHEMA_VERSION = 1
METRIC_FIELDS = {"accuracy": "match", "accuracy_paper": "paper_match"}  # metric → per-record field
BOOTSTRAP_N = 2000
BOOTSTRAP_SEED = 0


@dataclass
class Evaluation:
    folder: Path
    metrics: dict[str, Any]
    records: list[dict[str, Any]]


def load_evaluation(path: str | Path) -> Evaluation:
    """An evaluation folder (or its metrics.json) with its per-sample records."""
    folder = Path(path)
    if folder.name == "metrics.json":
        folder = folder.parent
    metrics_path, records_path = folder / "metrics.json", folder / "records.jsonl"
    for needed in (metrics_path, records_path):
        if not needed.is_file():
            raise UserError(f"{folder}: expected an evaluation folder with metrics.json and records.jsonl (missing {needed.name})")
    try:
        metrics = read_json(metrics_path)
    except ValueError as exc:
        raise UserError(f"{metrics_path}: not valid JSON ({exc})") from None
    records = read_jsonl(records_path)  # names the file and line of a broken record
    if not isinstance(metrics, dict):
        raise UserError(f"{metrics_path}: expected a JSON object")
    for i, record in enumerate(records):
        if not isinstance(record, dict) or not {"id", "label", "match", "paper_match"} <= set(record):
            raise UserError(f"{records_path}: line {i + 1}: expected an object with id, label, match, paper_match")
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        raise UserError(f"{records_path}: sample ids repeat")
    return Evaluation(folder, metrics, records)


def _check_comparable(base: Evaluation, cand: Evaluation) -> None:
    for key in ("task", "prompts_hash", "question"):
        if base.metrics.get(key) != cand.metrics.get(key):
            raise UserError(
                f"{cand.folder} is not comparable with {base.folder}: {key} differs "
                f"({cand.metrics.get(key)!r} vs {base.metrics.get(key)!r})"
            )
    base_labels = {r["id"]: r["label"] for r in base.records}
    cand_labels = {r["id"]: r["label"] for r in cand.records}
    if base_labels.keys() != cand_labels.keys():
        only_base = len(base_labels.keys() - cand_labels.keys())
        only_cand = len(cand_labels.keys() - base_labels.keys())
        raise UserError(
            f"{cand.folder} is not comparable with {base.folder}: different samples "
            f"({only_base} only in the baseline, {only_cand} only in the candidate)"
        )
    changed = [i for i in base_labels if base_labels[i] != cand_labels[i]]
    if changed:
        raise UserError(f"{cand.folder} is not comparable with {base.folder}: labels differ for {len(changed)} samples, e.g. {changed[0]!r}")


def paired_bootstrap_ci(base_hits: np.ndarray, cand_hits: np.ndarray, n_boot: int = BOOTSTRAP_N,
                        seed: int = BOOTSTRAP_SEED, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of mean(cand) − mean(base), resampling samples jointly."""
    diff = cand_hits.astype(float) - base_hits.astype(float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, diff.size, size=(n_boot, diff.size))
    means = diff[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def mcnemar_p(base_hits: np.ndarray, cand_hits: np.ndarray) -> float:
    """Exact two-sided McNemar p-value (1.0 when no pair disagrees)."""
    from scipy.stats import binomtest

    lost = int(np.sum(base_hits & ~cand_hits))
    gained = int(np.sum(~base_hits & cand_hits))
    if lost + gained == 0:
        return 1.0
    return float(binomtest(gained, lost + gained, 0.5).pvalue)


def compare(base: Evaluation, cand: Evaluation, metric: str = "accuracy", max_drop: float = 0.0,
            alpha: float | None = None) -> dict[str, Any]:
    """The regression report (see the module doc); ``report["regressed"]`` is the verdict."""
    if metric not in METRIC_FIELDS:
        raise UserError(f"metric {metric!r}: expected one of {', '.join(METRIC_FIELDS)}")
    if max_drop < 0:
        raise UserError(f"max_drop {max_drop}: expected a non-negative number")
    if alpha is not None and not 0 < alpha < 1:
        raise UserError(f"alpha {alpha}: expected a number between 0 and 1")
    _check_comparable(base, cand)
    field = METRIC_FIELDS[metric]
    by_id = {r["id"]: r for r in cand.records}
    ids = [r["id"] for r in base.records]
    base_hits = np.array([bool(r[field]) for r in base.records])
    cand_hits = np.array([bool(by_id[i][field]) for i in ids])
    labels = [r["label"] for r in base.records]
    base_acc, cand_acc = float(base_hits.mean()), float(cand_hits.mean())
    delta = cand_acc - base_acc
    p_value = mcnemar_p(base_hits, cand_hits)
    regressed = delta < -max_drop and (alpha is None or p_value < alpha)
    per_class = []
    for label in sorted(set(labels)):
        mask = np.array([lab == label for lab in labels])
        b, c = float(base_hits[mask].mean()), float(cand_hits[mask].mean())
        if c < b:
            per_class.append({"label": label, "n": int(mask.sum()), "baseline": b, "candidate": c, "delta": c - b})
    per_class.sort(key=lambda row: (row["delta"], row["label"]))
    return {
        "schema_version": SCHEMA_VERSION,
        "metric": metric,
        "task": base.metrics.get("task"),
        "n": len(ids),
        "baseline": {"folder": str(base.folder), "model_fingerprint": base.metrics.get("model_fingerprint"), metric: base_acc},
        "candidate": {"folder": str(cand.folder), "model_fingerprint": cand.metrics.get("model_fingerprint"), metric: cand_acc},
        "delta": delta,
        "delta_ci95": list(paired_bootstrap_ci(base_hits, cand_hits)),
        "bootstrap": {"n": BOOTSTRAP_N, "seed": BOOTSTRAP_SEED},
        "lost": int(np.sum(base_hits & ~cand_hits)),
        "gained": int(np.sum(~base_hits & cand_hits)),
        "mcnemar_p": p_value,
        "max_drop": max_drop,
        "alpha": alpha,
        "regressed": bool(regressed),
        "classes_dropped": per_class,
    }
