"""Regression gate: is a candidate checkpoint's accuracy worse than a baseline's, on the same samples?

Both sides are evaluation folders written by ``selfsynth eval`` or a run's ``iter_<r>/eval``
(``metrics.json`` + ``records.jsonl``). The comparison is paired, sample by sample:

- delta = candidate − baseline accuracy, with a paired percentile-bootstrap 95% interval;
- McNemar's exact test on the discordant pairs (scipy's binomial test), as a p-value;
- the classes whose accuracy dropped, worst first.

The verdict is decided on exact counts: the candidate ``regressed`` when it lost more samples
than it gained by more than ``max_drop × n`` (a drop exactly equal to ``max_drop`` passes, with
no float rounding at the edge) and, if ``alpha`` is given, McNemar's p < ``alpha`` too; a drop
beyond ``max_drop`` that is not significant is ``tolerated``, and the report says so.

Two evaluations are compared only when everything that decides an answer's score is the same
(``SETUP_KEYS``: task, split, subset, question and prompt set, generation settings, scoring rule)
and they cover the same sample ids with the same labels. Every difference is named in one error
(exit 2). The model and adapter fingerprints are what is being compared: they are reported, and
expected to differ.

Memory: records are read line by line keeping only id, label and the two verdicts, and the
bootstrap draws, per resample, how many pairs of each kind (lost, unchanged, gained) it holds —
one multinomial draw, the exact distribution of a resample of ``n`` pairs — so it needs
``O(n_boot)`` memory instead of an ``n_boot × n`` index matrix.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from selfsynth import schema
from selfsynth.errors import UserError
from selfsynth.io import iter_jsonl, read_json

METRIC_FIELDS = {"accuracy": "match", "accuracy_paper": "paper_match"}  # metric → per-record field
BOOTSTRAP_N = 2000
BOOTSTRAP_SEED = 0
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
    path = Path(path)
    return path.name == "metrics.json" and path.is_file() or (path / "metrics.json").is_file()


def load_evaluation(path: str | Path) -> Evaluation:
    """An evaluation folder (or its metrics.json) with its per-sample verdicts."""
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
    if not isinstance(metrics, dict):
        raise UserError(f"{metrics_path}: expected a JSON object")
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


def paired_bootstrap_ci(base_hits: np.ndarray, cand_hits: np.ndarray, n_boot: int = BOOTSTRAP_N,
                        seed: int = BOOTSTRAP_SEED, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of mean(cand) − mean(base), resampling pairs jointly.

    A pair's difference is −1 (lost), 0 or +1 (gained), so a resample of n pairs is fully
    described by how many of each it drew: a multinomial draw with the observed proportions."""
    base_hits, cand_hits = np.asarray(base_hits, dtype=bool), np.asarray(cand_hits, dtype=bool)
    n = base_hits.size
    if n == 0:
        return (0.0, 0.0)
    lost = int(np.sum(base_hits & ~cand_hits))
    gained = int(np.sum(~base_hits & cand_hits))
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, [lost / n, gained / n, (n - lost - gained) / n], size=n_boot)
    means = (counts[:, 1] - counts[:, 0]) / n
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


def exact_fraction(value: float | str | Fraction) -> Fraction:
    """The decimal the user wrote (``0.01`` is exactly 1/100, not the nearest binary float)."""
    if isinstance(value, Fraction):
        return value
    try:
        return Fraction(repr(value) if isinstance(value, float) else str(value).strip())
    except (ValueError, ZeroDivisionError):
        raise UserError(f"max_drop {value!r}: expected a number such as 0.01") from None


def compare(base: Evaluation, cand: Evaluation, metric: str = "accuracy", max_drop: float | str = 0.0,
            alpha: float | None = None) -> dict[str, Any]:
    """The regression report (see the module doc); ``report["verdict"]`` is ok, tolerated or
    regressed, and ``report["regressed"]`` the gate's answer."""
    if metric not in METRIC_FIELDS:
        raise UserError(f"metric {metric!r}: expected one of {', '.join(METRIC_FIELDS)}")
    allowed = exact_fraction(max_drop)
    if allowed < 0:
        raise UserError(f"max_drop {max_drop}: expected a non-negative number")
    if alpha is not None and not 0 < alpha < 1:
        raise UserError(f"alpha {alpha}: expected a number between 0 and 1")
    _check_comparable(base, cand)
    field = METRIC_FIELDS[metric]
    order = {sample_id: i for i, sample_id in enumerate(cand.ids)}
    base_hits = base.hits[field]
    cand_hits = cand.hits[field][np.fromiter((order[i] for i in base.ids), dtype=np.int64, count=len(base.ids))]
    n = len(base.ids)
    lost = int(np.sum(base_hits & ~cand_hits))
    gained = int(np.sum(~base_hits & cand_hits))
    base_acc, cand_acc = float(base_hits.mean()), float(cand_hits.mean())
    p_value = mcnemar_p(base_hits, cand_hits)
    beyond_tolerance = Fraction(lost - gained, n) > allowed
    significant = alpha is None or p_value < alpha
    verdict = "regressed" if beyond_tolerance and significant else "tolerated" if beyond_tolerance else "ok"
    return {
        "schema_version": schema.REGRESS_REPORT,
        "metric": metric,
        "task": base.metrics.get("task"),
        "n": n,
        "baseline": _side(base, metric, base_acc),
        "candidate": _side(cand, metric, cand_acc),
        "delta": (gained - lost) / n,
        "delta_ci95": list(paired_bootstrap_ci(base_hits, cand_hits)),
        "bootstrap": {"n": BOOTSTRAP_N, "seed": BOOTSTRAP_SEED, "method": "paired, multinomial over lost/unchanged/gained"},
        "lost": lost,
        "gained": gained,
        "net_lost": lost - gained,
        "allowed_net_lost": float(allowed * n),
        "mcnemar_p": p_value,
        "max_drop": float(allowed),
        "alpha": alpha,
        "verdict": verdict,
        "reason": _reason(verdict, lost - gained, n, allowed, p_value, alpha),
        "regressed": verdict == "regressed",
        "classes_dropped": _classes_dropped(base.labels, base_hits, cand_hits),
    }


def _side(evaluation: Evaluation, metric: str, value: float) -> dict[str, Any]:
    side: dict[str, Any] = {"folder": str(evaluation.folder), metric: value}
    side.update({key: evaluation.metrics.get(key) for key in IDENTITY_KEYS if key in evaluation.metrics})
    return side


def _reason(verdict: str, net_lost: int, n: int, allowed: Fraction, p_value: float, alpha: float | None) -> str:
    tolerance = f"--max-drop {float(allowed):g} allows {float(allowed * n):g} of {n}"
    if verdict == "ok":
        return f"net {max(net_lost, 0)} of {n} samples lost; {tolerance}"
    if verdict == "tolerated":
        return (f"net {net_lost} of {n} samples lost, beyond {tolerance}, but tolerated as not significant "
                f"(McNemar p={p_value:.3g} >= alpha {alpha:g})")
    significance = f", McNemar p={p_value:.3g} < alpha {alpha:g}" if alpha is not None else ""
    return f"net {net_lost} of {n} samples lost, beyond {tolerance}{significance}"


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
