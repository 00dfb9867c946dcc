"""Figures: a missing value is a gap, never a zero (a Table 13 precision that is not stored, an
iteration a method did not reach)."""
from __future__ import annotations

import math

import pytest

from selfsynth.reports import plots
from selfsynth.reports.tables import Store


@pytest.fixture
def saved(monkeypatch):
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, out_dir, stem: figures.append((stem, fig)) or [])
    return figures


def test_a_missing_precision_is_no_bar_and_says_so(saved, tmp_path):
    store = Store(selection=[
        {"task": "toy", "seed": 0, "encoders": {"clip": {"precision": 0.8, "random_precision": 0.4},
                                               "e5": {"precision": None, "random_precision": 0.4}}},
    ])
    plots.selection_plot(store, tmp_path)
    [(_stem, fig)] = saved
    ax = fig.axes[0]
    heights = {c.get_label(): [p.get_height() for p in c.patches] for c in ax.containers if hasattr(c, "patches")}
    assert heights["clip"] == [pytest.approx(0.8)]
    assert math.isnan(heights["e5"][0])  # not 0.0
    assert [t.get_text() for t in ax.texts] == ["n/a"]


def test_an_iteration_without_a_value_breaks_the_line(saved, tmp_path):
    rows = []
    for method, values in (("ours", [0.2, None, 0.7]), ("nl", [0.2, 0.4, 0.5])):
        for iteration, value in enumerate(values):
            rows.append({"experiment": "default", "task": "toy", "method": method, "seed": 0, "iteration": iteration,
                         "accuracy": value, "cs": None})
    plots.per_iteration_plot(Store(iterations=rows), "accuracy", "accuracy", tmp_path, "accuracy")
    [(_stem, fig)] = saved
    lines = {line.get_label().split(" ")[0]: line.get_ydata() for line in fig.axes[0].get_lines()}
    assert list(lines["Ours"][[0, 2]]) == [0.2, 0.7] and math.isnan(lines["Ours"][1])
    assert list(lines["NL"]) == [0.2, 0.4, 0.5]


def test_the_band_is_the_hierarchical_bootstrap_interval_of_the_stored_images(saved, tmp_path):
    import numpy as np

    from selfsynth.reports.stats import hierarchical_bootstrap
    from selfsynth.reports.tables import load_store
    from tests.test_claims import SEEDS, hits_for, write_store

    out = write_store(tmp_path / "runs", methods=("ours",))
    plots.per_iteration_plot(load_store([out]), "accuracy", "accuracy", tmp_path, "accuracy")
    [(_stem, fig)] = saved
    band = fig.axes[0].collections[0].get_paths()[0].vertices
    expected = hierarchical_bootstrap([hits_for("ours", 2, s).astype(float) for s in SEEDS])
    at_two = band[np.isclose(band[:, 0], 2.0), 1]
    assert min(at_two) == pytest.approx(expected.low) and max(at_two) == pytest.approx(expected.high)
    assert 0.0 <= band[:, 1].min() and band[:, 1].max() <= 1.0
    assert "95% interval" in fig.axes[0].get_title()
