"""selfsynth.metrics.accuracy: exact numbers on hand-made records."""
from __future__ import annotations

import pytest

from selfsynth.metrics.accuracy import accuracy, bootstrap_ci, per_class_accuracy, summarize


def test_accuracy_and_per_class():
    labels = ["a", "a", "b", "b", "b", "c"]
    hits = [True, False, True, True, False, False]
    assert accuracy(hits) == pytest.approx(0.5)
    assert per_class_accuracy(labels, hits) == {
        "a": {"accuracy": 0.5, "n": 2},
        "b": {"accuracy": pytest.approx(2 / 3), "n": 3},
        "c": {"accuracy": 0.0, "n": 1},
    }
    assert accuracy([]) == 0.0


def test_bootstrap_is_seeded_and_brackets_the_mean():
    hits = [True] * 30 + [False] * 70
    low, high = bootstrap_ci(hits, n_boot=2000, seed=0)
    assert bootstrap_ci(hits, n_boot=2000, seed=0) == (low, high)
    assert low < 0.3 < high
    # the normal approximation gives 0.3 ± 1.96·sqrt(0.21/100) = [0.21, 0.39]
    assert low == pytest.approx(0.21, abs=0.02) and high == pytest.approx(0.39, abs=0.02)
    assert bootstrap_ci([True] * 5) == (1.0, 1.0)
    assert bootstrap_ci([]) == (0.0, 0.0)


def test_summarize_keys():
    records = [
        {"label": "x", "match": True, "paper_match": True},
        {"label": "x", "match": False, "paper_match": True},
        {"label": "y", "match": False, "paper_match": False},
        {"label": "y", "match": True, "paper_match": True},
    ]
    out = summarize(records)
    assert out["n"] == 4
    assert out["accuracy"] == 0.5 and out["accuracy_paper"] == 0.75
    assert out["accuracy_macro"] == 0.5
    assert out["per_class_paper"]["x"] == {"accuracy": 1.0, "n": 2}
    assert out["accuracy_ci95"][0] <= 0.5 <= out["accuracy_ci95"][1]
    assert out["schema_version"] == 1
