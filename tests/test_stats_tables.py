"""Tables built from the same statistics as `claims`: the judge's parse-failure rate in the footer."""
from __future__ import annotations

from selfsynth.reports.tables import build_table, render
from tests.test_claims import write_store


def test_footer_states_the_unparseable_judge_replies(tmp_path):
    out = write_store(tmp_path / "runs", unparsed=3)
    text = render(build_table("1", [out]))
    # Table 1 holds 3 methods (w/o Filtering is Table 12) × 3 seeds, judged at their final iteration: 3 of 40 unparsed each
    assert "unparseable judge replies (left out of EE/CS): 27 of 360 (7.5%)" in text
    clean = render(build_table("1", [write_store(tmp_path / "clean")]))
    assert "unparseable judge replies (left out of EE/CS): 0 of 360 (0.0%)" in clean


def test_ci_is_the_hierarchical_bootstrap_of_seeds_then_images(tmp_path):
    import json

    import numpy as np
    import pytest

    from selfsynth.reports.stats import hierarchical_bootstrap
    from tests.test_claims import SEEDS, hits_for

    out = write_store(tmp_path / "runs")
    rows = {r["method"]: r for r in json.loads(render(build_table("1", [out], ci=True), "json"))["rows"]}
    ours = rows["Ours"]["iter 2"]
    expected = hierarchical_bootstrap([hits_for("ours", 2, s).astype(float) for s in SEEDS])
    assert ours["ci95"] == pytest.approx([expected.low, expected.high])
    assert ours["mean"] == pytest.approx(expected.estimate)
    # inside [0, 1], where a t-interval over 3 seeds need not be
    for row in rows.values():
        for column, value in row.items():
            if isinstance(value, dict) and value.get("ci95") and column.startswith("iter"):
                assert 0.0 <= value["ci95"][0] <= value["mean"] <= value["ci95"][1] <= 1.0
    # the cognition score of the final iteration: per-image judge scores, the same resampling
    # (CS is 0.40, 0.41, 0.42 on every image of seeds 0, 1, 2: only the seeds vary)
    cs = rows["L+GE"]["CS"]
    assert cs["ci95"] == pytest.approx([0.40, 0.42]) and cs["mean"] == pytest.approx(np.mean([0.40, 0.41, 0.42]))
    assert "hierarchical bootstrap over seeds, then test images" in render(build_table("1", [out], ci=True), "md")
