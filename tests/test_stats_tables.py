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
