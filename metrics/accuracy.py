"""Accuracy from per-sample match records: overall, per class, bootstrap confidence interval.

The bootstrap resamples samples with replacement (``n_boot`` times, numpy's PCG64 seeded with
``seed``) and takes the percentile interval, so the same records always give the same CI. For
0/1 hits the mean of a resample of n draws is Binomial(n, accuracy) / n — exactly the bootstrap's
distribution — so it is drawn as such, in O(n_boot) memory (an n_boot × n index matrix is
~760 MB at PLD's 47,523 test images).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Sequence

from selfsynth import schema

import numpy as np



def accuracy(hits: Sequence[bool]) -> float:
    return float(np.mean(np.asarray(hits, dtype=float))) if len(hits) else 0.0


def per_class_accuracy(labels: Sequence[str], hits: Sequence[bool]) -> dict[str, dict[str, float]]:
    """{label: {"accuracy", "n"}} in sorted label order."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for label, hit in zip(labels, hits):
        groups[label].append(bool(hit))
    return {label: {"accuracy": accuracy(groups[label]), "n": len(groups[label])} for label in sorted(groups)}


def bootstrap_ci(hits: Sequence[bool], n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``hits``."""
    values = np.asarray(hits, dtype=float)
    if values.size == 0:
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    means = rng.binomial(values.size, float(values.mean()), size=n_boot) / values.size
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return (float(low), float(high))


def summarize(records: Iterable[dict[str, Any]], n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Metrics of per-sample records with keys ``label``, ``match``, ``paper_match``."""
    records = list(records)
    labels = [r["label"] for r in records]
    ours = [bool(r["match"]) for r in records]
    paper = [bool(r["paper_match"]) for r in records]
    per_class = per_class_accuracy(labels, ours)
    return {
        "schema_version": schema.EVAL_METRICS,
        "n": len(records),
        "accuracy": accuracy(ours),
        "accuracy_ci95": list(bootstrap_ci(ours, n_boot, seed)),
        "accuracy_paper": accuracy(paper),
        "accuracy_paper_ci95": list(bootstrap_ci(paper, n_boot, seed)),
        "accuracy_macro": float(np.mean([v["accuracy"] for v in per_class.values()])) if per_class else 0.0,
        "per_class": per_class,
        "per_class_paper": per_class_accuracy(labels, paper),
        "bootstrap": {"n_boot": n_boot, "seed": seed, "level": 0.95},
    }
