"""The published keep rules under `label_match: paper` (configs/paper/*.yaml): the released step 1.3
keeps an answer when ``label.lower() in answer.lower()`` (digits kept) and appends the label to a
near miss by the raw lowercase difflib ratio ≥ 0.7; rounds ≥ 2 (and evaluation) use the
digit-deleting containment."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from selfsynth import config as cfg
from selfsynth.synth.config import SynthConfig
from selfsynth.synth.rewrite import LabelChecker, apply_keep_rule
from selfsynth.tasks.labels import paper_keep_match, paper_keep_ratio, paper_match
from tests.fixtures_toy import REPO

AIRCRAFT = ["737-300", "737-700", "737-800", "A330-200", "A330-300"]


@pytest.fixture(scope="module")
def paper_synth() -> SynthConfig:
    data = cfg.read_yaml(REPO / "configs" / "paper" / "fgvc_aircraft.yaml")
    return cfg.from_dict(SynthConfig, data["synth"])


def _checker(rule: str, step: str) -> LabelChecker:
    task = SimpleNamespace(class_names=lambda: AIRCRAFT, aliases=lambda name: ())
    return LabelChecker(task, rule, step=step)


def _prompts():
    return SimpleNamespace(label_sentence="This aircraft is a {label}.")


def test_released_step3_containment_keeps_digits():
    assert paper_keep_match("This is a Boeing 737-800 in flight.", "737-800")
    assert not paper_keep_match("This is a Boeing 737-700 in flight.", "737-800")
    assert not paper_keep_match("A Boeing 737 800.", "737-800")  # nothing normalized: the hyphen counts
    assert paper_keep_match("AN ARCTIC TERN", "Arctic Tern")  # lowercase both sides
    # the evaluation / rounds ≥ 2 rule deletes digits: "737-800" becomes " " and is in every answer with a space
    assert paper_match("This is a Boeing 737-700 in flight.", "737-800")
    # difflib on the raw lowercased strings, as released: 2·6 / (7 + 7)
    assert paper_keep_ratio("737-80", "737-800") == pytest.approx(12 / 13)


def test_paper_config_step3_drops_another_variant_that_rounds_would_keep(paper_synth):
    assert paper_synth.label_match == "paper" and paper_synth.rewrite_ratio == pytest.approx(0.7)
    step3, rounds = _checker("paper", "step3"), _checker("paper", "rounds")
    answer = "This aircraft is a Boeing 737-700, a narrow-body twin jet."
    decision = apply_keep_rule(answer, "737-800", step3, _prompts(), paper_synth.rewrite_ratio)
    assert decision.answer is None and decision.reason == "no_label"
    assert decision.ratio == pytest.approx(paper_keep_ratio(answer, "737-800")) and decision.ratio < 0.7
    assert rounds.contains(answer, "737-800")  # the released rounds ≥ 2 rule: digit-blind
    kept = apply_keep_rule("It is a Boeing 737-800.", "737-800", step3, _prompts(), paper_synth.rewrite_ratio)
    assert kept.answer == "It is a Boeing 737-800." and kept.reason == "label"


def test_paper_step3_near_miss_uses_the_raw_ratio(paper_synth):
    step3 = _checker("paper", "step3")
    got = apply_keep_rule("737-80", "737-800", step3, _prompts(), paper_synth.rewrite_ratio)
    assert got.reason == "near_label_appended" and got.ratio == pytest.approx(12 / 13)
    assert got.answer == "737-80 This aircraft is a 737-800."


def test_ours_is_the_same_reader_in_both_steps():
    for step in ("step3", "rounds"):
        ours = _checker("ours", step)
        assert ours.contains("A Boeing 737-800.", "737-800") and not ours.contains("A Boeing 737-700.", "737-800")
    with pytest.raises(ValueError, match="step3 or rounds"):
        _checker("ours", "round")
